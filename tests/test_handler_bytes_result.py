"""A handler that returns a Uint8Array: ``call_handler`` gives ``bytes``;
``handle_event`` (JSON text) gives what ``JSON.stringify`` writes for it,
which is what upstream's ``handle_event`` returns.

upstream: src/hyperlight-js/tests/handlers.rs (results are the handler's
value through JSON.stringify); binary results are our extension (docs/api.md).
"""

from __future__ import annotations

import asyncio

import pytest

from conftest import LoadFn
from hyperlight_js import ResultNotSerializableError

SOURCES = {
    "bytes": "function handler(e) { return new Uint8Array(e.n).map((_, i) => i % 256) }",
    "view": "function handler() { return new Uint8Array([9, 1, 2, 9]).subarray(1, 3) }",
    "promise": "async function handler() { return new Uint8Array([5]) }",
    "nested": "function handler() { return {data: new Uint8Array([1, 2])} }",
    "detached": "function handler() { const a = new Uint8Array(2); a.buffer.transfer(); return a }",
}


def test_call_handler_gives_bytes(load: LoadFn) -> None:
    loaded = load(**SOURCES)
    assert loaded.call_handler("bytes", {"n": 256}) == bytes(range(256))
    assert loaded.call_handler("bytes", {"n": 0}) == b""
    assert loaded.call_handler("bytes", {"n": 1 << 20}) == bytes(i % 256 for i in range(1 << 20))
    assert loaded.call_handler("view") == b"\x01\x02"
    assert loaded.call_handler("promise") == b"\x05"
    assert loaded.call_handler("bytes", {"n": 3}, wall_clock_timeout=5) == b"\x00\x01\x02"
    assert asyncio.run(loaded.call_handler_async("bytes", {"n": 2})) == b"\x00\x01"


def test_handle_event_gives_the_json_text_of_the_array(load: LoadFn) -> None:
    loaded = load(**SOURCES)
    assert loaded.handle_event("bytes", '{"n": 3}') == '{"0":0,"1":1,"2":2}'
    assert loaded.handle_event("bytes", '{"n": 0}') == "{}"
    assert loaded.handle_event("view", "{}") == '{"0":1,"1":2}'


def test_nested_arrays_stay_json(load: LoadFn) -> None:
    loaded = load(**SOURCES)
    assert loaded.call_handler("nested") == {"data": {"0": 1, "1": 2}}


def test_a_detached_array_is_not_serializable(backend: str, load: LoadFn) -> None:
    if backend == "hyperlight":
        pytest.skip("the micro-VM glue reads a detached array as empty")
    loaded = load(**SOURCES)
    with pytest.raises(ResultNotSerializableError):
        loaded.call_handler("detached")
    assert not loaded.poisoned
    assert loaded.call_handler("view") == b"\x01\x02"
