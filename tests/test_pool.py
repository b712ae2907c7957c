from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from conftest import SPIN
from hyperlight_js import (
    ExecutionCancelled,
    GuestError,
    LoadedJSSandbox,
    PoolClosedError,
    PoolExhaustedError,
    SandboxBuilder,
    SandboxPool,
    SnapshotError,
)
from hyperlight_js import _native

# Remembers the last caller in the sandbox's global state, and reports the
# one before: what leaks between calls that share a sandbox.
REMEMBER = "function handler(e) { const before = globalThis.last ?? null; globalThis.last = e.who; return before }"
ECHO = "function handler(e) { return e }"
SLOW = "function handler(e) { const end = Date.now() + e.ms; while (Date.now() < end) {} return e.n }"


def make_factory(builder: SandboxBuilder, **extra: str) -> Callable[[], LoadedJSSandbox]:
    def factory() -> LoadedJSSandbox:
        sandbox = builder.build()
        sandbox.register("host", "double", lambda x: 2 * x)
        js = sandbox.load_runtime()
        js.add_handler("echo", ECHO)
        js.add_handler("remember", REMEMBER)
        js.add_handler("slow", SLOW)
        js.add_handler("spin", SPIN)
        js.add_handler("double", 'import * as host from "host"; function handler(e) { return host.double(e) }')
        for name, source in extra.items():
            js.add_handler(name, source)
        return js.get_loaded_sandbox()

    return factory


def wait_until(condition: Callable[[], bool], what: str, limit: float = 10) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def test_call_returns_results_and_makes_the_warm_sandboxes_up_front(builder: SandboxBuilder) -> None:
    with SandboxPool(make_factory(builder), size=2) as pool:
        assert pool.stats()["created"] == 2
        assert pool.stats()["idle"] == 2
        assert pool.call("echo", {"a": [1, 2]}) == {"a": [1, 2]}
        assert pool.call("double", 21) == 42
        stats = pool.stats()
        assert (stats["size"], stats["idle"], stats["busy"], stats["waiting"]) == (2, 2, 0, 0)
        assert stats["calls"] == 2 and stats["created"] == 2


def test_many_threads_share_a_small_pool(builder: SandboxBuilder) -> None:
    results: dict[int, object] = {}
    with SandboxPool(make_factory(builder), size=2, max_size=3) as pool:

        def worker(k: int) -> None:
            for i in range(10):
                results[k * 100 + i] = pool.call("slow", {"ms": 1, "n": k * 100 + i}, wall_clock_timeout=10)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == {key: key for key in results} and len(results) == 80
        stats = pool.stats()
        assert stats["calls"] == 80 and stats["busy"] == 0 and stats["waiting"] == 0
        assert 2 <= stats["created"] <= 3


def test_a_tenant_never_sees_another_tenants_state(builder: SandboxBuilder) -> None:
    with SandboxPool(make_factory(builder), size=1) as pool:
        assert pool.call("remember", {"who": "alice"}, tenant="alice") is None
        # Same tenant, reset="on-poison": the sandbox was not restored.
        assert pool.call("remember", {"who": "alice"}, tenant="alice") == "alice"
        assert pool.call("remember", {"who": "bob"}, tenant="bob") is None
        assert pool.call("remember", {"who": None}) is None  # tenant=None is a tenant too
        assert pool.call("remember", {"who": "alice"}, tenant="alice") is None
        assert pool.stats()["restores"] == 3


def test_reset_always_restores_after_every_call(builder: SandboxBuilder) -> None:
    with SandboxPool(make_factory(builder), size=1, reset="always") as pool:
        for _ in range(3):
            assert pool.call("remember", {"who": "alice"}, tenant="alice") is None
        assert pool.stats()["restores"] == 3


def test_idle_sandboxes_stay_with_their_tenant(builder: SandboxBuilder) -> None:
    with SandboxPool(make_factory(builder), size=2) as pool:
        for _ in range(5):
            for tenant in ("alice", "bob"):
                pool.call("remember", {"who": tenant}, tenant=tenant)
        assert pool.stats()["restores"] == 0


def test_the_sandbox_block_checks_out_and_returns(builder: SandboxBuilder) -> None:
    with SandboxPool(make_factory(builder), size=1) as pool:
        with pool.sandbox(tenant="t") as loaded:
            assert isinstance(loaded, LoadedJSSandbox)
            assert pool.stats()["busy"] == 1
            assert loaded.call_handler("echo", 5) == 5
        assert pool.stats()["idle"] == 1


def test_a_killed_call_is_reported_and_its_sandbox_healed(builder: SandboxBuilder) -> None:
    with SandboxPool(make_factory(builder), size=1) as pool:
        with pytest.raises(ExecutionCancelled) as info:
            pool.call("spin", {}, wall_clock_timeout=0.05)
        assert info.value.monitor == "wall-clock"
        with pytest.raises(ExecutionCancelled):
            with pool.sandbox() as loaded:
                loaded.call_handler("spin", {}, cpu_timeout=0.05)
        stats = pool.stats()
        assert stats["terminations"] == 2 and stats["restores"] == 2 and stats["created"] == 1
        assert pool.call("echo", "ok") == "ok"


