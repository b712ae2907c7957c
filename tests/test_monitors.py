"""The built-in monitors and their composition (the reference design's
statements, one test each)."""

from __future__ import annotations

import datetime
import math
import threading
import time
from typing import Any

import pytest

from conftest import SPIN, LoadFn
from hyperlight_js import (
    CpuTimeMonitor,
    ExecutionCancelled,
    LoadedJSSandbox,
    MonitorStartError,
    SandboxBuilder,
    SandboxPoisonedError,
    WallClockMonitor,
)

SLEEPER = "import { sleep } from 'host'; function handler(e) { sleep(e.seconds); return 'slept' }"


def _with_sleep_host(builder: SandboxBuilder, effects: list[str] | None = None) -> LoadedJSSandbox:
    proto = builder.build()
    proto.register("host", "sleep", lambda seconds: time.sleep(seconds))
    proto.register("host", "effect", lambda: (effects if effects is not None else []).append("ran"))
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", SLEEPER)
    sandbox.add_handler("effect", "import { effect } from 'host'; function handler() { effect(); return 1 }")
    sandbox.add_handler("spin", SPIN)
    return sandbox.get_loaded_sandbox()


@pytest.mark.parametrize("value", [0, -1, 0.0, math.nan, math.inf, -math.inf, datetime.timedelta(0)])
def test_limits_must_be_finite_and_positive(value: Any) -> None:
    with pytest.raises(ValueError):
        WallClockMonitor(value)
    with pytest.raises(ValueError):
        CpuTimeMonitor(value)


def test_limits_accept_seconds_and_timedelta() -> None:
    assert WallClockMonitor(datetime.timedelta(milliseconds=250)).timeout == pytest.approx(0.25)
    assert CpuTimeMonitor(2).budget == 2.0
    assert WallClockMonitor(1).name == "wall-clock"
    assert CpuTimeMonitor(1).name == "cpu-time"
    with pytest.raises(TypeError):
        WallClockMonitor("1s")  # type: ignore[arg-type]


def test_wall_clock_ends_a_tight_loop(load: LoadFn) -> None:
    loaded = load(spin=SPIN)
    started = time.monotonic()
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event_with_monitor("spin", "{}", WallClockMonitor(0.1))
    assert info.value.monitor == "wall-clock"
    assert 0.1 <= time.monotonic() - started < 2
    assert loaded.poisoned


def test_cpu_time_ends_a_tight_loop(load: LoadFn) -> None:
    loaded = load(spin=SPIN)
    cpu_before = time.thread_time()
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event_with_monitor("spin", "{}", CpuTimeMonitor(0.1))
    assert info.value.monitor == "cpu-time"
    assert 0.1 <= time.thread_time() - cpu_before < 2


def test_cpu_time_does_not_fire_while_a_host_function_sleeps_but_wall_clock_does(builder: SandboxBuilder) -> None:
    loaded = _with_sleep_host(builder)
    snapshot = loaded.snapshot()
    assert loaded.handle_event_with_monitor("h", '{"seconds": 0.4}', CpuTimeMonitor(0.05)) == '"slept"'
    assert not loaded.poisoned
    loaded.restore(snapshot)
    started = time.monotonic()
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event_with_monitor("h", '{"seconds": 1.5}', (WallClockMonitor(0.1), CpuTimeMonitor(0.05)))
    # The kill lands when the blocking host call returns to the guest.
    assert info.value.monitor == "wall-clock"
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("monitors", "winner"),
    [
        ((WallClockMonitor(5), CpuTimeMonitor(0.05)), "cpu-time"),
        ((CpuTimeMonitor(5), WallClockMonitor(0.05)), "wall-clock"),
        ((WallClockMonitor(5), (CpuTimeMonitor(4), WallClockMonitor(0.05))), "wall-clock"),
        ((WallClockMonitor(6), CpuTimeMonitor(5), WallClockMonitor(4), CpuTimeMonitor(3), WallClockMonitor(2), CpuTimeMonitor(0.05)), "cpu-time"),
    ],
)
def test_the_first_monitor_to_complete_is_named(load: LoadFn, monitors: Any, winner: str) -> None:
    loaded = load(spin=SPIN)
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event_with_monitor("spin", "{}", monitors)
    assert info.value.monitor == winner


