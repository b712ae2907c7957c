"""How far past a 50 ms limit a spinning handler runs before it is ended.

Wall-clock overshoot is real time from the call to the exception, minus the
limit; CPU-time overshoot is CPU used by the calling thread, minus the
budget. Each kill poisons the sandbox, so every sample restores the snapshot
taken right after loading. ``wall-clock-logged`` is the wall-clock case with
a logging handler that takes the kill's warning (written to memory), as in an
application that configured logging; the others run with no handler but the
library's own ``NullHandler``, so the record is never made.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hyperlight_js import CpuTimeMonitor, ExecutionCancelled, LoadedJSSandbox, WallClockMonitor

SPIN = "function handler(e) { while (true) {} }"
LIMIT_S = 0.050

CLOCKS: dict[str, Callable[[], float]] = {"wall-clock": time.perf_counter, "cpu-time": time.thread_time}
MONITORS: dict[str, Callable[[float], WallClockMonitor | CpuTimeMonitor]] = {
    "wall-clock": WallClockMonitor,
    "cpu-time": CpuTimeMonitor,
}


@pytest.mark.parametrize("case", ["cpu-time", "wall-clock", "wall-clock-logged"])
def test_overshoot(
    case: str,
    benchmark: BenchmarkFixture,
    loaded: Callable[..., LoadedJSSandbox],
    samples: int,
    record_percentiles: Callable[[Sequence[float]], object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kind = case.removesuffix("-logged")
    if case.endswith("-logged"):
        handler = logging.StreamHandler(io.StringIO())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        monkeypatch.setattr(logging.getLogger("hyperlight_js"), "handlers", [handler])
    sandbox = loaded(spin=SPIN)
    snapshot = sandbox.snapshot()
    limit, clock = MONITORS[kind](LIMIT_S), CLOCKS[kind]

    def collect() -> list[float]:
        overshoots: list[float] = []
        for _ in range(samples):
            start = clock()
            try:
                sandbox.handle_event_with_monitor("spin", "{}", limit)
            except ExecutionCancelled as cancelled:
                overshoots.append(clock() - start - LIMIT_S)
                assert cancelled.monitor == kind
            else:
                pytest.fail("the spinning handler returned")
            sandbox.restore(snapshot)
        return overshoots

    benchmark.group = "overshoot"
    overshoots: list[float] = benchmark.pedantic(collect, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    record_percentiles(overshoots)
