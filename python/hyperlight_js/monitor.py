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
import asyncio
import datetime
import math
from collections.abc import Awaitable
from typing import Union

from . import _native

__all__ = ["ExecutionMonitor", "WallClockMonitor", "CpuTimeMonitor", "Monitor", "MonitorSpec", "sleep"]

Seconds = Union[float, int, datetime.timedelta]


def _seconds(value: Seconds, what: str) -> float:
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be seconds (float) or a datetime.timedelta, not {type(value).__name__}")
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a finite duration greater than zero, got {value!r}")
    return seconds


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


class WallClockMonitor:
    """Ends the handler after ``timeout`` of real time, whatever it is doing."""

    __slots__ = ("_native",)
    name = "wall-clock"

    def __init__(self, timeout: Seconds) -> None:
        self._native = _native.WallClockMonitor(_seconds(timeout, "timeout"))

    @property
    def timeout(self) -> float:
        return self._native.timeout

    def __repr__(self) -> str:
        return f"WallClockMonitor(timeout={self.timeout!r})"


class CpuTimeMonitor:
    """Ends the handler once the thread running it has used ``budget`` of CPU
    time. Time spent blocked (sleeping host functions, I/O) does not count."""

    __slots__ = ("_native",)
    name = "cpu-time"

    def __init__(self, budget: Seconds) -> None:
        self._native = _native.CpuTimeMonitor(_seconds(budget, "budget"))

    @property
    def budget(self) -> float:
        return self._native.budget

    def __repr__(self) -> str:
        return f"CpuTimeMonitor(budget={self.budget!r})"


Monitor = Union[WallClockMonitor, CpuTimeMonitor, ExecutionMonitor]
# A monitor, or a tuple of them; nested tuples are flattened.
MonitorSpec = Union[Monitor, "tuple[MonitorSpec, ...]"]


async def sleep(seconds: float) -> None:
    """Wait inside a Python monitor without blocking the monitor loop."""
    await asyncio.sleep(seconds)