def test_guest_errors_pass_through_and_do_not_restore(builder: SandboxBuilder) -> None:
    with SandboxPool(make_factory(builder, boom="function handler(e) { throw new TypeError('no') }"), size=1) as pool:
        with pytest.raises(GuestError, match="TypeError: no"):
            pool.call("boom", {})
        assert pool.stats()["restores"] == 0


def test_checkout_timeout_raises_pool_exhausted(builder: SandboxBuilder) -> None:
    with SandboxPool(make_factory(builder), size=1, checkout_timeout=0.1) as pool:
        with pool.sandbox():
            started = time.monotonic()
            with pytest.raises(PoolExhaustedError) as info:
                pool.call("echo", 1)
            assert time.monotonic() - started >= 0.1
            assert info.value.timeout == pytest.approx(0.1)
            with pytest.raises(PoolExhaustedError):
                pool.call("echo", 1, checkout_timeout=0)
        assert pool.stats()["waiting"] == 0
        assert pool.call("echo", 1) == 1


def test_growth_stops_at_max_size(builder: SandboxBuilder) -> None:
    with SandboxPool(make_factory(builder), size=1, max_size=2, checkout_timeout=0.05) as pool:
        with pool.sandbox(), pool.sandbox():
            assert pool.stats()["created"] == 2
            with pytest.raises(PoolExhaustedError):
                with pool.sandbox():
                    pass
        assert pool.stats()["idle"] == 2


def test_waiters_are_served_first_come_first_served(builder: SandboxBuilder) -> None:
    order: list[int] = []
    with SandboxPool(make_factory(builder), size=1) as pool:
        threads = []
        with pool.sandbox():
            for k in range(4):
                thread = threading.Thread(target=lambda k=k: order.append(pool.call("echo", k)))
                thread.start()
                threads.append(thread)
                waiters = k + 1
                wait_until(lambda: pool.stats()["waiting"] == waiters, f"{waiters} waiters")
        for thread in threads:
            thread.join()
    assert order == [0, 1, 2, 3]


class FailingRestore(LoadedJSSandbox):
    """A sandbox whose restore fails, as a broken engine's would."""

    __slots__ = ()

    def restore(self, snapshot: _native.Snapshot) -> None:
        raise SnapshotError("simulated restore failure")


def test_a_sandbox_whose_restore_fails_is_replaced(builder: SandboxBuilder) -> None:
    made: list[LoadedJSSandbox] = []
    base = make_factory(builder)

    def factory() -> LoadedJSSandbox:
        loaded = base()
        if not made:
            loaded = FailingRestore(loaded._native)
        made.append(loaded)
        return loaded

    with SandboxPool(factory, size=1) as pool:
        with pytest.raises(ExecutionCancelled):
            pool.call("spin", {}, wall_clock_timeout=0.05)
        stats = pool.stats()
        assert stats["replaced"] == 1 and stats["created"] == 2 and stats["size"] == 1
        with pool.sandbox() as loaded:
            assert loaded is made[1] and not loaded.poisoned
            assert loaded.call_handler("echo", 3) == 3


def test_when_the_replacement_fails_too_the_pool_regrows_on_demand(builder: SandboxBuilder) -> None:
    fail = {"factory": False}
    base = make_factory(builder)

    def factory() -> LoadedJSSandbox:
        if fail["factory"]:
            raise RuntimeError("factory down")
        return FailingRestore(base()._native)

    with SandboxPool(factory, size=1) as pool:
        fail["factory"] = True
        with pytest.raises(ExecutionCancelled):  # the caller's own error, not the factory's
            pool.call("spin", {}, wall_clock_timeout=0.05)
        assert pool.stats()["size"] == 0
        with pytest.raises(RuntimeError, match="factory down"):
            pool.call("echo", 1)
        fail["factory"] = False
        assert pool.call("echo", 1) == 1
        assert pool.stats()["size"] == 1


def test_a_factory_must_return_a_loaded_sandbox(builder: SandboxBuilder) -> None:
    with pytest.raises(TypeError, match="LoadedJSSandbox"):
        SandboxPool(lambda: "nope", size=1)  # type: ignore[arg-type, return-value]
    with pytest.raises(ValueError, match="reset"):
        SandboxPool(make_factory(builder), size=1, reset="never")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_size"):
        SandboxPool(make_factory(builder), size=2, max_size=1)
    with pytest.raises(ValueError, match="checkout_timeout"):
        SandboxPool(make_factory(builder), size=0, checkout_timeout=-1)


def test_close_fails_waiters_and_refuses_new_calls(builder: SandboxBuilder) -> None:
    pool = SandboxPool(make_factory(builder), size=1)
    failures: list[BaseException] = []

    def wait() -> None:
        try:
            pool.call("echo", 1)
        except BaseException as exc:
            failures.append(exc)

    with pool.sandbox():
        thread = threading.Thread(target=wait)
        thread.start()
        wait_until(lambda: pool.stats()["waiting"] == 1, "a waiter")
        pool.close()
        thread.join()
    assert len(failures) == 1 and isinstance(failures[0], PoolClosedError)
    assert pool.stats()["size"] == 0
    with pytest.raises(PoolClosedError):
        pool.call("echo", 1)


