"""The exceptions hyperlight_js raises, all rooted at :class:`HyperlightError`.

Whether the sandbox can still be used after each one is part of its
contract; every class says so. "Poisoned" means the sandbox refuses calls
with :class:`SandboxPoisonedError` until ``restore(snapshot)``.
"""

from __future__ import annotations

import pickle
from typing import Any

__all__ = [
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


class HyperlightError(Exception):
    """Base class of every error this package raises on purpose.

    Every one pickles with its attributes (so it crosses process and machine
    boundaries, e.g. a Ray cluster, as the same type with the same
    ``monitor``, ``stack``...), and with its ``__cause__`` when that pickles.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        cause = self.__cause__
        if cause is not None:
            try:
                pickle.dumps(cause)
            except Exception:
                # A host exception that cannot travel: keep what it said.
                cause = RuntimeError(f"{type(cause).__name__}: {cause}")
            state["__cause__"] = cause
        return (type(self), self.args, state)


class GuestError(HyperlightError):
    """The handler threw and did not catch it. The sandbox stays usable.

    ``message`` is ``"Name: message"`` of the thrown value and ``stack`` its
    JavaScript stack, when it was an ``Error``. When the exception came from
    a host function that raised, that Python exception is ``__cause__``.
    """

    def __init__(self, message: str, stack: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stack = stack


class HandlerLoadError(GuestError):
    """A handler script did not load: syntax error, an import that cannot be
    resolved, a throwing top level, or no ``handler`` function. Raised by
    ``get_loaded_sandbox()``; the ``JSSandbox`` stays usable."""


class ExecutionCancelled(HyperlightError):
    """The handler was terminated before it finished. The sandbox is poisoned.

    ``monitor`` is the name of the monitor that ended it (``"wall-clock"``,
    ``"cpu-time"`` or a custom monitor's name), or ``None`` when it was ended
    through ``InterruptHandle.kill()``.
    """

    def __init__(self, message: str, monitor: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.monitor = monitor


class SandboxPoisonedError(HyperlightError):
    """The sandbox was poisoned by an earlier call; ``restore()`` it."""


class SandboxBusyError(HyperlightError):
    """The sandbox is running another call: calls on one sandbox never overlap,
    and a host function cannot call back into its own sandbox. Nothing ran;
    the sandbox is unaffected."""


class SandboxConsumedError(HyperlightError):
    """This lifecycle object was turned into the next stage (``load_runtime()``,
    ``get_loaded_sandbox()``, ``unload()``) and cannot be used again."""


class MonitorStartError(HyperlightError):
    """A monitor could not start, so the handler never ran (fail closed). The
    sandbox is unaffected."""


class HandlerNotFoundError(HyperlightError, LookupError):
    """No handler of that name is loaded. The sandbox is unaffected."""


class InvalidEventError(HyperlightError, ValueError):
    """The event is not JSON text (or cannot be encoded, e.g. a lone
    surrogate in a ``str``). The handler never ran; the sandbox is unaffected."""


class ResultNotSerializableError(HyperlightError, TypeError):
    """The handler finished but its result has no JSON form (``undefined``, a
    BigInt, a cycle, a throwing ``toJSON``). The sandbox stays usable."""


class GuestOutOfMemoryError(HyperlightError):
    """The guest hit its heap limit. The sandbox is poisoned."""


class SnapshotError(HyperlightError):
    """A snapshot cannot be taken or restored here (another sandbox's
    snapshot, or a backend that cannot capture the current state)."""


class BackendUnavailableError(HyperlightError):
    """The backend asked for cannot run here (not compiled into this build,
    or what it needs is missing). Isolation is never silently downgraded:
    ``auto`` picks another backend only among the isolated ones.
    ``python -m hyperlight_js doctor`` says what this machine supports."""


class HypervisorUnavailableError(BackendUnavailableError):
    """The hyperlight backend cannot start a micro-VM here: no KVM, mshv or
    WHP, or the hypervisor refused the guest. The message has the reason."""


class InternalError(HyperlightError):
    """A fault inside hyperlight_js itself, contained. The sandbox is poisoned."""


class PoolExhaustedError(HyperlightError):
    """No sandbox (or Ray actor slot) of a pool became free within the
    checkout timeout (``timeout``, seconds). Nothing ran."""

    def __init__(self, message: str, timeout: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.timeout = timeout


class PoolClosedError(HyperlightError):
    """The pool was closed (before or while this call waited for a sandbox).
    Nothing ran."""


class WorkerLostError(HyperlightError):
    """The Ray worker process running the call died (it exited, was killed,
    or its node left the cluster) before the result came back. Whether the
    handler ran, and how far, is unknown. The pool replaces the worker.
    ``actor`` is the index of the lost actor in its ``RayPool``."""

    def __init__(self, message: str, actor: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.actor = actor
