"""``RayPool``: sandbox pools spread over a Ray cluster.

Each Ray actor (a threaded actor, ``max_concurrency=per_actor``) holds a
:class:`~hyperlight_js.SandboxPool` of ``per_actor`` sandboxes made by the
host's ``factory``, which Ray ships to the actors with cloudpickle. The
caller holds ``per_actor`` slots per actor and sends a call only with a slot
in hand, so no call ever queues inside Ray: at most ``actors * per_actor``
calls are in flight, and the rest wait on the caller, first come, first
served, up to ``checkout_timeout`` (then :class:`PoolExhaustedError`).

Errors keep their type across the cluster (``ExecutionCancelled.monitor``
and the like work on the caller). When the worker process behind an actor
dies (it exited, was killed, its node left the cluster), the calls it held
raise :class:`WorkerLostError` and the actor is replaced by a new one.

Needs the ``ray`` extra: ``pip install 'hyperlight-js[ray]'``.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import os
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, cast

try:
    import ray
    import ray.exceptions
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("hyperlight_js.ray needs Ray: pip install 'hyperlight-js[ray]'") from exc

from . import _native
from ._handout import GROW, Handout
from .errors import WorkerLostError
from .monitor import MonitorSpec, Seconds
from .pool import SandboxPool

__all__ = ["RayPool"]

# What Ray raises when the process that ran (or was to run) a call is gone.
_LOST = (
    ray.exceptions.RayActorError,
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.ObjectLostError,
)


def _seconds(value: Seconds | None) -> float | None:
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return None if value is None else float(value)


class _PoolActor:
    """The body of each Ray actor: one SandboxPool, and a cancel switch per
    call. Control methods run in their own concurrency group so that they
    are answered while every call thread is busy."""

    def __init__(self, factory: Callable[[], Any], size: int, pool_options: dict[str, Any]) -> None:
        self._failure: BaseException | None = None
        self._pool: SandboxPool | None = None
        self._cancels: dict[int, _native.MonitorSignal] = {}
        self._lock = threading.Lock()
        try:
            self._pool = SandboxPool(factory, size=size, **pool_options)
        except Exception as exc:
            # Kept and raised to every caller: a creation error would otherwise
            # reach them only as an untyped "actor died".
            self._failure = exc

    def _ready_pool(self) -> SandboxPool:
        if self._failure is not None:
            raise self._failure
        assert self._pool is not None
        return self._pool

    def call(self, call_id: int, handler: str, event: Any, tenant: Hashable, limits: dict[str, Any]) -> Any:
        pool = self._ready_pool()
        cancelled = _native.MonitorSignal("caller-cancelled")
        with self._lock:
            self._cancels[call_id] = cancelled
        monitor = limits.pop("monitor", None)
        raced = cancelled if monitor is None else (monitor, cancelled)
        try:
            return pool.call(handler, event, tenant=tenant, monitor=cast(MonitorSpec, raced), **limits)
        finally:
            with self._lock:
                del self._cancels[call_id]

    @ray.method(concurrency_group="control")
    def cancel(self, call_id: int) -> None:
        with self._lock:
            signal = self._cancels.get(call_id)
        if signal is not None:
            signal.fire()

    @ray.method(concurrency_group="control")
    def ready(self) -> str:
        self._ready_pool()
        return str(ray.get_runtime_context().get_node_id())

    @ray.method(concurrency_group="control")
    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = dict(self._ready_pool().stats())
        stats["node"] = ray.get_runtime_context().get_node_id()
        stats["pid"] = os.getpid()
        return stats

    @ray.method(concurrency_group="control")
    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


# Ray's stubs do not know the concurrency_groups option.
_RemotePoolActor: Any = cast(Any, ray.remote)(concurrency_groups={"control": 1})(_PoolActor)

_SUMMED = ("size", "idle", "busy", "waiting", "created", "restores", "replaced", "terminations", "calls")


class RayPool:
    """``actors`` Ray actors with ``per_actor`` sandboxes each.

    ``factory`` makes a sandbox as for :class:`SandboxPool` (it runs in the
    actors, so it must pickle: a module-level function, or a closure over
    picklable values). ``pool_options`` (``max_size``, ``reset``,
    ``checkout_timeout``) configure each actor's pool; ``checkout_timeout``
    also bounds the caller's wait for a free slot. ``actors`` defaults to
    the cluster's CPUs divided by ``per_actor``. ``actor_options`` go to
    Ray's ``.options()`` (default: ``num_cpus=per_actor`` and the ``SPREAD``
    scheduling strategy). Connects with ``ray.init()`` if not connected.

    At most ``per_actor + queued_per_actor`` calls are in flight per actor:
    ``queued_per_actor`` (default 0) lets calls wait inside an actor for
    its next free sandbox, which hides the round trip to the actor when
    handlers are short, at the price of less even spreading.
    """

    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        actors: int | None = None,
        per_actor: int = 1,
        queued_per_actor: int = 0,
        actor_options: Mapping[str, Any] | None = None,
        **pool_options: Any,
    ) -> None:
        if isinstance(per_actor, bool) or not isinstance(per_actor, int) or per_actor < 1:
            raise ValueError(f"per_actor must be an int of at least 1, got {per_actor!r}")
        if isinstance(queued_per_actor, bool) or not isinstance(queued_per_actor, int) or queued_per_actor < 0:
            raise ValueError(f"queued_per_actor must be an int of at least 0, got {queued_per_actor!r}")
        if not ray.is_initialized():
            ray.init()
        if actors is None:
            cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
            actors = max(1, int(cpus) // per_actor)
        if isinstance(actors, bool) or not isinstance(actors, int) or actors < 1:
            raise ValueError(f"actors must be an int of at least 1, got {actors!r}")
        self._factory = factory
        self._per_actor = per_actor
        self._pool_options = dict(pool_options)
        self._checkout_timeout = _seconds(pool_options.get("checkout_timeout"))
        self._actor_options: dict[str, Any] = {"num_cpus": per_actor, "scheduling_strategy": "SPREAD"}
        self._actor_options.update(actor_options or {})
        slots = per_actor + queued_per_actor
        self._actor_options["max_concurrency"] = slots
        self._lock = threading.Lock()
        self._closed = False
        self._call_ids = itertools.count()
        self._workers_lost = 0
        self._actors = [self._spawn() for _ in range(actors)]
        self._generations = [0] * actors
        # Slots of an actor being replaced are held back until the new actor is
        # up, so that calls go to the live actors meanwhile rather than queue
        # behind one that may wait long for a node.
        self._starting = [False] * actors
        self._parked = [0] * actors
        try:
            self._ready()
        except BaseException:
            self._kill_all()
            raise
        self._handout: Handout[int] = Handout(actors * slots, what="Ray actor slot")
        # Interleaved, so that consecutive calls go to different actors.
        self._handout.add([index for _ in range(slots) for index in range(actors)])

    # -- actors ---------------------------------------------------------------------------------

    def _spawn(self) -> Any:
        return _RemotePoolActor.options(**self._actor_options).remote(self._factory, self._per_actor, self._pool_options)

    def _ready(self) -> None:
        """Wait until every actor has made its sandboxes; raise the factory's
        own error if one could not."""
        try:
            ray.get([actor.ready.remote() for actor in self._actors])
        except ray.exceptions.RayTaskError as err:
            raise err.cause from None
        except _LOST as err:
            raise WorkerLostError(f"a Ray actor was lost while it started: {err}") from err

    def _replace(self, index: int, generation: int) -> None:
        """Put a new actor in place of a lost one (once, however many calls
        saw it die)."""
        with self._lock:
            if self._generations[index] != generation or self._closed:
                return
            lost = self._actors[index]
            replacement = self._actors[index] = self._spawn()
            self._generations[index] += 1
            self._starting[index] = True
            self._workers_lost += 1
        try:
            ray.kill(lost, no_restart=True)
        except Exception:
            pass  # already gone
        # Runs on a Ray thread: only bookkeeping there, no Ray calls.
        replacement.ready.remote().future().add_done_callback(lambda _: self._started(index, generation + 1))

    def _started(self, index: int, generation: int) -> None:
        """The replacement is up (or failed to start, which its calls will
        report): hand its slots out again."""
        with self._lock:
            if self._generations[index] != generation:
                return  # replaced again meanwhile; that one's start releases them
            self._starting[index] = False
            parked, self._parked[index] = self._parked[index], 0
        for _ in range(parked):
            self._handout.put(index)

    def _release(self, index: int) -> None:
        with self._lock:
            if self._starting[index]:
                self._parked[index] += 1
                return
        self._handout.put(index)

    def _kill_all(self) -> None:
        for actor in self._actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                pass

    def _slot(self, got: int | object) -> int:
        assert got is not GROW and isinstance(got, int)
        return got

    def _submit(
        self, index: int, handler: str, event: Any, tenant: Hashable, limits: dict[str, Any]
    ) -> tuple[Any, int, int, Any]:
        with self._lock:
            actor = self._actors[index]
            generation = self._generations[index]
        call_id = next(self._call_ids)
        return actor.call.remote(call_id, handler, event, tenant, limits), call_id, generation, actor

    def _settle(self, index: int, generation: int, fetch: Callable[[], Any]) -> Any:
        """The call's value, or its error as the caller should see it."""
        try:
            return fetch()
        except ray.exceptions.RayTaskError as err:
            raise err.cause
        except _LOST as err:
            self._replace(index, generation)
            raise WorkerLostError(f"the Ray worker running the call was lost: {err}", actor=index) from err

    def _abandon(self, actor: Any, call_id: int, ref: Any, index: int) -> None:
        """The caller stopped waiting: end the call, and free its slot only
        once it is over."""
        try:
            actor.cancel.remote(call_id)
        except Exception:
            pass
        ref.future().add_done_callback(lambda _: self._release(index))

    @staticmethod
    def _limits(
        wall_clock_timeout: Seconds | None, cpu_timeout: Seconds | None, monitor: MonitorSpec | None
    ) -> dict[str, Any]:
        limits: dict[str, Any] = {}
        if wall_clock_timeout is not None:
            limits["wall_clock_timeout"] = _seconds(wall_clock_timeout)
        if cpu_timeout is not None:
            limits["cpu_timeout"] = _seconds(cpu_timeout)
        if monitor is not None:
            limits["monitor"] = monitor
        return limits

    def _timeout(self, checkout_timeout: Seconds | None) -> float | None:
        return self._checkout_timeout if checkout_timeout is None else _seconds(checkout_timeout)

    # -- public ------------------------------------------------------------------------------------

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
        """Like :meth:`SandboxPool.call`, on some actor of the cluster.
        ``monitor`` must pickle (the built-in limits: use the timeouts)."""
        index = self._slot(self._handout.take(self._timeout(checkout_timeout)))
        limits = self._limits(wall_clock_timeout, cpu_timeout, monitor)
        try:
            ref, call_id, generation, actor = self._submit(index, handler, event, tenant, limits)
        except BaseException:
            self._release(index)
            raise
        try:
            value = self._settle(index, generation, lambda: ray.get(ref))
        except Exception:
            self._release(index)
            raise
        except BaseException:  # KeyboardInterrupt while waiting
            self._abandon(actor, call_id, ref, index)
            raise
        self._release(index)
        return value

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
        """:meth:`call` for asyncio hosts; cancelling the task ends the
        handler on its actor."""
        index = self._slot(await self._handout.take_async(self._timeout(checkout_timeout)))
        limits = self._limits(wall_clock_timeout, cpu_timeout, monitor)
        try:
            ref, call_id, generation, actor = self._submit(index, handler, event, tenant, limits)
        except BaseException:
            self._release(index)
            raise
        try:
            outcome = await asyncio.wrap_future(ref.future())
        except asyncio.CancelledError:
            self._abandon(actor, call_id, ref, index)
            raise
        except BaseException as err:
            failure = err

            def fail() -> Any:
                raise failure

            try:
                return self._settle(index, generation, fail)
            finally:
                # After _settle: a lost actor's slot is then held back until
                # its replacement is up.
                self._release(index)
        self._release(index)
        return outcome

    def map(
        self,
        handler: str,
        events: Iterable[Any],
        *,
        tenant: Hashable = None,
        wall_clock_timeout: Seconds | None = None,
        cpu_timeout: Seconds | None = None,
        monitor: MonitorSpec | None = None,
        checkout_timeout: Seconds | None = None,
    ) -> list[Any]:
        """``handler`` on every event, spread over the actors, results in the
        order of ``events``. Every call runs to its end; then the first
        error (in that order) is raised, or the list of results returned."""
        limits = self._limits(wall_clock_timeout, cpu_timeout, monitor)
        timeout = self._timeout(checkout_timeout)
        outcomes: list[tuple[bool, Any]] = []
        pending: dict[Any, tuple[int, int, int]] = {}

        def settle_one() -> None:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            position, index, generation = pending.pop(ref)
            try:
                outcomes[position] = (True, self._settle(index, generation, lambda: ray.get(ref)))
            except Exception as exc:
                outcomes[position] = (False, exc)
            finally:
                self._release(index)

        try:
            for position, event in enumerate(events):
                got = self._handout.try_take()
                while got is None and pending:
                    settle_one()
                    got = self._handout.try_take()
                index = self._slot(got if got is not None else self._handout.take(timeout))
                try:
                    ref, _, generation, _ = self._submit(index, handler, event, tenant, dict(limits))
                except BaseException:
                    self._release(index)
                    raise
                outcomes.append((False, None))
                pending[ref] = (position, index, generation)
        finally:
            while pending:
                settle_one()
        for ok, value in outcomes:
            if not ok:
                raise value
        return [value for _, value in outcomes]

    def stats(self) -> dict[str, Any]:
        """The actors' pool stats summed (``size``, ``idle``, ``busy``,
        ``waiting``, ``created``, ``restores``, ``replaced``, ``terminations``,
        ``calls``; those of a replaced actor start again at zero), plus
        ``actors``, ``reachable`` (actors that answered), ``in_flight``
        (calls sent and not yet back), ``waiting`` also counts callers waiting
        for a slot here, ``workers_lost``, and ``per_actor``: each actor's own
        stats with its ``node`` and ``pid``."""
        with self._lock:
            actors = list(self._actors)
            lost = self._workers_lost
        per_actor: list[dict[str, Any] | None] = []
        for ref in [actor.stats.remote() for actor in actors]:
            try:
                per_actor.append(ray.get(ref, timeout=30))
            except Exception:
                per_actor.append(None)
        total: dict[str, Any] = {key: sum(s[key] for s in per_actor if s is not None) for key in _SUMMED}
        existing, idle_slots, waiting = self._handout.counts()
        total["waiting"] += waiting
        total["in_flight"] = existing - idle_slots
        total["actors"] = len(actors)
        total["reachable"] = sum(1 for s in per_actor if s is not None)
        total["workers_lost"] = lost
        total["per_actor"] = per_actor
        return total

    def close(self) -> None:
        """Fail waiting callers with :class:`PoolClosedError` and end the actors."""
        with self._lock:
            self._closed = True
        self._handout.close()
        self._kill_all()

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
