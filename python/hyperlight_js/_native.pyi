"""Typed surface of the Rust extension. Use the ``hyperlight_js`` package;
this module is its engine room and may change between releases.

One narrow handle per lifecycle stage, with no defaults or policy of its
own: sizes, backend names, poisoning, the monitors' race and the kill path
are the Rust core's rules. Each call says whether it releases the GIL (only
calls that run guest code, probe backends or do file I/O do) and what it
raises. Errors are the classes of :mod:`hyperlight_js.errors`, handed over by
:func:`init`. A stage consumed by the next one raises
``SandboxConsumedError``; a stage whose call is still running raises
``SandboxBusyError`` (also what a host function calling back into its own
sandbox gets).

``monitor`` arguments take one monitor (``WallClockMonitor``,
``CpuTimeMonitor``, ``MonitorSignal`` or an ``ExecutionMonitor`` object) or
a tuple or list of them, nested at will; each tuple must hold at least one
(``ValueError``). The spec is walked once: native monitors join the race
directly, the others are started by the class given to :func:`init`
(``TypeError`` if one is not an ``ExecutionMonitor``, ``MonitorStartError``
if it fails to start; then the guest never runs). A monitor that wins ends
the guest: ``ExecutionCancelled`` naming it, the sandbox poisoned.
``sigint=True`` (the caller is the main thread with Python's default SIGINT
handling) also ends the guest on Ctrl-C, which then raises what Python's
SIGINT handler raises (normally ``KeyboardInterrupt``).
"""

import concurrent.futures
import datetime
from collections.abc import Callable, Sequence
from os import PathLike
from types import ModuleType
from typing import Literal, Protocol, Union, final, overload

_Seconds = Union[float, int, datetime.timedelta]

__version__: str
MONITOR_THREADS_ENV: str
"""The environment variable that sets the monitor runtime's thread count."""

class _StartedMonitors(Protocol):
    @property
    def signals(self) -> Sequence[MonitorSignal]: ...
    def close(self, error: BaseException | None) -> BaseException | None: ...

def init(errors: ModuleType, start_python_monitors: Callable[[list[object]], _StartedMonitors]) -> None:
    """Called once by the package as it is imported. ``errors`` is
    :mod:`hyperlight_js.errors`: its classes are read once, here, and are
    what every later call raises. ``start_python_monitors(monitors)`` is
    called, on the calling thread before the guest runs, with the monitors
    of a call that are not native; it returns an object whose ``signals``
    are raced and whose ``close(error)`` is called when the call is over
    (what it returns, if not ``None``, is raised instead of ``error``).
    Holds the GIL. Raises ``RuntimeError`` if called twice,
    ``AttributeError``/``TypeError`` if a class is missing."""

@final
class Script:
    """A handler's source, with where its relative imports may come from."""

    @staticmethod
    def from_content(source: str, base_dir: str | PathLike[str] | None = None) -> Script:
        """Source text; ``base_dir`` allows relative imports from (and only
        from) that directory. Holds the GIL. Raises ``ValueError`` when
        ``base_dir`` is not a usable directory."""
    @staticmethod
    def from_file(path: str | PathLike[str], root: str | PathLike[str] | None = None) -> Script:
        """Reads the file now (holding the GIL); relative imports resolve
        next to it and may not leave ``root`` (default: its directory).
        Raises ``HandlerLoadError`` (missing, unreadable, too large, not
        UTF-8), ``ValueError`` (outside ``root``, ``root`` not a directory)."""
    @property
    def source(self) -> str: ...

@final
class SandboxBuilder:
    """The builder stage: the core's builder, with its defaults. Each setter
    checks its value at once (holding the GIL) and leaves the builder
    unchanged when it refuses it."""

    def __init__(self) -> None: ...
    def with_backend(self, name: str) -> None:
        """A backend's name or ``"auto"``. Raises ``ValueError`` for an
        unknown name (whether it runs here is known at load)."""
    def with_guest_heap_size(self, size: int) -> None:
        """Raises ``TypeError`` if ``size`` is not an ``int`` (``bool``
        refused), ``ValueError`` if it is not positive or does not fit in a
        machine word."""
    def with_guest_scratch_size(self, size: int) -> None:
        """As :meth:`with_guest_heap_size`, for the guest's stack."""
    def with_cpu_time_stats(self, enabled: bool) -> None:
        """Measure every call's CPU time for ``last_call_stats``, not only
        monitored calls'."""
    def build(self, print_fn: Callable[[str], object] | None = None) -> ProtoJSSandbox:
        """Resolves the backend (``auto`` picks one here, once per process)
        and checks the sizes against it; ``print_fn`` receives each guest
        output line (``None``: dropped; its exceptions are reported as
        unraisable, never to the guest). Releases the GIL (the first
        resolution may probe the backends). Raises ``ValueError`` naming the
        backend's minimum. The builder stays usable."""

