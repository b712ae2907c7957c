"""``python -m hyperlight_js doctor``: what this machine and this build can
do — which backends are compiled in and whether each can actually run (a
micro-VM is really started, not just looked for), the hypervisor devices,
CPU clocks for ``CpuTimeMonitor`` and the monitor runtime's threads."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from . import _native
from .errors import BackendUnavailableError


@dataclass(frozen=True)
class BackendStatus:
    name: str
    compiled_in: bool
    problem: str | None  # None when it can run here
    rank: int = 0  # lower is stronger isolation
    isolated: bool = True  # False: runs in the host process; `auto` never picks it

    @property
    def runs_here(self) -> bool:
        return self.problem is None


# Why the Windows wheel is built without the micro-VM backend.
WINDOWS_WITHOUT_MICRO_VM = (
    "the Windows wheel leaves it out: it would import winhvplatform.dll, which exists only where "
    "the Windows Hypervisor Platform feature is on, and the wheel would then not import elsewhere"
)


def backends() -> list[BackendStatus]:
    return [
        BackendStatus(name, compiled, problem, rank, isolated)
        for name, rank, compiled, isolated, problem in _native.backends()
    ]


def hypervisors() -> dict[str, bool]:
    """Which hypervisor interfaces this machine exposes (present is not the
    same as usable: the hyperlight backend's status says that)."""
    if sys.platform == "win32":
        system32 = os.path.join(os.environ.get("SystemRoot", r"C:\Windows"), "System32")
        return {"WHP": os.path.exists(os.path.join(system32, "WinHvPlatform.dll"))}
    return {"/dev/kvm": os.path.exists("/dev/kvm"), "/dev/mshv": os.path.exists("/dev/mshv")}


def micro_vm() -> str:
    """Whether a Hyperlight micro-VM really starts here: the hyperlight
    backend's probe builds one, loads a handler and calls it (once per
    process), so a hypervisor that is present but cannot run guests shows
    its own error."""
    status = next(s for s in backends() if s.name == "hyperlight")
    if not status.compiled_in:
        return "not tried (the hyperlight backend is not compiled into this build)"
    if status.runs_here:
        return "starts and answers a call"
    return f"does not start here: {status.problem}"


def auto_choice() -> str:
    """The backend ``auto`` (the default) takes here: the strongest isolation
    that runs, never in-process."""
    try:
        return _native.resolve_backend("auto")
    except BackendUnavailableError:
        by_name = " or ".join(f'"{s.name}"' for s in backends() if not s.isolated)
        return f"none (no isolated backend runs here; name {by_name} to run without one)"



def monitor_threads() -> str:
    running = _native.monitor_thread_count()
    configured = os.environ.get(_native.MONITOR_THREADS_ENV)
    source = f"{_native.MONITOR_THREADS_ENV}={configured!r}" if configured is not None else "default"
    if running is not None:
        return f"{running} worker threads (running; {source})"
    return f"not started yet ({source}; 2 by default)"


def report() -> list[str]:
    lines = [f"hyperlight-js {_native.__version__} on {sys.platform}, Python {sys.version.split()[0]}", "backends:"]
    for status in backends():
        if not status.compiled_in:
            state = "not compiled in"
            if status.name == "hyperlight" and sys.platform == "win32":
                state += f" ({WINDOWS_WITHOUT_MICRO_VM})"
        elif status.runs_here:
            state = "available"
        else:
            state = "compiled in, cannot run here"
        lines.append(f"  {status.name:<11} {state}" + (f": {status.problem}" if status.problem and status.compiled_in else ""))
    lines.append("hypervisors: " + ", ".join(f"{name} {'present' if ok else 'absent'}" for name, ok in hypervisors().items()))
    lines.append(f"micro-VM: {micro_vm()}")
    lines.append(f"auto (the default) picks: {auto_choice()}")
    try:
        lines.append(f"CPU-time monitor: per-thread CPU clocks via {_native.cpu_clock_support()}")
    except OSError as exc:
        lines.append(f"CPU-time monitor: unavailable ({exc}); CpuTimeMonitor fails closed")
    lines.append(f"monitor runtime: {monitor_threads()}")
    return lines
