"""Binary data across the host-function boundary: a ``Uint8Array``
argument arrives as ``bytes``; ``bytes`` returned is a ``Uint8Array``.

upstream: src/js-host-api/tests/host-functions.test.js ("Binary data
support"), src/hyperlight-js/tests/host_functions.rs (binary arguments and
returns; hyperlight-js PR #40). Here only whole arguments and whole results
are binary (docs/api.md, "Host functions").
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import new_builder
from hyperlight_js import GuestOutOfMemoryError, LoadedJSSandbox, SandboxBuilder


def _loaded(builder: SandboxBuilder, handler: str, **functions: Any) -> LoadedJSSandbox:
    proto = builder.build()
    for name, fn in functions.items():
        proto.register("host", name, fn)
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", "import * as host from 'host';\n" + handler)
    return sandbox.get_loaded_sandbox()


def test_uint8array_arguments_arrive_as_bytes(builder: SandboxBuilder) -> None:
    # upstream: host-functions.test.js "should pass Buffer args from guest
    # Uint8Array to host", "should handle mixed Buffer and JSON args",
    # "should handle empty Uint8Array".
    seen: list[tuple[Any, ...]] = []

    def record(*args: Any) -> int:
        seen.append(args)
        return len(args)

    loaded = _loaded(
        builder,
        "function handler() { return host.record('pfx', new Uint8Array([72, 101, 108, 108, 111]), 42, new Uint8Array(0)) }",
        record=record,
    )
    assert loaded.call_handler("h") == 4
    assert seen == [("pfx", b"Hello", 42, b"")]
    assert type(seen[0][1]) is bytes


def test_every_byte_value_round_trips(builder: SandboxBuilder) -> None:
    # upstream: host-functions.test.js "should round-trip binary data (send and receive)".
    received: list[bytes] = []

    def echo(data: bytes) -> bytes:
        received.append(data)
        return data

    loaded = _loaded(
        builder,
        "function handler() { const input = new Uint8Array(256).map((_, i) => i); const out = host.echo(input);"
        " return [out instanceof Uint8Array, Array.from(out).every((b, i) => b === i), out.length] }",
        echo=echo,
    )
    assert loaded.call_handler("h") == [True, True, 256]
    assert received == [bytes(range(256))]


def test_a_view_passes_its_own_bytes(builder: SandboxBuilder) -> None:
    received: list[bytes] = []
    loaded = _loaded(
        builder,
        "function handler() { return host.take(new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4)) }",
        take=lambda data: received.append(data),
    )
    loaded.call_handler("h")
    assert received == [b"\x01\x02\x03"]


def test_one_mib_each_way(builder: SandboxBuilder) -> None:
    blob = bytes(i % 251 for i in range(1 << 20))
    received: list[bytes] = []

    def reverse(data: bytes) -> bytes:
        received.append(data)
        return data[::-1]

    loaded = _loaded(
        builder,
        "function handler() { const a = new Uint8Array(1 << 20).map((_, i) => i % 251); const r = host.reverse(a);"
        " return [r.length, r[0], r[r.length - 1]] }",
        reverse=reverse,
    )
    assert loaded.call_handler("h") == [1 << 20, blob[-1], 0]
    assert received == [blob]


@pytest.mark.parametrize("result", [b"\x01\x02\x03", bytearray(b"\x01\x02\x03"), memoryview(b"\x00\x01\x02\x03")[1:]])
def test_binary_results_become_uint8arrays(builder: SandboxBuilder, result: Any) -> None:
    # upstream: host-functions.test.js "should return Buffer from host as Uint8Array on guest".
    loaded = _loaded(
        builder,
        "function handler() { const d = host.get(); return [d instanceof Uint8Array, Array.from(d)] }",
        get=lambda: result,
    )
    assert loaded.call_handler("h") == [True, [1, 2, 3]]


def test_an_empty_result_is_an_empty_uint8array(builder: SandboxBuilder) -> None:
    # upstream: host-functions.test.js "should handle host returning empty Buffer".
    loaded = _loaded(
        builder,
        "function handler() { const d = host.empty(); return [d instanceof Uint8Array, d.length] }",
        empty=lambda: b"",
    )
    assert loaded.call_handler("h") == [True, 0]


def test_nested_uint8arrays_stay_json(builder: SandboxBuilder) -> None:
    """Only whole arguments are binary: nested, a Uint8Array is what
    JSON.stringify writes (upstream converts nested ones too)."""
    seen: list[tuple[Any, ...]] = []
    loaded = _loaded(
        builder,
        "function handler() { return host.f({data: new Uint8Array([7, 8])}, [new Uint8Array([9])]) }",
        f=lambda *args: seen.append(args),
    )
    loaded.call_handler("h")
    assert seen == [({"data": {"0": 7, "1": 8}}, [{"0": 9}])]


def test_plain_objects_are_never_taken_for_binary(backend: str, builder: SandboxBuilder) -> None:
    if backend == "hyperlight":
        pytest.skip("upstream's runtime marks binary arguments with {__bin__: n} objects (docs/api.md)")
    seen: list[tuple[Any, ...]] = []
    loaded = _loaded(
        builder,
        "function handler() { return host.f({__bin__: 0}, new Uint8Array([1]), null) }",
        f=lambda *args: seen.append(args),
    )
    loaded.call_handler("h")
    assert seen == [({"__bin__": 0}, b"\x01", None)]


def test_bytes_nested_in_a_result_are_a_host_error(backend: str, builder: SandboxBuilder) -> None:
    loaded = _loaded(
        builder,
        "function handler() { try { host.f(); return 'no error' } catch (e) { return [e.name, e.message] } }",
        f=lambda: {"data": b"\x01"},
    )
    name, message = loaded.call_handler("h")
    assert name == ("InternalError" if backend == "hyperlight" else "HostError")
    assert "bytes" in message and "JSON serializable" in message


def test_other_typed_arrays_are_json(builder: SandboxBuilder) -> None:
    seen: list[tuple[Any, ...]] = []
    loaded = _loaded(
        builder,
        "function handler() { return host.f(new Uint16Array([1]), new Uint8ClampedArray([2]), new Uint8Array([3]).buffer) }",
        f=lambda *args: seen.append(args),
    )
    loaded.call_handler("h")
    assert seen == [({"0": 1}, {"0": 2}, {})]


def test_a_detached_uint8array_is_a_type_error(backend: str, builder: SandboxBuilder) -> None:
    if backend == "hyperlight":
        pytest.skip("upstream's runtime decides how a detached array crosses")
    loaded = _loaded(
        builder,
        "function handler() { const a = new Uint8Array(4); a.buffer.transfer();"
        " try { host.f(a); return 'called' } catch (e) { return e.name } }",
        f=lambda data: None,
    )
    assert loaded.call_handler("h") == "TypeError"


def test_too_large_a_binary_result_is_out_of_memory_not_a_crash(backend: str) -> None:
    """As a too-large JSON result (docs/isolation.md): the heap limit counts
    the bytes, the call fails typed, and the sandbox is poisoned."""
    loaded = _loaded(
        new_builder(backend).with_host_print_fn(None).with_guest_heap_size(4 << 20),
        "function handler() { return host.big().length }",
        big=lambda: bytes(16 << 20),
    )
    with pytest.raises(GuestOutOfMemoryError):
        loaded.call_handler("h")
    assert loaded.poisoned


def test_too_large_a_binary_argument_cannot_be_made(builder: SandboxBuilder) -> None:
    """The guest cannot build a Uint8Array larger than its heap, so none
    can reach the host: the allocation fails first, typed."""
    loaded = _loaded(
        builder.with_guest_heap_size(4 << 20),
        "function handler() { return host.f(new Uint8Array(16 << 20)) }",
        f=lambda data: len(data),
    )
    with pytest.raises(GuestOutOfMemoryError):
        loaded.call_handler("h")
