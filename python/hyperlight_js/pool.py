"""``SandboxPool``: warm sandboxes handed out per call, put back clean.

Each sandbox comes from the host's ``factory`` (which registers host
functions and adds handlers) and is snapshotted right then; "clean" means
restored to that snapshot. A sandbox is restored

* when it comes back poisoned (a monitor ended its handler, it ran out of
  memory...),
* after every use with ``reset="always"``,
* and always before it is handed to a different tenant than its last user,
  whatever ``reset`` says: one tenant's state never reaches another.

Under ``reset="on-poison"`` (the default) calls of the *same* tenant may
see each other's leftovers (globals a handler set); that is the price of
not restoring after each call. ``tenant=None`` is a tenant like any other.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Literal

from . import metrics
from . import _native
from ._handout import GROW, Handout
from ._loop import awaited_from
from .errors import ExecutionCancelled
from .monitor import MonitorSpec, Seconds
from .sandbox import LoadedJSSandbox, _compose, _discard_outcome

__all__ = ["SandboxPool", "Reset"]

Reset = Literal["on-poison", "always"]
RESETS: tuple[Reset, ...] = ("on-poison", "always")

_log = logging.getLogger("hyperlight_js.pool")
_names = itertools.count(1)


class _Clean:
    def __repr__(self) -> str:
        return "<clean>"


# A member's `tenant` when it holds nobody's state (fresh or just restored).
_CLEAN: Any = _Clean()


class _Member:
    """A pooled sandbox, its clean state, and whose state it holds now."""

    __slots__ = ("loaded", "snapshot", "tenant")

    def __init__(self, loaded: LoadedJSSandbox, snapshot: _native.Snapshot) -> None:
        self.loaded = loaded
        self.snapshot = snapshot
        self.tenant: Hashable = _CLEAN


def _seconds(value: Seconds | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{what} must be seconds or None, not bool")
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else float(value)
    if seconds < 0:
        raise ValueError(f"{what} must not be negative, got {seconds}")
    return seconds


def _count(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {value}")
    return value


class SandboxPool:
    """Keeps ``size`` sandboxes made by ``factory`` warm (up to ``max_size``
    under load) and hands them out one caller at a time.

    ``factory()`` returns a :class:`LoadedJSSandbox` on which no handler has
    run yet (the in-process backend can only snapshot that state).
    ``checkout_timeout`` (seconds, None: wait for ever) bounds the wait for a
    free sandbox, after which :class:`PoolExhaustedError` is raised; waiters
    are served first come, first served. ``name`` labels the pool's
    prometheus metrics (default ``pool-<n>``).

    Thread-safe; use it from threads and asyncio tasks at once.
    """

    def __init__(
        self,
        factory: Callable[[], LoadedJSSandbox],
        *,
        size: int | None = None,
        max_size: int | None = None,
        checkout_timeout: Seconds | None = None,
        reset: Reset = "on-poison",
        name: str | None = None,
    ) -> None:
        if not callable(factory):
            raise TypeError("factory must be a callable returning a LoadedJSSandbox")
        size = _count((os.cpu_count() or 1) if size is None else size, "size", 0)
        max_size = _count(max(size, 1) if max_size is None else max_size, "max_size", max(size, 1))
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {', '.join(map(repr, RESETS))}, not {reset!r}")
        self._factory = factory
        self._size = size
        self._max_size = max_size
        self._checkout_timeout = _seconds(checkout_timeout, "checkout_timeout")
        self._reset = reset
        self.name = name if name is not None else f"pool-{next(_names)}"
        self._stats_lock = threading.Lock()
        self._stats = {"created": 0, "restores": 0, "replaced": 0, "terminations": 0, "calls": 0}
        self._handout: Handout[_Member] = Handout(max_size)
        self._handout.add([self._make() for _ in range(size)])
        metrics.track_pool(self)

    # -- members ---------------------------------------------------------------------------------

    def _bump(self, stat: str) -> None:
        with self._stats_lock:
            self._stats[stat] += 1

    def _make(self) -> _Member:
        loaded = self._factory()
        if not isinstance(loaded, LoadedJSSandbox):
            raise TypeError(f"the pool's factory must return a LoadedJSSandbox, not {type(loaded).__name__}")
        member = _Member(loaded, loaded.snapshot())
        self._bump("created")
        return member

    def _restore(self, member: _Member) -> _Member:
        """``member`` restored, or a new sandbox from the factory if the
        restore failed (the broken one is dropped)."""
        try:
            member.loaded.restore(member.snapshot)
            self._bump("restores")
            member.tenant = _CLEAN
            return member
        except Exception:
            _log.warning("pool %r: restoring a sandbox failed; replacing it", self.name, exc_info=True)
        replacement = self._make()
        self._bump("replaced")
        return replacement

    def _affinity(self, tenant: Hashable) -> Callable[[Sequence[_Member]], int]:
        """Prefer an idle sandbox that needs no restore for ``tenant``."""

        def pick(idle: Sequence[_Member]) -> int:
            for index, member in enumerate(idle):
                if member.tenant == tenant:
                    return index
            for index, member in enumerate(idle):
                if member.tenant is _CLEAN:
                    return index
            return 0

        return pick

    def _checkout(self, got: _Member | object, tenant: Hashable) -> _Member:
        """Turn what the handout gave into a sandbox ready for ``tenant``."""
        try:
            if got is GROW:
                member = self._make()
            else:
                assert isinstance(got, _Member)
                member = got
                if member.tenant is not _CLEAN and member.tenant != tenant:
                    member = self._restore(member)
        except BaseException:
            self._handout.discard()
            raise
        member.tenant = tenant
        return member

    def _checkin(self, member: _Member, cancelled: bool) -> None:
        """Reset as the policy says, and give the sandbox back."""
        self._bump("calls")
        if cancelled:
            self._bump("terminations")
        try:
            if member.loaded.poisoned or self._reset == "always":
                member = self._restore(member)
        except Exception:
            # The factory failed too: the pool shrinks by one and regrows on
            # demand. The caller keeps its own result or error.
            _log.error("pool %r: making a replacement sandbox failed", self.name, exc_info=True)
            self._handout.discard()
            return
        except BaseException:
            self._handout.discard()
            raise
        self._handout.put(member)

    def _timeout(self, checkout_timeout: Seconds | None) -> float | None:
        if checkout_timeout is None:
            return self._checkout_timeout
        return _seconds(checkout_timeout, "checkout_timeout")

    # -- public ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def sandbox(self, tenant: Hashable = None, *, checkout_timeout: Seconds | None = None) -> Iterator[LoadedJSSandbox]:
        """``with pool.sandbox(tenant) as loaded:`` — a sandbox for this
        block only (do not keep it). It holds no other tenant's state.
        ``checkout_timeout`` None means the pool's."""
        got = self._handout.take(self._timeout(checkout_timeout), self._affinity(tenant))
        member = self._checkout(got, tenant)
        cancelled = False
        try:
            yield member.loaded
        except ExecutionCancelled:
            cancelled = True
            raise
        finally:
            self._checkin(member, cancelled)

    def call(
        self,
        handler: str,
        event: Any = None,
        *,
        tenant: Hashable = None,
        wall_clock_timeout: Seconds | None = None,
        cpu_timeout: Seconds | None = None,
        monitor: MonitorSpec | None = None,
        checkout_timeout: Seconds | None = None,
    ) -> Any:
        """``call_handler`` on a pooled sandbox: the handler's result, or its
        typed error (the sandbox goes back clean either way)."""
        # What sandbox() does, without a generator's cost on every call.
        got = self._handout.take(self._timeout(checkout_timeout), self._affinity(tenant))
        member = self._checkout(got, tenant)
        cancelled = False
        try:
            return member.loaded.call_handler(
                handler, event, wall_clock_timeout=wall_clock_timeout, cpu_timeout=cpu_timeout, monitor=monitor
            )
        except ExecutionCancelled:
            cancelled = True
            raise
        finally:
            self._checkin(member, cancelled)

    async def call_async(
        self,
        handler: str,
        event: Any = None,
        *,
        tenant: Hashable = None,
        wall_clock_timeout: Seconds | None = None,
        cpu_timeout: Seconds | None = None,
        monitor: MonitorSpec | None = None,
        checkout_timeout: Seconds | None = None,
    ) -> Any:
        """:meth:`call` for asyncio hosts. Waiting for a sandbox does not block
        the loop; the call (and any restore) runs in the loop's default
        executor. Cancelling the task ends the handler as
        ``call_handler_async`` does, and the sandbox still goes back clean."""
        # Before the checkout: a limit that cannot be made must not keep a sandbox.
        cancelled_signal = _native.MonitorSignal("task-cancelled")
        monitors = [*_compose(wall_clock_timeout, cpu_timeout, monitor), cancelled_signal]
        got = await self._handout.take_async(self._timeout(checkout_timeout), self._affinity(tenant))
        abandoned = threading.Event()
        import asyncio  # here, not at import: `import hyperlight_js` stays cheap (CLI start)

        loop = asyncio.get_running_loop()

        def run() -> Any:
            # Checkout, call and checkin all happen here, on the executor thread,
            # so an abandoned call still returns its sandbox once it is over.
            member = self._checkout(got, tenant)
            cancelled = False
            try:
                if abandoned.is_set():
                    raise asyncio.CancelledError()
                with awaited_from(loop):
                    return member.loaded._call_value(handler, event, monitors, None)
            except ExecutionCancelled:
                cancelled = True
                raise
            finally:
                self._checkin(member, cancelled)

        future = loop.run_in_executor(None, run)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            abandoned.set()
            cancelled_signal.fire()
            future.add_done_callback(_discard_outcome)
            raise

    def stats(self) -> dict[str, int]:
        """``size`` (sandboxes now), ``idle``, ``busy``, ``waiting``,
        ``max_size``, and counters since creation: ``created`` (factory
        runs), ``restores``, ``replaced`` (sandboxes whose restore failed),
        ``terminations`` (calls ended by a monitor or a kill, seen as
        ``ExecutionCancelled`` leaving ``call`` or a ``sandbox()`` block),
        ``calls``."""
        existing, idle, waiting = self._handout.counts()
        with self._stats_lock:
            counters = dict(self._stats)
        return {
            "size": existing,
            "idle": idle,
            "busy": existing - idle,
            "waiting": waiting,
            "max_size": self._max_size,
            **counters,
        }

    def close(self) -> None:
        """Drop the idle sandboxes, fail the waiters with
        :class:`PoolClosedError`, and refuse new checkouts. Sandboxes in use
        are dropped when they come back."""
        self._handout.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SandboxPool {self.name!r} {self.stats()}>"
