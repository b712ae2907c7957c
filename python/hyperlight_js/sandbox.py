"""The sandbox lifecycle: ``SandboxBuilder`` → ``ProtoJSSandbox`` →
``JSSandbox`` → ``LoadedJSSandbox``, with the names of the hyperlight-js
Rust API.

The native classes are the engine: one narrow handle per stage, whose
defaults and rules (sizes, backend names, poisoning, the monitors' race)
are the Rust core's. These classes own the lifecycle's ergonomics: JSON
conversion for host functions and ``call_handler``, monitors written in
Python, Ctrl-C on the main thread, logging, and asyncio.
"""

from __future__ import annotations

import inspect
import json
import logging
import importlib
import re
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union

from . import _native
from ._bridge import RacedSpec
from ._loop import awaited_from, host_function_loop
from .errors import ExecutionCancelled, InvalidEventError
from .monitor import CpuTimeMonitor, MonitorSpec, Seconds, WallClockMonitor
from .stats import ExecutionStats

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

__all__ = ["SandboxBuilder", "ProtoJSSandbox", "JSSandbox", "LoadedJSSandbox", "Script", "Snapshot", "InterruptHandle"]

Script = _native.Script
Snapshot = _native.Snapshot
InterruptHandle = _native.InterruptHandle

# One encoder, made once: json.dumps() with any non-default argument builds a
# new encoder on every call, which cost more than the guest call itself.
# NaN and infinities are not JSON, so they are refused rather than sent as
# tokens JavaScript's JSON.parse would reject.
_to_json = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=True).encode
_from_json = json.JSONDecoder().decode

# A host call's Uint8Array arguments: (position, bytes), beside the JSON
# array of arguments, which holds null in their places.
_BinaryArgs = tuple[tuple[int, bytes], ...]
_BINARY_RESULTS = (bytes, bytearray, memoryview)


def _put_binary(args: list[Any], binary: _BinaryArgs) -> None:
    """Puts a host call's binary arguments in their places."""
    for position, data in binary:
        args[position] = data


_log = logging.getLogger("hyperlight_js.monitor")
# A library logs; the application decides where it goes (no stderr spam by
# default from logging's last-resort handler).
logging.getLogger("hyperlight_js").addHandler(logging.NullHandler())
_MAIN_THREAD_ID = threading.main_thread().ident


