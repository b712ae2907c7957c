"""Execution monitors: limits that end a handler which runs too long.

A monitor has a ``name`` and a ``get_monitor()`` method. ``get_monitor()`` is
called synchronously, on the thread that is about to run the handler,
before the handler starts; it returns an awaitable that *stays pending while
all is well* and *completes when the handler must be terminated*. If the
handler finishes first, the awaitable is cancelled.

Monitors compose with tuples: ``(WallClockMonitor(5), CpuTimeMonitor(0.5))``
ends the handler as soon as either limit is reached, and the winner's name is
what the exception, the ``monitor_terminations_total`` metric and the log
record report. If any monitor fails to start, the handler does not run.

The built-in monitors run entirely in the Rust runtime. Monitors written in
Python run on an asyncio loop owned by this package; when one completes,
the kill itself still happens without the GIL.
"""

from __future__ import annotations

import abc
import datetime
from collections.abc import Awaitable
from typing import Union

from . import _native

__all__ = ["ExecutionMonitor", "WallClockMonitor", "CpuTimeMonitor", "Monitor", "MonitorSpec", "sleep"]

class ExecutionMonitor(abc.ABC):
    """Base class for monitors written in Python.

    Subclasses set ``name`` (a non-empty string, reported when the monitor
    wins) and implement :meth:`get_monitor`. Do not kill anything yourself:
    complete the awaitable and the sandbox does the rest. If the awaitable
    raises, that also terminates the handler (fail closed), and the
    exception becomes the ``__cause__`` of :class:`ExecutionCancelled`.
    """

    name: str

    @abc.abstractmethod
    def get_monitor(self) -> Awaitable[None]:
        """Runs on the calling thread; returns the watching awaitable."""


WallClockMonitor = _native.WallClockMonitor
"""Ends the handler after ``timeout`` (seconds or a ``timedelta``) of real
time, whatever it is doing. Name: ``"wall-clock"``."""

CpuTimeMonitor = _native.CpuTimeMonitor
"""Ends the handler once the thread running it has used ``budget`` (seconds
or a ``timedelta``) of CPU time; time spent blocked (sleeping host
functions, I/O) does not count. Name: ``"cpu-time"``."""

Seconds = Union[float, int, datetime.timedelta]
Monitor = Union[_native.WallClockMonitor, _native.CpuTimeMonitor, ExecutionMonitor]
# A monitor, or a tuple of them; nested tuples are flattened.
MonitorSpec = Union[Monitor, "tuple[MonitorSpec, ...]"]


async def sleep(seconds: float) -> None:
    """Wait inside a Python monitor without blocking the monitor loop."""
    import asyncio  # loaded by the monitor loop already; not at import (CLI start)

    await asyncio.sleep(seconds)
