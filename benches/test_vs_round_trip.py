"""Round trip of a no-op handler with a small event, us against peers, with
no limit and under limits (5 s: they never fire).

Ours: ``handle_event`` (JSON text in and out; also with ``gc=False``, as
quickjs's ``Context`` runs no GC after a call) and ``call_handler`` (a dict);
peers: the call of a JavaScript function taking and returning the object.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import peers
from hyperlight_js import CpuTimeMonitor, ExecutionMonitor, LoadedJSSandbox, WallClockMonitor, monitor

NOOP = "function handler(e) { return e }"
EVENT = {"a": 1}
EVENT_JSON = '{"a":1}'
LIMIT_S = 5.0
PEERS = ["mini-racer", "quickjs", "quickjs-context"]


class SleepingMonitor(ExecutionMonitor):
    """A Python monitor that never fires during a call."""

    name = "py-monitor"

    def get_monitor(self) -> Awaitable[None]:
        return monitor.sleep(60)


def ours(loaded: Callable[..., LoadedJSSandbox], variant: str) -> Callable[[], Any]:
    """Our call for ``variant``; it returns JSON text or a dict, as the API does."""
    sandbox = loaded(h=NOOP)
    pair = (WallClockMonitor(LIMIT_S), CpuTimeMonitor(LIMIT_S))
    python_monitor = SleepingMonitor()
    calls: dict[str, Callable[[], Any]] = {
        "ours-handle_event": lambda: sandbox.handle_event("h", EVENT_JSON),
        "ours-handle_event-no-gc": lambda: sandbox.handle_event("h", EVENT_JSON, gc=False),
        "ours-call_handler": lambda: sandbox.call_handler("h", EVENT),
        "ours-native-pair": lambda: sandbox.handle_event_with_monitor("h", EVENT_JSON, pair),
        "ours-call_handler-native-pair": lambda: sandbox.call_handler("h", EVENT, monitor=pair),
        "ours-python-monitor": lambda: sandbox.handle_event_with_monitor("h", EVENT_JSON, python_monitor),
    }
    return calls[variant]


def as_object(result: Any) -> Any:
    return json.loads(result) if isinstance(result, str) else result


@pytest.mark.parametrize(
    "engine", ["ours-handle_event", "ours-handle_event-no-gc", "ours-call_handler", *PEERS, "hyperlight-sandbox"]
)
def test_round_trip_vs(
    engine: str,
    benchmark: BenchmarkFixture,
    loaded: Callable[..., LoadedJSSandbox],
    engine_factory: Callable[[str, str], peers.Engine],
) -> None:
    if engine.startswith("ours-"):
        call = ours(loaded, engine)
    else:
        context = engine_factory(engine, NOOP)
        call = lambda: context.call(EVENT)  # noqa: E731
    benchmark.group = "vs-round-trip"
    assert as_object(benchmark(call)) == EVENT


@pytest.mark.parametrize(
    "engine", ["ours-native-pair", "ours-call_handler-native-pair", "ours-python-monitor", *PEERS]
)
def test_round_trip_limited_vs(
    engine: str,
    benchmark: BenchmarkFixture,
    loaded: Callable[..., LoadedJSSandbox],
    engine_factory: Callable[[str, str], peers.Engine],
) -> None:
    if engine.startswith("ours-"):
        call = ours(loaded, engine)
    else:
        context = engine_factory(engine, NOOP)
        call = lambda: context.call_limited(EVENT, LIMIT_S)  # noqa: E731
    benchmark.group = "vs-round-trip-limited"
    assert as_object(benchmark(call)) == EVENT