# Guest text must not drive the terminal it is printed on: ESC sequences
# could move the cursor, rewrite earlier lines, retitle the window or hide
# text, and bidirectional overrides could reorder what is shown. Every C0
# and C1 control (tab and newline excepted), DEL, and the bidi controls
# are shown escaped instead. Only the default print function does this: a
# print function the user passes gets the guest's text unchanged.
_TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape_control(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _print_line(line: str) -> None:
    # The guest's text carries its own newline (console.log ends its line
    # with one, as upstream's does; print() adds none).
    sys.stdout.write(_TERMINAL_CONTROLS.sub(_escape_control, line))
    sys.stdout.flush()


def _watch_sigint() -> bool:
    """Ctrl-C should end the handler: we are on the main thread and Python's
    default SIGINT handling is in place (never override a host's choice)."""
    return _get_ident() == _MAIN_THREAD_ID and _getsignal(_SIGINT) is _default_int_handler


_get_ident = threading.get_ident
# signal.getsignal() converts to enums in Python and costs microseconds on
# every call; the C function it wraps answers the same question in ~30 ns.
_getsignal: Callable[[int], object] = importlib.import_module("_signal").getsignal
_SIGINT = int(signal.SIGINT)
_default_int_handler = signal.default_int_handler


class SandboxBuilder:
    """Configures a sandbox. Methods return the builder, so they chain."""

    def __init__(self) -> None:
        self._native = _native.SandboxBuilder()
        self._print: Callable[[str], object] | None = _print_line

    def with_backend(self, name: str) -> SandboxBuilder:
        """Which engine runs the sandbox: a backend's name (hyperlight, the
        micro-VM; wasm, QuickJS in WebAssembly; in-process; ``python -m
        hyperlight_js doctor`` lists them) or ``"auto"``, the default: the
        strongest isolation that works here, never in-process. An unknown
        name raises ``ValueError``; asking for a backend that cannot run
        here raises :class:`BackendUnavailableError` when the sandbox is
        loaded."""
        self._native.with_backend(name)
        return self

    def with_guest_heap_size(self, size: int) -> SandboxBuilder:
        """The guest's heap limit in bytes (default 64 MiB). A size that is
        not a positive int raises at once; :meth:`build` raises
        ``ValueError`` naming the minimum when the backend cannot run with
        so little."""
        self._native.with_guest_heap_size(size)
        return self

    def with_guest_scratch_size(self, size: int) -> SandboxBuilder:
        """The guest's stack limit in bytes (default 1 MiB; never more than
        the calling thread really has left, minus room kept for host code).
        A size that is not a positive int raises at once; :meth:`build`
        raises ``ValueError`` naming the minimum when the backend cannot
        honour it."""
        self._native.with_guest_scratch_size(size)
        return self

    def with_cpu_time_stats(self, enabled: bool = True) -> SandboxBuilder:
        """Measure the CPU time of every call for
        :meth:`LoadedJSSandbox.last_call_stats`, not only of monitored calls
        (off by default: on Linux reading a thread's CPU clock is a system
        call, which costs an unmonitored round trip about a third more; see
        docs/api.md)."""
        self._native.with_cpu_time_stats(bool(enabled))
        return self

    def with_host_print_fn(self, print_fn: Callable[[str], object] | None) -> SandboxBuilder:
        """Receives each ``console.log``/``print`` line (arguments joined by
        spaces, no trailing newline). The default prints to ``sys.stdout``;
        ``None`` discards guest output."""
        if print_fn is not None and not callable(print_fn):
            raise TypeError("print_fn must be callable or None")
        self._print = print_fn
        return self

    def build(self) -> ProtoJSSandbox:
        """Picks the backend (``"auto"`` resolves here, to the backend every
        load of this sandbox will use) and checks the sizes against it: a
        size it cannot honour raises ``ValueError`` naming its minimum. A
        backend that cannot run here is still reported when the sandbox is
        loaded."""
        return ProtoJSSandbox(self._native.build(self._print))


class ProtoJSSandbox:
    """A sandbox collecting host functions."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.ProtoJSSandbox) -> None:
        self._native = native

    def register(self, module: str, name: str, fn: Callable[..., Any]) -> None:
        """Make ``fn`` importable by handlers: ``import * as m from "module"``
        then ``m.name(...)`` (or ``m["any-name"](...)``: ``name`` is any
        non-empty string without NUL). Arguments and the return value travel
        as JSON, except binary data: an argument that is a ``Uint8Array``
        arrives as ``bytes``, and a ``bytes`` (``bytearray``, ``memoryview``)
        return value is a ``Uint8Array`` in the guest. Only whole arguments
        and whole results are binary; nested in an object or array, a
        ``Uint8Array`` arrives as ``JSON.stringify`` writes it and ``bytes``
        cannot be returned. If ``fn`` raises, the handler sees a catchable
        ``HostError``; left uncaught, it surfaces as :class:`GuestError` with
        the Python exception as ``__cause__``.

        ``fn`` may be ``async``: whenever it returns an awaitable (a coroutine
        function, or a plain function returning a coroutine or future), that
        is awaited on an asyncio loop while the guest waits — the package's
        loop, or the awaiting loop for :meth:`LoadedJSSandbox.call_handler_async`.
        A monitor or ``kill()`` that ends the call meanwhile cancels the
        coroutine (it sees ``CancelledError``)."""
        if not callable(fn):
            raise TypeError("fn must be callable")

        def adapter(args_json: str, binary: _BinaryArgs = ()) -> str | bytes | concurrent.futures.Future[str | bytes]:
            # Inline: this is every host call's path, and each extra Python
            # call here showed in the round trip.
            args = _from_json(args_json)
            if binary:
                _put_binary(args, binary)
            result = fn(*args)
            try:
                return _to_json(result)
            except TypeError:
                # JSON refuses bytes and awaitables: bytes-like goes back as a
                # Uint8Array, an awaitable is awaited on its loop.
                if isinstance(result, _BINARY_RESULTS):
                    return bytes(result)
                if inspect.isawaitable(result):
                    return _schedule(result)
                raise

        self._native.register(module, name, adapter)

    def load_runtime(self) -> JSSandbox:
        return JSSandbox(self._native.load_runtime())

    def load_snapshot(self, snapshot: _native.Snapshot, monitor: MonitorSpec | None = None) -> LoadedJSSandbox:
        """A loaded sandbox in ``snapshot``'s state — typically one read with
        :meth:`Snapshot.load` — with the host functions registered here,
        which must be exactly those (module and function names) the
        snapshot's handlers were loaded with. The builder must name the
        snapshot's backend and sizes. Anything else raises
        :class:`SnapshotError` and leaves this sandbox usable; on success it
        is consumed, as by :meth:`load_runtime`.

        On wasm the handlers' load does not run again (the memory image is
        put back); on in-process the snapshot *is* the load, which runs
        (bound it with ``monitor`` as in :meth:`JSSandbox.get_loaded_sandbox`)."""
        try:
            return LoadedJSSandbox(self._native.load_snapshot(snapshot, monitor, _watch_sigint()))
        except ExecutionCancelled as cancelled:
            _log_termination("<load>", cancelled)
            raise


class JSSandbox:
    """A sandbox with its host functions, collecting handlers."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.JSSandbox) -> None:
        self._native = native

    def add_handler(self, name: str, script: Union[_native.Script, str]) -> None:
        """Add an ES module that defines ``function handler(event)`` (exported
        or not). A ``str`` is the module's source."""
        if isinstance(script, str):
            script = _native.Script.from_content(script)
        self._native.add_handler(name, script)

    def remove_handler(self, name: str) -> None:
        """Remove handler ``name``: ``ValueError`` for an empty name (as
        :meth:`add_handler`), :class:`HandlerNotFoundError` for one never
        added."""
        self._native.remove_handler(name)

    def clear_handlers(self) -> None:
        self._native.clear_handlers()

    @property
    def handler_names(self) -> list[str]:
        return self._native.handler_names()

    @property
    def poisoned(self) -> bool:
        """Always ``False``: unlike hyperlight-js's, this stage holds no
        engine a failure could leave in doubt (a failed load leaves it as it
        was; :meth:`LoadedJSSandbox.unload` drops a poisoned engine). Here
        for parity with upstream's ``JSSandbox::poisoned()``."""
        return self._native.poisoned

    def get_loaded_sandbox(self, monitor: MonitorSpec | None = None) -> LoadedJSSandbox:
        """Evaluate the handlers and return the callable sandbox. Their
        top-level code is guest code too: pass ``monitor`` (as for
        :meth:`LoadedJSSandbox.handle_event_with_monitor`) to bound it, or
        kill it through :meth:`interrupt_handle`. On failure this sandbox
        stays usable."""
        try:
            return LoadedJSSandbox(self._native.get_loaded_sandbox(monitor, _watch_sigint()))
        except ExecutionCancelled as cancelled:
            _log_termination("<load>", cancelled)
            raise

    def interrupt_handle(self) -> _native.InterruptHandle:
        """Kills handler top-level code during :meth:`get_loaded_sandbox`;
        the loaded sandbox keeps the same handle."""
        return self._native.interrupt_handle()


