"""When a call ends with QuickJS's cycle collector (docs/api.md, "Garbage
collection"): always with ``gc=True``, never with ``gc=False``, and by
default only when the heap grew past its budget (a sixteenth of the limit,
between 64 KiB and 1 MiB) since the last collection, in bounded memory."""

from __future__ import annotations

import psutil
import pytest

from hyperlight_js import SandboxBuilder

MiB = 1024 * 1024

# `make` leaves one unreachable cycle of about `size` array slots behind and
# keeps only a WeakRef to it; `collected` says whether a collection has
# freed it since. (A WeakRef's target stays alive until the end of the call
# that made it, so the check is a call of its own.)
WATCHED_CYCLE = """
let watched;
function handler(e) {
    if (e.make) {
        const cycle = { slots: new Array(e.size).fill(0) };
        cycle.self = cycle;
        watched = new WeakRef(cycle);
        return false;
    }
    return watched.deref() === undefined;
}
"""

# One small cycle left behind by every call.
CYCLES = "function handler(e) { const a = { pad: [e.n, e.n, e.n, e.n] }; a.self = a; return e.n }"


def _collected_after(builder: SandboxBuilder, size: int, gc: bool | None) -> bool:
    sandbox = builder.with_guest_heap_size(8 * MiB).build().load_runtime()
    sandbox.add_handler("h", WATCHED_CYCLE)
    loaded = sandbox.get_loaded_sandbox()
    loaded.handle_event("h", f'{{"make": true, "size": {size}}}', gc=gc)
    # This call's own collection (if any) runs after its answer is taken.
    collected: bool = loaded.call_handler("h", {}, gc=False)
    return collected


@pytest.mark.backends("wasm", "in-process")  # the micro-VM's runtime collects after every call (docs/api.md)
@pytest.mark.parametrize("gc", [None, False], ids=["default", "gc=False"])
def test_no_collection_after_a_call_that_left_little(builder: SandboxBuilder, gc: bool | None) -> None:
    assert not _collected_after(builder, 16, gc)


def test_the_default_collects_after_a_call_that_grew_the_heap_past_its_budget(builder: SandboxBuilder) -> None:
    # 200,000 slots are at least 800 KB on every engine: past an 8 MiB heap's 512 KiB budget.
    assert _collected_after(builder, 200_000, None)


def test_gc_true_always_collects(builder: SandboxBuilder) -> None:
    assert _collected_after(builder, 16, True)


def test_cycles_on_every_call_run_100_000_calls_in_an_8_mib_heap(builder: SandboxBuilder) -> None:
    """Issue 14, goal 2: the default never lets cycles crowd out the heap,
    and the process's memory stays flat."""
    sandbox = builder.with_guest_heap_size(8 * MiB).build().load_runtime()
    sandbox.add_handler("h", CYCLES)
    loaded = sandbox.get_loaded_sandbox()
    for n in range(10_000):
        loaded.handle_event("h", f'{{"n": {n}}}')
    baseline = psutil.Process().memory_info().rss
    for n in range(10_000, 100_000):
        assert loaded.handle_event("h", f'{{"n": {n}}}') == str(n)
    growth = (psutil.Process().memory_info().rss - baseline) / MiB
    # The guest's whole heap is 8 MiB: anything near that would be a leak.
    assert growth < 8, f"RSS grew by {growth:.1f} MiB over 90,000 calls"
    assert not loaded.poisoned
