"""What monitoring adds to a call: a no-op handler with no monitor, with the
two native monitors, and with one Python monitor."""

from __future__ import annotations

import math
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
    """Monitored / unmonitored time per call, measured in one test with the
    variants interleaved round by round, so that all see the same machine
    state; each keeps its best round."""
    sandbox = loaded(h=NOOP)
    pair, python_monitor = native_pair(), SleepingMonitor()
    variants: dict[str, Callable[[], object]] = {
        "plain": lambda: sandbox.handle_event("h", EVENT_JSON),
        "native_pair": lambda: sandbox.handle_event_with_monitor("h", EVENT_JSON, pair),
        "python_monitor": lambda: sandbox.handle_event_with_monitor("h", EVENT_JSON, python_monitor),
    }
    calls, rounds = (SMOKE_CALLS, SMOKE_ROUNDS) if benchmark.disabled else (CALLS, ROUNDS)

    def measure() -> dict[str, float]:
        best = dict.fromkeys(variants, math.inf)
        for _ in range(rounds):
            for key, call in variants.items():
                best[key] = min(best[key], timeit.timeit(call, number=calls) / calls)
        return best

    benchmark.group = f"{GROUP}-ratio"
    per_call: dict[str, float] = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    report(
        ratio_native_pair=per_call["native_pair"] / per_call["plain"],
        ratio_python_monitor=per_call["python_monitor"] / per_call["plain"],
        **{f"{key}_us": seconds * 1e6 for key, seconds in per_call.items()},
    )