def test_call_async_waits_without_blocking_the_loop(builder: SandboxBuilder) -> None:
    async def main(pool: SandboxPool) -> tuple[list[object], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        results = await asyncio.gather(
            *(pool.call_async("slow", {"ms": 50, "n": n}, wall_clock_timeout=10) for n in range(8))
        )
        task.cancel()
        return list(results), ticks

    with SandboxPool(make_factory(builder), size=1) as pool:
        results, ticks = asyncio.run(main(pool))
        assert results == list(range(8))
        # 8 x 50 ms one at a time: the loop ticked while seven tasks waited.
        assert ticks >= 10, f"the loop was blocked: only {ticks} ticks"
        assert pool.stats()["calls"] == 8


def test_call_async_checkout_timeout_and_tenants(builder: SandboxBuilder) -> None:
    async def main(pool: SandboxPool) -> None:
        assert await pool.call_async("remember", {"who": "a"}, tenant="a") is None
        assert await pool.call_async("remember", {"who": "b"}, tenant="b") is None
        with pool.sandbox():
            with pytest.raises(PoolExhaustedError):
                await pool.call_async("echo", 1, checkout_timeout=0.05)

    with SandboxPool(make_factory(builder), size=1) as pool:
        asyncio.run(main(pool))
        assert pool.stats()["waiting"] == 0 and pool.stats()["idle"] == 1


def test_cancelling_call_async_ends_the_handler_and_returns_the_sandbox_clean(builder: SandboxBuilder) -> None:
    async def main(pool: SandboxPool) -> None:
        running = asyncio.create_task(pool.call_async("spin", {}))
        waiting = asyncio.create_task(pool.call_async("echo", 1))
        await asyncio.sleep(0.2)
        assert pool.stats()["waiting"] == 1
        waiting.cancel()
        running.cancel()
        for task in (running, waiting):
            with pytest.raises(asyncio.CancelledError):
                await task

    with SandboxPool(make_factory(builder), size=1) as pool:
        asyncio.run(main(pool))
        wait_until(lambda: pool.stats()["idle"] == 1, "the sandbox came back")
        stats = pool.stats()
        assert stats["waiting"] == 0 and stats["terminations"] == 1 and stats["restores"] == 1
        assert pool.call("echo", 2) == 2


def test_pool_stats_are_prometheus_metrics(builder: SandboxBuilder) -> None:
    from prometheus_client import CollectorRegistry

    from hyperlight_js import metrics

    registry = CollectorRegistry()
    metrics.register_pool_collector(registry)
    with SandboxPool(make_factory(builder), size=2, name="tenant-pool") as pool:
        pool.call("echo", 1)
        with pytest.raises(ExecutionCancelled):
            pool.call("spin", {}, wall_clock_timeout=0.05)
        labels = {"pool": "tenant-pool"}
        assert registry.get_sample_value("sandbox_pool_size", labels) == 2
        assert registry.get_sample_value("sandbox_pool_idle", labels) == 2
        assert registry.get_sample_value("sandbox_pool_restores_total", labels) == 1
        assert registry.get_sample_value("sandbox_pool_terminations_total", labels) == 1
        assert registry.get_sample_value("sandbox_pool_calls_total", labels) == 2


def test_no_sandbox_is_lost_under_mixed_timeouts_and_cancellations(builder: SandboxBuilder) -> None:
    """Threads that give up after tiny checkout timeouts and asyncio tasks
    cancelled while they wait race the hand-offs; afterwards every sandbox
    is back and nobody is left waiting."""
    outcomes = {"ok": 0, "exhausted": 0}
    lock = threading.Lock()

    def thread_caller(pool: SandboxPool, seed: int) -> None:
        for i in range(30):
            try:
                pool.call("slow", {"ms": 1, "n": i}, checkout_timeout=(seed + i) % 4 * 0.001)
                key = "ok"
            except PoolExhaustedError:
                key = "exhausted"
            with lock:
                outcomes[key] += 1

    async def asyncio_callers(pool: SandboxPool) -> None:
        for round_ in range(10):
            tasks = [asyncio.create_task(pool.call_async("slow", {"ms": 1, "n": n})) for n in range(6)]
            await asyncio.sleep(0.001 * (round_ % 3))
            for task in tasks[::2]:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    with SandboxPool(make_factory(builder), size=2, max_size=3) as pool:
        threads = [threading.Thread(target=thread_caller, args=(pool, seed)) for seed in range(6)]
        for thread in threads:
            thread.start()
        asyncio.run(asyncio_callers(pool))
        for thread in threads:
            thread.join()
        wait_until(lambda: pool.stats()["busy"] == 0, "every sandbox came back")
        stats = pool.stats()
        assert stats["waiting"] == 0 and stats["idle"] == stats["size"] and 2 <= stats["size"] <= 3
        assert outcomes["ok"] + outcomes["exhausted"] == 180 and outcomes["ok"] > 0
        assert pool.call("echo", "fine") == "fine"