@final
class ProtoJSSandbox:
    """Collects host functions; consumed by ``load_runtime`` or a
    successful ``load_snapshot``."""

    def register(
        self, module: str, name: str, adapter: Callable[..., Union[str, bytes, concurrent.futures.Future[str | bytes]]]
    ) -> None:
        """``adapter(args_json) -> result_json`` becomes ``module[name]`` in
        the guest. A call with ``Uint8Array`` arguments is
        ``adapter(args_json, ((position, bytes), ...))``, the JSON holding
        ``null`` at those positions; ``bytes`` returned is a ``Uint8Array``
        for the guest, ``str`` is JSON. It is called on the guest's thread, attaching to the
        interpreter for the call. An ``Exception`` it raises is a catchable
        ``HostError`` in the guest and the ``__cause__`` of the
        ``GuestError`` if uncaught; anything else (``KeyboardInterrupt``,
        ``SystemExit``) kills the call and is re-raised by it. Holds the GIL.
        An adapter may instead return a future of that result (an async
        host function's coroutine, already scheduled on a loop): the guest's
        thread then waits without the GIL until the future is done — its
        result or exception counts as the adapter's — or until the call is
        killed, which cancels the future.
        Raises ``ValueError`` for an empty name, a name holding NUL, a module
        name that looks like a path, or a name already registered."""
    def load_runtime(self) -> JSSandbox:
        """The next stage, with these host functions. Holds the GIL."""
    def load_snapshot(self, snapshot: Snapshot, monitor: object | None = None, sigint: bool = False) -> LoadedJSSandbox:
        """A loaded sandbox in ``snapshot``'s state, with these host
        functions (the names the snapshot was taken with). Releases the GIL
        while it loads (in-process, the handlers' load runs again, raced
        against ``monitor``). Raises ``SnapshotError`` (another backend,
        sizes or host functions), ``BackendUnavailableError``; this sandbox
        stays usable on failure."""

@final
class JSSandbox:
    """Collects handlers; consumed by a successful ``get_loaded_sandbox``.
    The handler methods hold the GIL."""

    def add_handler(self, name: str, script: Script) -> None:
        """Raises ``ValueError`` for an empty name."""
    def remove_handler(self, name: str) -> None:
        """Raises ``ValueError`` for an empty name, ``HandlerNotFoundError``
        for one never added."""
    @property
    def poisoned(self) -> bool:
        """Always ``False`` (it holds no engine); raises
        ``SandboxConsumedError`` once consumed."""
    def clear_handlers(self) -> None: ...
    def handler_names(self) -> list[str]: ...
    def get_loaded_sandbox(self, monitor: object | None = None, sigint: bool = False) -> LoadedJSSandbox:
        """Evaluates the handlers (their top level runs, GIL released,
        raced against ``monitor``). Raises ``HandlerLoadError``,
        ``ExecutionCancelled``, ``GuestOutOfMemoryError``,
        ``BackendUnavailableError`` (``HypervisorUnavailableError`` for the
        micro-VM); this sandbox stays usable on failure."""
    def interrupt_handle(self) -> InterruptHandle:
        """Kills handler top-level code during ``get_loaded_sandbox``; the
        loaded sandbox keeps the same handle."""

