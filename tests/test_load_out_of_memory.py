"""A handler's load that reaches the heap limit fails as out of memory, on
every backend, even when its top-level code caught QuickJS's error — as a
call that does so does (tests/test_lifecycle.py). Until the renovation the
in-process backend loaded such a handler; the wasm backend refused it."""

from __future__ import annotations

import pytest

from hyperlight_js import GuestOutOfMemoryError, SandboxBuilder

HEAP = 4 * 1024 * 1024

CATCHES_ITS_OOM = """
let kept = [];
try {
    while (true) kept.push(new Array(65536).fill(kept.length));
} catch (e) {
    kept = null;
}
function handler() { return "loaded" }
"""


def test_a_load_that_hit_the_heap_limit_fails_even_if_it_caught_it(builder: SandboxBuilder) -> None:
    sandbox = builder.with_guest_heap_size(HEAP).build()
    js = sandbox.load_runtime()
    js.add_handler("h", CATCHES_ITS_OOM)
    with pytest.raises(GuestOutOfMemoryError):
        js.get_loaded_sandbox()
    # The failed load left the sandbox as it was: fix the handler and load.
    js.remove_handler("h")
    js.add_handler("h", "function handler() { return 'loaded' }")
    assert js.get_loaded_sandbox().call_handler("h") == "loaded"