def _log_termination(handler: str, cancelled: ExecutionCancelled) -> None:
    if cancelled.monitor is not None and _is_heard(_log, logging.WARNING):
        _log.warning(
            "handler %r terminated by the %r monitor",
            handler,
            cancelled.monitor,
            extra={"triggered_by": cancelled.monitor, "handler": handler},
        )


def _is_heard(logger: logging.Logger, level: int) -> bool:
    """Whether a record would reach a handler other than a ``NullHandler``.

    The record of a kill is made on the caller's path, between the kill and
    the exception, and right after a guest has spun for the whole limit the
    caches are cold: making one took 55 µs (p50), a quarter of the overshoot
    past a wall-clock limit. With no handler but ours (the ``NullHandler``
    that keeps logging's last resort quiet) nothing is written, so nothing
    is made. The walk is the one ``Logger.callHandlers`` does."""
    if not logger.isEnabledFor(level):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        if any(not isinstance(h, logging.NullHandler) and level >= h.level for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def _compose(
    wall_clock_timeout: Seconds | None, cpu_timeout: Seconds | None, monitor: MonitorSpec | None
) -> list[RacedSpec]:
    """The monitors ``call_handler``'s arguments ask for, as one spec (the
    native module walks it once)."""
    monitors: list[RacedSpec] = []
    if wall_clock_timeout is not None:
        monitors.append(WallClockMonitor(wall_clock_timeout))
    if cpu_timeout is not None:
        monitors.append(CpuTimeMonitor(cpu_timeout))
    if monitor is not None:
        monitors.append(monitor)
    return monitors


async def _as_json(awaitable: Any) -> str | bytes:
    """An async host function's result as a sync one's would travel: JSON
    text, or bytes for a Uint8Array."""
    result = await awaitable
    if isinstance(result, _BINARY_RESULTS):
        return bytes(result)
    return _to_json(result)


def _schedule(awaitable: Any) -> concurrent.futures.Future[str | bytes]:
    """Starts an async host function's awaitable on its loop; the native
    side waits for the future (or cancels it when the call is killed).

    ``asyncio.run_coroutine_threadsafe`` would do this, but it creates the
    future inside: a Ctrl-C's KeyboardInterrupt is raised as its
    ``call_soon_threadsafe`` returns (writing to the loop's self-pipe
    releases the GIL, and the loop may start the coroutine meanwhile), and
    the future was lost with the coroutine running on (seen in 7 of 80
    Ctrl-Cs on a loaded machine). Owning the future, we cancel it then,
    which stops the coroutine whether or not it has started. The chaining
    is ``run_coroutine_threadsafe``'s: the future stays pending until the
    task is done, so it can be cancelled until then."""
    import asyncio  # here, not at import: `import hyperlight_js` stays cheap (CLI start)
    import concurrent.futures

    loop = host_function_loop()
    coroutine = _as_json(awaitable)
    future: concurrent.futures.Future[str | bytes] = concurrent.futures.Future()
    # Whoever takes it owns the coroutine: `start` runs it, or the caller,
    # giving up, closes it (when `start` was never queued, say on a closed
    # loop, nothing else would).
    claim = threading.Lock()

    def start() -> None:
        if not claim.acquire(blocking=False):
            return
        if future.cancelled():
            _close_unstarted(coroutine, awaitable)
            return
        task = loop.create_task(coroutine)
        task.add_done_callback(lambda done: _settle(future, done))
        future.add_done_callback(lambda ended: ended.cancelled() and loop.call_soon_threadsafe(task.cancel))

    try:
        loop.call_soon_threadsafe(start)
    except BaseException:
        # Whether or not `start` is queued or running, a cancelled future
        # stops the coroutine.
        future.cancel()
        if claim.acquire(blocking=False):
            _close_unstarted(coroutine, awaitable)
        raise
    return future


def _close_unstarted(coroutine: Any, awaitable: Any) -> None:
    """Closes a host coroutine that never ran, so neither it nor the
    awaitable it wraps warns that it was never awaited."""
    coroutine.close()
    if inspect.iscoroutine(awaitable):
        awaitable.close()


def _settle(future: concurrent.futures.Future[str | bytes], task: asyncio.Future[str | bytes]) -> None:
    """Passes a host task's outcome to the future the native side waits on."""
    if task.cancelled():
        future.cancel()
    elif future.set_running_or_notify_cancel():
        error = task.exception()
        if error is None:
            future.set_result(task.result())
        else:
            future.set_exception(error)


def _discard_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class LoadedJSSandbox:
    """A sandbox whose handlers can be called.

    Calls on one sandbox never overlap (a second one raises
    :class:`SandboxBusyError`); different sandboxes run in parallel, with the
    GIL released while JavaScript runs. After a terminated call the sandbox
    is poisoned until :meth:`restore`.
    """

    __slots__ = ("_native",)

    def __init__(self, native: _native.LoadedJSSandbox) -> None:
        self._native = native

    def handle_event(self, name: str, event_json: str, gc: bool | None = None) -> str:
        """Call handler ``name`` with an event given as JSON text; returns the
        result as JSON text (a ``Uint8Array`` as ``JSON.stringify`` writes it,
        ``{"0":1,"1":2}``, as upstream). ``gc=True`` runs QuickJS's cycle
        collector after the call, ``gc=False`` never; the default (``None``)
        runs it only when the heap grew since the last collection by more
        than a sixteenth of its limit (docs/api.md, "Garbage collection")."""
        return self._native.call(name, event_json, gc, None, _watch_sigint())

    def handle_event_with_monitor(
        self, name: str, event_json: str, monitor: MonitorSpec, gc: bool | None = None
    ) -> str:
        """Like :meth:`handle_event`, raced against ``monitor`` (one monitor or
        a tuple; nested tuples are flattened). The first monitor to complete
        terminates the handler: :class:`ExecutionCancelled` names it."""
        try:
            return self._native.call(name, event_json, gc, monitor, _watch_sigint())
        except ExecutionCancelled as cancelled:
            _log_termination(name, cancelled)
            raise

    def call_handler(
        self,
        name: str,
        event: Any = None,
        *,
        wall_clock_timeout: Seconds | None = None,
        cpu_timeout: Seconds | None = None,
        monitor: MonitorSpec | None = None,
        gc: bool | None = None,
    ) -> Any:
        """Call handler ``name`` with a Python value as the event and return
        the result as a Python value (both through JSON; a handler that
        returns a ``Uint8Array`` gives ``bytes``). Limits compose: each given
        one is raced with the others."""
        return self._call_value(name, event, _compose(wall_clock_timeout, cpu_timeout, monitor), gc)

    def _call_value(self, name: str, event: Any, monitors: list[RacedSpec], gc: bool | None) -> Any:
        try:
            event_json = _to_json(event)
        except (TypeError, ValueError) as exc:
            raise InvalidEventError(f"the event cannot be sent as JSON: {exc}") from exc
        if not monitors:
            result = self._native.call(name, event_json, gc, None, _watch_sigint(), True)
            return result if isinstance(result, bytes) else _from_json(result)
        try:
            result = self._native.call(name, event_json, gc, monitors, _watch_sigint(), True)
            return result if isinstance(result, bytes) else _from_json(result)
        except ExecutionCancelled as cancelled:
            _log_termination(name, cancelled)
            raise

    async def call_handler_async(
        self,
        name: str,
        event: Any = None,
        *,
        wall_clock_timeout: Seconds | None = None,
        cpu_timeout: Seconds | None = None,
        monitor: MonitorSpec | None = None,
        gc: bool | None = None,
    ) -> Any:
        """:meth:`call_handler` for asyncio hosts: the handler runs in the
        loop's default executor, so the loop keeps running. Cancelling the
        awaiting task ends the handler: one still queued never starts; one
        running, or starting at that moment, is terminated by the
        ``"task-cancelled"`` monitor and the sandbox is poisoned. Async host
        functions the handler calls run on this loop."""
        # Raced like a monitor rather than killed through the interrupt
        # handle: a fired signal also ends a call that begins after the
        # cancellation, where kill() would find nothing running yet.
        cancelled = _native.MonitorSignal("task-cancelled")
        monitors = [*_compose(wall_clock_timeout, cpu_timeout, monitor), cancelled]
        abandoned = threading.Event()
        import asyncio  # here, not at import: `import hyperlight_js` stays cheap (CLI start)

        loop = asyncio.get_running_loop()

        def call() -> Any:
            if abandoned.is_set():
                raise asyncio.CancelledError()
            with awaited_from(loop):
                return self._call_value(name, event, monitors, gc)

        future = loop.run_in_executor(None, call)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            abandoned.set()
            cancelled.fire()
            # Nobody awaits the call any more; its outcome is expected, not lost.
            future.add_done_callback(_discard_outcome)
            raise

    def snapshot(self) -> _native.Snapshot:
        """The sandbox's state to :meth:`restore` later. The wasm and
        hyperlight backends capture it exactly, at any time; the in-process
        backend captures the freshly loaded state only, so it refuses once a
        handler has run (until the next restore). ``snapshot.save(path)``
        writes it to a file (wasm and in-process) that
        :meth:`ProtoJSSandbox.load_snapshot` starts new sandboxes from."""
        return self._native.snapshot()

    def restore(self, snapshot: _native.Snapshot) -> None:
        """Return to ``snapshot`` and clear the poison. The whole state comes
        back, handlers included: a snapshot taken before :meth:`unload`
        brings back the handlers it captured, with their code, and those
        loaded since are gone. On the wasm and in-process backends
        ``Math.random`` starts from a new seed, so restores do not replay
        its numbers."""
        self._native.restore(snapshot)

    @property
    def poisoned(self) -> bool:
        return self._native.poisoned

    def last_call_stats(self) -> ExecutionStats | None:
        """The stats of the last call (every way of calling a handler):
        ``None`` before the first one and after one refused before it ran
        (poisoned, an unknown or empty handler name, a monitor that did not
        start); otherwise filled, whether it returned, threw or was
        terminated. Raises :class:`SandboxBusyError` while a call runs."""
        stats = self._native.last_call_stats()
        return None if stats is None else ExecutionStats(*stats)

    @property
    def backend(self) -> str:
        """The name of the backend that runs the handlers (``auto`` resolved)."""
        return self._native.backend

    def interrupt_handle(self) -> _native.InterruptHandle:
        """A handle whose ``kill()`` ends the running handler from any thread."""
        return self._native.interrupt_handle()

    def unload(self) -> JSSandbox:
        """Drop the engine (poisoned or not) and go back to the
        handler-editing stage with no handlers, as hyperlight-js: add them
        (or others) again before the next load. Snapshots taken before still
        restore into the sandboxes loaded next, handlers included."""
        return JSSandbox(self._native.unload())


