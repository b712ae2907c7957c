"""Monitors written in Python, bridged into the Rust race."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from typing import Any

import pytest

from conftest import SPIN, LoadFn
from hyperlight_js import CpuTimeMonitor, ExecutionCancelled, ExecutionMonitor, MonitorStartError, WallClockMonitor, monitor


class AfterDelay(ExecutionMonitor):
    def __init__(self, seconds: float, name: str = "after-delay") -> None:
        self.seconds = seconds
        self.name = name
        self.thread: int | None = None
        self.cancelled = threading.Event()

    def get_monitor(self) -> Awaitable[None]:
        self.thread = threading.get_ident()
        return self._watch()

    async def _watch(self) -> None:
        try:
            await monitor.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


def test_a_python_monitor_that_completes_terminates_the_handler(load: LoadFn) -> None:
    loaded = load(spin=SPIN)
    watcher = AfterDelay(0.05, name="custom")
    started = time.monotonic()
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event_with_monitor("spin", "{}", watcher)
    assert info.value.monitor == "custom"
    assert time.monotonic() - started < 2
    assert loaded.poisoned


def test_get_monitor_runs_on_the_calling_thread(load: LoadFn) -> None:
    loaded = load(h="function handler() { return 1 }")
    watcher = AfterDelay(60)
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(loaded.handle_event_with_monitor("h", "{}", watcher)))
    thread.start()
    thread.join()
    assert result == ["1"]
    assert watcher.thread == thread.ident


def test_a_python_monitor_is_cancelled_when_the_handler_wins(load: LoadFn) -> None:
    loaded = load(h="function handler() { return 'quick' }")
    watcher = AfterDelay(60)
    assert loaded.handle_event_with_monitor("h", "{}", (watcher, WallClockMonitor(5))) == '"quick"'
    assert watcher.cancelled.wait(2), "the awaitable must see CancelledError"
    assert not loaded.poisoned


def test_python_and_native_monitors_compose(load: LoadFn) -> None:
    loaded = load(spin=SPIN)
    snapshot = loaded.snapshot()
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event_with_monitor("spin", "{}", (WallClockMonitor(5), AfterDelay(0.05, "py"), CpuTimeMonitor(5)))
    assert info.value.monitor == "py"
    loaded.restore(snapshot)
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event_with_monitor("spin", "{}", (AfterDelay(5, "py"), CpuTimeMonitor(0.05)))
    assert info.value.monitor == "cpu-time"


def test_a_monitor_that_raises_later_fails_closed_with_the_cause(load: LoadFn) -> None:
    class RaisesLater(ExecutionMonitor):
        name = "raises-later"

        async def _watch(self) -> None:
            await monitor.sleep(0.05)
            raise ConnectionError("quota service unreachable")

        def get_monitor(self) -> Awaitable[None]:
            return self._watch()

    loaded = load(spin=SPIN)
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event_with_monitor("spin", "{}", (RaisesLater(), WallClockMonitor(10)))
    assert info.value.monitor == "raises-later"
    assert isinstance(info.value.__cause__, ConnectionError)


@pytest.mark.parametrize("returned", [None, 42, "text"])
def test_a_non_awaitable_is_a_start_error(load: LoadFn, returned: Any) -> None:
    class NotAwaitable(ExecutionMonitor):
        name = "not-awaitable"

        def get_monitor(self) -> Any:
            return returned

    calls: list[str] = []
    loaded = load(h="function handler() { return 1 }")
    with pytest.raises(MonitorStartError, match="not an awaitable"):
        loaded.handle_event_with_monitor("h", "{}", NotAwaitable())
    assert calls == []
    assert loaded.handle_event("h", "{}") == "1"


def test_a_monitor_needs_a_name(load: LoadFn) -> None:
    class Nameless(ExecutionMonitor):
        def get_monitor(self) -> Awaitable[None]:
            return monitor.sleep(1)

    loaded = load(h="function handler() { return 1 }")
    with pytest.raises(MonitorStartError, match="name"):
        loaded.handle_event_with_monitor("h", "{}", Nameless())


def test_a_monitor_that_never_completes_lets_the_handler_finish(load: LoadFn) -> None:
    class Never(ExecutionMonitor):
        name = "never"

        def get_monitor(self) -> Awaitable[None]:
            return asyncio.Event().wait()  # type: ignore[return-value]

    loaded = load(h="function handler() { return 'done' }", spin=SPIN)
    assert loaded.handle_event_with_monitor("h", "{}", Never()) == '"done"'
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event_with_monitor("spin", "{}", (Never(), WallClockMonitor(0.05)))
    assert info.value.monitor == "wall-clock"


def test_a_cpu_clock_captured_on_the_calling_thread(load: LoadFn) -> None:
    """The reason get_monitor() is synchronous: capture the caller's CPU clock."""

    class PythonCpuBudget(ExecutionMonitor):
        name = "py-cpu"

        def __init__(self, budget: float) -> None:
            self.budget = budget

        def get_monitor(self) -> Awaitable[None]:
            clock = time.pthread_getcpuclockid(threading.get_ident())
            start = time.clock_gettime(clock)

            async def watch() -> None:
                while time.clock_gettime(clock) - start < self.budget:
                    await monitor.sleep(0.005)

            return watch()

    if not hasattr(time, "pthread_getcpuclockid"):
        pytest.skip("this platform has no time.pthread_getcpuclockid")
    loaded = load(spin=SPIN)
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event_with_monitor("spin", "{}", (PythonCpuBudget(0.05), WallClockMonitor(10)))
    assert info.value.monitor == "py-cpu"
