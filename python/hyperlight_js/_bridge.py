"""Bridges Python monitors into the Rust race.

The native module sorts a call's monitor spec once: native monitors go
straight into the race, and the others are handed to
:class:`StartedMonitors` (registered with the native module at import),
still on the calling thread and before the call starts. Each Python
monitor's awaitable is scheduled on the package's monitor loop; the Rust
side gets a ``MonitorSignal`` per Python monitor and races it like any
other monitor, and a done-callback on the loop fires the signal. The race
never calls into Python, so the kill path cannot wait for the GIL. Once
the call is over the native module calls :meth:`StartedMonitors.close`,
on the calling thread, which cancels the awaitables.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Union

from . import _native
from ._loop import monitor_loop
from .errors import ExecutionCancelled, MonitorStartError
from .monitor import ExecutionMonitor, MonitorSpec

if TYPE_CHECKING:
    import concurrent.futures


# What the package itself races besides the user's monitors: a signal it
# fires from Python (e.g. when an asyncio task awaiting the call is cancelled).
RacedSpec = Union[MonitorSpec, _native.MonitorSignal, "tuple[RacedSpec, ...]"]


async def _watch(awaitable: Awaitable[None]) -> None:
    await awaitable


class StartedMonitors:
    """The Python monitors of one call, started (the native module makes
    one per call that has any); :meth:`close` cancels them."""

    def __init__(self, monitors: Sequence[object]) -> None:
        checked: list[ExecutionMonitor] = []
        for monitor in monitors:
            if not isinstance(monitor, ExecutionMonitor):
                raise TypeError(
                    f"expected a monitor (WallClockMonitor, CpuTimeMonitor or an ExecutionMonitor subclass) "
                    f"or a tuple of them, not {type(monitor).__name__}"
                )
            checked.append(monitor)
        self.signals: list[_native.MonitorSignal] = []
        self._python: list[tuple[str, concurrent.futures.Future[None]]] = []
        try:
            for monitor in checked:
                self.signals.append(self._start(monitor))
        except BaseException:
            self.cancel()
            raise

    def _start(self, monitor: ExecutionMonitor) -> _native.MonitorSignal:
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
        import asyncio  # here, not at import: `import hyperlight_js` stays cheap (CLI start)

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

    def close(self, error: BaseException | None) -> BaseException | None:
        """Cancels the monitors once the call is over (``error`` is how it
        failed, if it did). Returns the exception to raise instead: when a
        Python monitor ended the call by raising, an ``ExecutionCancelled``
        that says so, with what it raised as ``__cause__``."""
        self.cancel()
        if not isinstance(error, ExecutionCancelled):
            return None
        cause = self._failure_of(error)
        if cause is None:
            return None
        replaced = ExecutionCancelled(
            f"{error.message} (it raised {type(cause).__name__}: {cause})", monitor=error.monitor
        )
        replaced.__cause__ = cause
        return replaced

    def _failure_of(self, cancelled: ExecutionCancelled) -> BaseException | None:
        """The exception a winning Python monitor raised, if it raised."""
        for name, future in self._python:
            if name == cancelled.monitor and future.done() and not future.cancelled():
                return future.exception()
        return None
