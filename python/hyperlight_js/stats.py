"""What one handler call cost: hyperlight-js's ``ExecutionStats`` (its
``guest-call-stats`` feature; the Node binding's ``lastCallStats``), as
:meth:`LoadedJSSandbox.last_call_stats` returns it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExecutionStats"]


@dataclass(frozen=True, slots=True)
class ExecutionStats:
    """The stats of the last call into guest code. Times are in seconds (a
    ``float``, as every duration this package takes: ``wall_clock_timeout``,
    ``WallClockMonitor(seconds)``)."""

    wall_clock: float
    """From the guest's start to its return, or to the kill taking effect."""
    cpu_time: float | None
    """CPU time of the thread that ran the guest (host functions it called
    on that thread included). Measured on monitored calls, and on every call
    of a sandbox built with ``with_cpu_time_stats(True)``; otherwise
    ``None``, as on a platform without per-thread CPU clocks."""
    terminated_by: str | None
    """The name of the monitor that ended the call (``"wall-clock"``,
    ``"cpu-time"``, a Python monitor's name, ``"task-cancelled"``); ``None``
    if no monitor did (it returned, threw, or was killed through the
    interrupt handle or Ctrl-C)."""
