"""A bounded set of reusable things (sandboxes, actor slots) handed out to
threads and asyncio tasks, first come, first served.

``queue.Queue`` serves threads only and ``asyncio.Queue`` one event loop
only; a pool is used from both at once, and must also be able to say
"none is idle, but you may make a new one" (growth up to a limit) and to
prefer an idle item for a given caller (tenant affinity). Hence this small
class, written by hand.

A waiter is handed its item under the lock, by whoever frees one; waking it
(an ``Event`` for a thread, a future on its own loop for a task) only tells
it to look. So an item is never lost between a timeout and a hand-off.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from .errors import PoolClosedError, PoolExhaustedError

if TYPE_CHECKING:
    import asyncio

__all__ = ["Handout", "GROW"]

T = TypeVar("T")


class _Grow:
    """Handed out instead of an item: none is idle, but the caller may make a
    new one (and must call ``Handout.put`` with it, or ``Handout.discard``)."""

    def __repr__(self) -> str:
        return "GROW"


GROW = _Grow()

Pick = Callable[[Sequence[T]], int]


def _oldest(idle: Sequence[object]) -> int:
    return 0


class _Waiter(Generic[T]):
    __slots__ = ("item", "wake", "failure")

    def __init__(self, wake: Callable[[], None]) -> None:
        self.item: T | _Grow | None = None
        self.failure: BaseException | None = None
        self.wake = wake


def _hand(waiter: _Waiter[T], item: T | _Grow) -> bool:
    """Give ``item`` to ``waiter``; False if it can no longer be woken (its
    event loop is closed), so the item goes to the next one."""
    try:
        waiter.wake()
    except RuntimeError:
        return False
    waiter.item = item
    return True


class Handout(Generic[T]):
    def __init__(self, limit: int, what: str = "sandbox") -> None:
        self._lock = threading.Lock()
        self._idle: collections.deque[T] = collections.deque()
        self._waiters: collections.deque[_Waiter[T]] = collections.deque()
        self._limit = limit
        self._count = 0  # items in existence or being made
        self._closed = False
        self._what = what

    # -- bookkeeping -------------------------------------------------------------------------

    def add(self, items: Iterable[T]) -> None:
        """New items, made outside the handout (the warm ones)."""
        for item in items:
            with self._lock:
                self._count += 1
            self.put(item)

    def counts(self) -> tuple[int, int, int]:
        """(existing, idle, waiting)."""
        with self._lock:
            return self._count, len(self._idle), len(self._waiters)

    # -- giving back ---------------------------------------------------------------------------

    def put(self, item: T) -> bool:
        """Return ``item`` (or a new one made after ``GROW``): to the first
        waiter, else to the idle set. False when the handout is closed (the
        caller drops the item)."""
        with self._lock:
            if self._closed:
                self._count -= 1
                return False
            while self._waiters:
                waiter = self._waiters.popleft()
                if _hand(waiter, item):
                    return True
            self._idle.append(item)
            return True

    def discard(self) -> None:
        """An item that was out is gone (or a ``GROW`` was not used): the
        first waiter may make a new one."""
        with self._lock:
            self._count -= 1
            while self._waiters and not self._closed:
                if _hand(self._waiters.popleft(), GROW):
                    self._count += 1
                    return

    def close(self) -> list[T]:
        """Refuse further takes, fail the waiters, and return the idle items."""
        with self._lock:
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
            self._count -= len(idle)
            waiters = list(self._waiters)
            self._waiters.clear()
        for waiter in waiters:
            waiter.failure = PoolClosedError("the pool was closed while waiting for a " + self._what)
            waiter.wake()
        return idle

    # -- taking ----------------------------------------------------------------------------------

    def _take_now(self, pick: Pick[T]) -> T | _Grow | None:
        """Under the lock: an idle item, a GROW permit, or None (wait)."""
        if self._closed:
            raise PoolClosedError("the pool is closed")
        if self._waiters:
            return None  # first come, first served
        if self._idle:
            index = pick(self._idle)
            item = self._idle[index]
            del self._idle[index]
            return item
        if self._count < self._limit:
            self._count += 1
            return GROW
        return None

    def try_take(self, pick: Pick[T] = _oldest) -> T | _Grow | None:
        with self._lock:
            return self._take_now(pick)

    def _exhausted(self, timeout: float | None) -> PoolExhaustedError:
        return PoolExhaustedError(f"no {self._what} became free within {timeout} s", timeout=timeout)

    def take(self, timeout: float | None, pick: Pick[T] = _oldest) -> T | _Grow:
        """An item or ``GROW``; waits up to ``timeout`` seconds (None: for
        ever), then raises :class:`PoolExhaustedError`."""
        with self._lock:
            got = self._take_now(pick)
            if got is not None:
                return got
            event = threading.Event()
            waiter: _Waiter[T] = _Waiter(event.set)
            self._waiters.append(waiter)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                event.wait(remaining)
                with self._lock:
                    if waiter.failure is not None:
                        raise waiter.failure
                    if waiter.item is not None:
                        return waiter.item
                    if deadline is not None and time.monotonic() >= deadline:
                        self._waiters.remove(waiter)
                        raise self._exhausted(timeout)
        except BaseException:
            # Interrupted (e.g. KeyboardInterrupt) while queued: leave the queue,
            # and pass on anything handed over in the meantime.
            self._abandon(waiter)
            raise

    async def take_async(self, timeout: float | None, pick: Pick[T] = _oldest) -> T | _Grow:
        """:meth:`take` for asyncio: waits without blocking the loop."""
        import asyncio  # here, not at import: `import hyperlight_js` stays cheap (CLI start)

        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def set_woken() -> None:
            if not woken.done():
                woken.set_result(None)

        def wake() -> None:
            loop.call_soon_threadsafe(set_woken)

        with self._lock:
            got = self._take_now(pick)
            if got is not None:
                return got
            waiter: _Waiter[T] = _Waiter(wake)
            self._waiters.append(waiter)
        try:
            try:
                await asyncio.wait_for(asyncio.shield(woken), timeout)
            except asyncio.TimeoutError:
                pass
            with self._lock:
                if waiter.failure is not None:
                    raise waiter.failure
                if waiter.item is not None:
                    return waiter.item
                self._waiters.remove(waiter)
                raise self._exhausted(timeout)
        except BaseException:
            self._abandon(waiter)
            raise

    def _abandon(self, waiter: _Waiter[T]) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return
            item = waiter.item
            waiter.item = None
        if isinstance(item, _Grow):
            self.discard()
        elif item is not None:
            self.put(item)
