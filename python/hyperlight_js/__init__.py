"""Run untrusted JavaScript handlers from Python, in a sandbox, under
execution monitors that end a runaway handler and leave the host unharmed.

    from hyperlight_js import SandboxBuilder, WallClockMonitor, CpuTimeMonitor

    sandbox = SandboxBuilder().build().load_runtime()
    sandbox.add_handler("greet", "function handler(e) { return `hello ${e.name}` }")
    loaded = sandbox.get_loaded_sandbox()
    snapshot = loaded.snapshot()
    loaded.call_handler("greet", {"name": "world"}, wall_clock_timeout=1, cpu_timeout=0.1)
"""

from __future__ import annotations

from . import _bridge, _native, errors

# Handed to the native module once, before anything can call it: the classes
# it raises, and what starts a call's Python monitors.
_native.init(errors, _bridge.StartedMonitors)

from . import metrics, monitor
from ._native import __version__
from .errors import (
    BackendUnavailableError,
    ExecutionCancelled,
    GuestError,
    GuestOutOfMemoryError,
    HandlerLoadError,
    HandlerNotFoundError,
    HyperlightError,
    HypervisorUnavailableError,
    InternalError,
    InvalidEventError,
    MonitorStartError,
    PoolClosedError,
    PoolExhaustedError,
    ResultNotSerializableError,
    SandboxBusyError,
    SandboxConsumedError,
    SandboxPoisonedError,
    SnapshotError,
    WorkerLostError,
)
from .monitor import CpuTimeMonitor, ExecutionMonitor, WallClockMonitor
from .pool import SandboxPool
from .snapshot_factory import SnapshotFactory
from .stats import ExecutionStats
from .sandbox import (
    InterruptHandle,
    JSSandbox,
    LoadedJSSandbox,
    ProtoJSSandbox,
    SandboxBuilder,
    Script,
    Snapshot,
)

__all__ = [
    "__version__",
    "metrics",
    "monitor",
    "SandboxBuilder",
    "ProtoJSSandbox",
    "JSSandbox",
    "LoadedJSSandbox",
    "Script",
    "Snapshot",
    "InterruptHandle",
    "SandboxPool",
    "SnapshotFactory",
    "ExecutionStats",
    "ExecutionMonitor",
    "WallClockMonitor",
    "CpuTimeMonitor",
    "HyperlightError",
    "GuestError",
    "HandlerLoadError",
    "ExecutionCancelled",
    "SandboxPoisonedError",
    "SandboxBusyError",
    "SandboxConsumedError",
    "MonitorStartError",
    "HandlerNotFoundError",
    "InvalidEventError",
    "ResultNotSerializableError",
    "GuestOutOfMemoryError",
    "SnapshotError",
    "BackendUnavailableError",
    "HypervisorUnavailableError",
    "InternalError",
    "PoolExhaustedError",
    "PoolClosedError",
    "WorkerLostError",
]
