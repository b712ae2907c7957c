"""What monitoring adds to a call: a no-op handler with no monitor, with the
two native monitors, and with one Python monitor."""

from __future__ import annotations

import timeit
from collections.abc import Awaitable, Callable

from pytest_benchmark.fixture import BenchmarkFixture

from hyperlight_js import CpuTimeMonitor, ExecutionMonitor, LoadedJSSandbox, WallClockMonitor, monitor

NOOP = "function handler(e) { return e }"
EVENT_JSON = '{"a":1}'
GROUP = "monitor-overhead"

# timeit-style ratio measurement: best of ROUNDS, CALLS calls each.
CALLS, ROUNDS = 2000, 5
SMOKE_CALLS, SMOKE_ROUNDS = 20, 1


class SleepingMonitor(ExecutionMonitor):
    """A Python monitor that never fires during a benchmark call."""

    name = "py-monitor"

    def get_monitor(self) -> Awaitable[None]:
        return monitor.sleep(60)


def native_pair() -> tuple[WallClockMonitor, CpuTimeMonitor]:
    return WallClockMonitor(5), CpuTimeMonitor(5)


def test_unmonitored(benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox]) -> None:
    sandbox = loaded(h=NOOP)
    benchmark.group = GROUP
    assert benchmark(sandbox.handle_event, "h", EVENT_JSON) == EVENT_JSON


def test_native_pair(benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox]) -> None:
    sandbox = loaded(h=NOOP)
    benchmark.group = GROUP
    assert benchmark(sandbox.handle_event_with_monitor, "h", EVENT_JSON, native_pair()) == EVENT_JSON


def test_python_monitor(benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox]) -> None:
    sandbox = loaded(h=NOOP)
    benchmark.group = GROUP
    assert benchmark(sandbox.handle_event_with_monitor, "h", EVENT_JSON, SleepingMonitor()) == EVENT_JSON


def test_overhead_ratios(
    benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox], report: Callable[..., None]
) -> None:
    """Monitored / unmonitored time per call, measured back to back in one
    test so that both sides see the same machine state."""
    sandbox = loaded(h=NOOP)
    pair, python_monitor = native_pair(), SleepingMonitor()
    calls, rounds = (SMOKE_CALLS, SMOKE_ROUNDS) if benchmark.disabled else (CALLS, ROUNDS)

    def best(call: Callable[[], object]) -> float:
        return min(timeit.repeat(call, number=calls, repeat=rounds))

    def measure() -> tuple[float, float, float]:
        plain = best(lambda: sandbox.handle_event("h", EVENT_JSON))
        native = best(lambda: sandbox.handle_event_with_monitor("h", EVENT_JSON, pair))
        python = best(lambda: sandbox.handle_event_with_monitor("h", EVENT_JSON, python_monitor))
        return plain, native, python

    benchmark.group = f"{GROUP}-ratio"
    plain, native, python = benchmark.pedantic(measure, rounds=1, iterations=1)
    report(ratio_native_pair=native / plain, ratio_python_monitor=python / plain, plain_us=plain/calls*1e6, native_us=native/calls*1e6, python_us=python/calls*1e6)