@final
class LoadedJSSandbox:
    """Calls handlers; consumed by ``unload``. ``poisoned``, ``backend`` and
    ``interrupt_handle`` answer even while a call runs."""

    @overload
    def call(
        self,
        name: str,
        event_json: str,
        gc: bool | None = None,
        monitor: object | None = None,
        sigint: bool = False,
        binary: Literal[False] = False,
    ) -> str: ...
    @overload
    def call(
        self,
        name: str,
        event_json: str,
        gc: bool | None,
        monitor: object | None,
        sigint: bool,
        binary: Literal[True],
    ) -> str | bytes:
        """Runs handler ``name`` on ``event_json`` and returns its result as
        JSON text. ``gc=True`` runs the cycle collector afterwards,
        ``gc=False`` does not, ``None`` does when the heap grew by more than
        a sixteenth of its limit (between 64 KiB and 1 MiB) since the
        last collection. A
        handler that returns a ``Uint8Array`` gives its ``bytes`` when
        ``binary`` is true, else the JSON text ``JSON.stringify`` writes
        for it (``{"0":1,"1":2}``).
        Releases the GIL while the guest runs. Raises
        ``HandlerNotFoundError``, ``InvalidEventError``, ``GuestError``,
        ``ResultNotSerializableError`` (the sandbox stays usable);
        ``ExecutionCancelled``, ``GuestOutOfMemoryError``, ``InternalError``
        (it is poisoned); ``SandboxPoisonedError`` until ``restore``."""
    def snapshot(self) -> Snapshot:
        """The current state, to ``restore`` later. Holds the GIL. Raises
        ``SnapshotError`` where the backend cannot capture it (in-process,
        once a handler has run), ``SandboxPoisonedError``."""
    def restore(self, snapshot: Snapshot) -> None:
        """Returns to ``snapshot`` and clears the poison. Releases the GIL.
        Raises ``SnapshotError`` for another sandbox's snapshot."""
    @property
    def poisoned(self) -> bool: ...
    def last_call_stats(self) -> tuple[float, float | None, str | None] | None:
        """``(wall_clock, cpu_time, terminated_by)`` of the last call, in
        seconds; ``None`` before any call and after one refused before it
        ran. Raises ``SandboxBusyError`` while a call runs."""
    @property
    def backend(self) -> str:
        """The backend that runs the handlers (``auto`` resolved)."""
    def interrupt_handle(self) -> InterruptHandle: ...
    def unload(self) -> JSSandbox:
        """Drops the engine; back to editing handlers. Holds the GIL."""

@final
class Snapshot:
    """A sandbox's state; from a file when read by ``load``."""

    def save(self, path: str | PathLike[str]) -> None:
        """Writes a self-contained, digest-sealed file. Releases the GIL.
        Raises ``SnapshotError`` (a backend whose snapshots have no file
        form, or the write failed)."""
    @staticmethod
    def load(path: str | PathLike[str]) -> Snapshot:
        """Reads and checks a file ``save`` wrote. Releases the GIL. Raises
        ``SnapshotError`` (unreadable, altered, another format version)."""
    @property
    def backend(self) -> str: ...
    @property
    def heap_size(self) -> int: ...
    @property
    def scratch_size(self) -> int: ...
    @property
    def from_file(self) -> bool: ...

@final
class InterruptHandle:
    def kill(self) -> bool:
        """Ends the running guest code (``ExecutionCancelled`` with no
        monitor, the sandbox poisoned); ``False`` if none was running.
        Never blocks and never waits for the GIL: safe from any thread or
        signal handler."""
    @property
    def running(self) -> bool: ...

@final
class WallClockMonitor:
    """Raises ``TypeError`` for a non-number (``bool`` refused),
    ``ValueError`` for a duration that is not finite and positive."""

    def __init__(self, timeout: _Seconds) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def timeout(self) -> float: ...

@final
class CpuTimeMonitor:
    """Raises as ``WallClockMonitor``; a call raced against it raises
    ``MonitorStartError`` where the thread's CPU clock cannot be read."""

    def __init__(self, budget: _Seconds) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def budget(self) -> float: ...

@final
class MonitorSignal:
    """A monitor completed from Python: the race ends when ``fire()`` is
    called, even before the call starts. Raises ``ValueError`` for an
    empty name."""

    def __init__(self, name: str) -> None: ...
    def fire(self) -> None:
        """Never blocks; safe from any thread."""
    @property
    def name(self) -> str: ...

def monitor_terminations() -> dict[str, int]:
    """Calls ended per monitor name since the process started."""

def lifecycle_metrics() -> list[tuple[str, int, bool]]:
    """hyperlight-js's lifecycle metrics now: ``(name, value, is_gauge)``."""

def monitor_thread_count() -> int | None:
    """The monitor runtime's worker threads; ``None`` before it starts."""

def cpu_clock_support() -> str:
    """The OS API behind ``CpuTimeMonitor`` here. Raises ``OSError`` if
    there is none."""

def backends() -> list[tuple[str, int, bool, bool, str | None]]:
    """Every backend, strongest isolation first: ``(name, rank, compiled_in,
    isolated, problem)``; ``problem`` is ``None`` when it runs here, else why
    not. The first call probes each backend (starts and discards one
    sandbox; the answers are kept); releases the GIL while probing."""

def resolve_backend(name: str) -> str:
    """The backend a load with ``with_backend(name)`` would use (``"auto"``
    included). Raises ``ValueError`` for an unknown name and
    ``BackendUnavailableError`` (``HypervisorUnavailableError`` for a
    micro-VM) when it cannot run here. Releases the GIL while probing."""
