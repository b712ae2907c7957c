"""Starts a call's monitors and bridges Python monitors into the Rust race.

Each Python monitor's awaitable is scheduled on the package's monitor loop.
The Rust side gets a ``MonitorSignal`` per Python monitor and races it like
any other monitor; a done-callback on the loop fires the signal. Nothing on
the Rust side ever calls into Python, so the kill path cannot wait for the
GIL. Cancellation of the awaitables happens here, on the calling thread,
after the call returns.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Awaitable, Sequence
from typing import Any, Union

from . import _native
from ._loop import monitor_loop
from .errors import ExecutionCancelled, MonitorStartError
from .monitor import CpuTimeMonitor, ExecutionMonitor, Monitor, MonitorSpec, WallClockMonitor


# What the package itself races besides the user's monitors: a signal it
# fires from Python (e.g. when an asyncio task awaiting the call is cancelled).
RacedSpec = Union[MonitorSpec, _native.MonitorSignal, "tuple[RacedSpec, ...]"]
Raced = Union[Monitor, _native.MonitorSignal]


def flatten(spec: RacedSpec) -> list[Raced]:
    """One monitor or a (possibly nested) tuple of them, as a flat list."""
    if isinstance(spec, tuple):
        flat: list[Raced] = []
        for item in spec:
            flat.extend(flatten(item))
        if not flat:
            raise ValueError("a monitor tuple must contain at least one monitor")
        return flat
    if isinstance(spec, (WallClockMonitor, CpuTimeMonitor, ExecutionMonitor, _native.MonitorSignal)):
        return [spec]
    raise TypeError(
        f"expected a monitor (WallClockMonitor, CpuTimeMonitor or an ExecutionMonitor subclass) "
        f"or a tuple of them, not {type(spec).__name__}"
    )


async def _watch(awaitable: Awaitable[None]) -> None:
    await awaitable


class StartedMonitors:
    """The monitors of one call, started; a context manager that cancels the
    Python ones when the call is over."""

    def __init__(self, monitors: Sequence[Raced]) -> None:
        self.natives: list[Any] = []
        self._python: list[tuple[str, concurrent.futures.Future[None]]] = []
        try:
            for monitor in monitors:
                if isinstance(monitor, (WallClockMonitor, CpuTimeMonitor, _native.MonitorSignal)):
                    self.natives.append(monitor)
                else:
                    self.natives.append(self._start_python(monitor))
        except BaseException:
            self.cancel()
            raise

    def _start_python(self, monitor: ExecutionMonitor) -> _native.MonitorSignal:
        name = getattr(monitor, "name", None)
        if not isinstance(name, str) or not name:
            raise MonitorStartError(f"monitor {monitor!r} must have a non-empty str `name`, got {name!r}")
        try:
            awaitable = monitor.get_monitor()
        except Exception as exc:
            raise MonitorStartError(f"monitor {name!r} failed to start: {type(exc).__name__}: {exc}") from exc
        if not inspect.isawaitable(awaitable):
            raise MonitorStartError(
                f"monitor {name!r} failed to start: get_monitor() returned {type(awaitable).__name__}, not an awaitable"
            )
        signal = _native.MonitorSignal(name)
        future = asyncio.run_coroutine_threadsafe(_watch(awaitable), monitor_loop())

        def on_done(done: concurrent.futures.Future[None]) -> None:
            if not done.cancelled():
                signal.fire()

        future.add_done_callback(on_done)
        self._python.append((name, future))
        return signal

    def cancel(self) -> None:
        for _, future in self._python:
            future.cancel()

    def __enter__(self) -> StartedMonitors:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()

    def failure_of(self, cancelled: ExecutionCancelled) -> BaseException | None:
        """The exception a winning Python monitor raised, if it raised."""
        for name, future in self._python:
            if name == cancelled.monitor and future.done() and not future.cancelled():
                return future.exception()
        return None