def test_a_handler_that_finishes_is_not_affected(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { return e.x + 1 }")
    for _ in range(50):
        assert loaded.handle_event_with_monitor("h", '{"x": 1}', (WallClockMonitor(5), CpuTimeMonitor(5))) == "2"
    assert not loaded.poisoned
    time.sleep(0.05)
    assert loaded.call_handler("h", {"x": 2}, wall_clock_timeout=5) == 3


def test_a_late_monitor_cannot_kill_the_next_call(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { const end = Date.now() + e.ms; while (Date.now() < end) {} return 'done' }")
    snapshot = loaded.snapshot()
    # Each monitored call ends right around its limit (either way is fine);
    # the unmonitored call after it must never be hit by that monitor.
    for _ in range(20):
        try:
            loaded.call_handler("h", {"ms": 2}, wall_clock_timeout=0.004)
        except ExecutionCancelled:
            loaded.restore(snapshot)
        assert loaded.call_handler("h", {"ms": 10}) == "done"


def test_empty_or_invalid_monitor_sets_are_rejected(load: LoadFn) -> None:
    loaded = load(h="function handler() { return 1 }")
    with pytest.raises(ValueError):
        loaded.handle_event_with_monitor("h", "{}", ())
    with pytest.raises(ValueError):
        loaded.handle_event_with_monitor("h", "{}", ((), ()))
    with pytest.raises(TypeError):
        loaded.handle_event_with_monitor("h", "{}", "wall-clock")  # type: ignore[arg-type]
    assert loaded.handle_event("h", "{}") == "1"


def test_call_handler_limits(load: LoadFn) -> None:
    loaded = load(spin=SPIN)
    snapshot = loaded.snapshot()
    with pytest.raises(ExecutionCancelled) as info:
        loaded.call_handler("spin", {}, wall_clock_timeout=5, cpu_timeout=0.05)
    assert info.value.monitor == "cpu-time"
    loaded.restore(snapshot)
    with pytest.raises(ExecutionCancelled) as info:
        loaded.call_handler("spin", {}, cpu_timeout=datetime.timedelta(seconds=5), monitor=WallClockMonitor(0.05))
    assert info.value.monitor == "wall-clock"
    with pytest.raises(SandboxPoisonedError):
        loaded.call_handler("spin", {}, wall_clock_timeout=1)


def test_a_kill_while_the_guest_is_inside_a_host_call(builder: SandboxBuilder) -> None:
    loaded = _with_sleep_host(builder)
    handle = loaded.interrupt_handle()
    timer = threading.Timer(0.1, handle.kill)
    timer.start()
    started = time.monotonic()
    with pytest.raises(ExecutionCancelled):
        loaded.handle_event("h", '{"seconds": 0.5}')
    timer.join()
    assert time.monotonic() - started < 2
    assert loaded.poisoned


def test_many_sandboxes_in_parallel_threads_are_each_monitored(load: LoadFn) -> None:
    sandboxes = [load(spin=SPIN) for _ in range(8)]
    winners: list[str | None] = []
    lock = threading.Lock()

    def run(loaded: LoadedJSSandbox, i: int) -> None:
        monitors = (WallClockMonitor(0.3), CpuTimeMonitor(5)) if i % 2 else (WallClockMonitor(5), CpuTimeMonitor(0.05))
        try:
            loaded.handle_event_with_monitor("spin", "{}", monitors)
        except ExecutionCancelled as exc:
            with lock:
                winners.append(exc.monitor)

    threads = [threading.Thread(target=run, args=(s, i)) for i, s in enumerate(sandboxes)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(w or "" for w in winners) == ["cpu-time"] * 4 + ["wall-clock"] * 4
    assert time.monotonic() - started < 5


def test_fail_closed_when_a_monitor_cannot_start(builder: SandboxBuilder) -> None:
    from hyperlight_js import ExecutionMonitor

    class Broken(ExecutionMonitor):
        name = "broken"

        def get_monitor(self) -> Any:
            raise RuntimeError("no clock here")

    effects: list[str] = []
    loaded = _with_sleep_host(builder, effects)
    with pytest.raises(MonitorStartError, match="no clock here") as info:
        loaded.handle_event_with_monitor("effect", "{}", (WallClockMonitor(5), Broken()))
    assert isinstance(info.value.__cause__, RuntimeError)
    assert effects == [], "the handler must never run unmonitored"
    assert not loaded.poisoned
    assert loaded.handle_event_with_monitor("effect", "{}", WallClockMonitor(5)) == "1"
    assert effects == ["ran"]
