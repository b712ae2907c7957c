"""Cost of one call to a no-op handler: the floor every call pays."""

from __future__ import annotations

import time
from collections.abc import Callable

from pytest_benchmark.fixture import BenchmarkFixture

from hyperlight_js import LoadedJSSandbox

NOOP = "function handler(e) { return e }"
EVENT_JSON = '{"a":1}'


def test_handle_event(benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox]) -> None:
    sandbox = loaded(h=NOOP)
    benchmark.group = "round-trip"
    assert benchmark(sandbox.handle_event, "h", EVENT_JSON) == EVENT_JSON


def test_handle_event_no_gc(benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox]) -> None:
    sandbox = loaded(h=NOOP)
    benchmark.group = "round-trip"
    assert benchmark(sandbox.handle_event, "h", EVENT_JSON, gc=False) == EVENT_JSON


def test_call_handler_dict(benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox]) -> None:
    sandbox = loaded(h=NOOP)
    benchmark.group = "round-trip"
    assert benchmark(sandbox.call_handler, "h", {"a": 1}) == {"a": 1}


# A handler that leaves one small cycle behind on every call: the garbage
# the default policy must still collect, in bounded memory.
CYCLES = "function handler(e) { const a = { n: e.a }; a.self = a; return e }"


def _per_call(sandbox: LoadedJSSandbox, gc: bool | None, calls: int, batches: int) -> float:
    """The fastest of ``batches`` batches of ``calls`` no-op calls, per call."""
    best = float("inf")
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(calls):
            sandbox.handle_event("h", EVENT_JSON, gc)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def test_default_gc_ratio(
    benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox], report: Callable[..., None], smoke: bool
) -> None:
    """Issue 14, goal 2: the default call (``gc=None``: collect only when the
    heap grew past its budget) against ``gc=False`` (goal ≤ 1.2×) and
    ``gc=True`` (a full collection every call), interleaved in one run, on a
    no-op handler and on one that leaves a cycle behind every call."""
    calls, batches = (20, 1) if smoke else (2000, 7)

    def measure() -> dict[str, float]:
        out = {}
        for label, source in (("noop", NOOP), ("cycles", CYCLES)):
            sandbox = loaded(h=source)
            _per_call(sandbox, None, calls, 1)  # warm
            out[f"{label}_default_us"] = _per_call(sandbox, None, calls, batches) * 1e6
            out[f"{label}_no_gc_us"] = _per_call(sandbox, False, calls, batches) * 1e6
            out[f"{label}_always_us"] = _per_call(sandbox, True, calls, batches) * 1e6
        return out

    benchmark.group = "gc-policy"
    result: dict[str, float] = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    report(
        **result,
        ratio_noop_default_vs_no_gc=result["noop_default_us"] / result["noop_no_gc_us"],
        ratio_noop_always_vs_no_gc=result["noop_always_us"] / result["noop_no_gc_us"],
        ratio_cycles_default_vs_no_gc=result["cycles_default_us"] / result["cycles_no_gc_us"],
    )
