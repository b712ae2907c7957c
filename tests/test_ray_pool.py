"""RayPool on a real local Ray cluster: two nodes (raylets) on 127.0.0.1,
started once for the module. Each test's actors ask for 2 CPUs and each
node has 2, so two actors land on two different nodes."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (it is in requirements-dev.txt)")

from ray.cluster_utils import Cluster  # noqa: E402

from hyperlight_js import (  # noqa: E402
    ExecutionCancelled,
    GuestError,
    HandlerLoadError,
    HandlerNotFoundError,
    LoadedJSSandbox,
    PoolExhaustedError,
    SandboxBuilder,
    WorkerLostError,
)
from hyperlight_js.ray import RayPool  # noqa: E402

# The actors run in other processes, which cannot import this test module:
# ship its functions (the factory) by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

# One backend is enough here: what is tested is the distribution.
pytestmark = pytest.mark.backends("wasm")

NODE: dict[str, Any] = {"num_cpus": 2, "object_store_memory": 80 * 1024 * 1024}
ONE_PER_NODE = {"num_cpus": 2}


def factory() -> LoadedJSSandbox:
    def lose_worker(code: int) -> None:
        os._exit(code)  # the worker process dies mid-call

    def missing(key: str) -> str:
        raise KeyError(key)

    sandbox = SandboxBuilder().with_backend("wasm").with_host_print_fn(None).build()
    sandbox.register("host", "exit", lose_worker)
    sandbox.register("host", "missing", missing)
    js = sandbox.load_runtime()
    js.add_handler("echo", "function handler(e) { return e }")
    js.add_handler("square", "function handler(e) { return e * e }")
    js.add_handler("spin", "function handler(e) { while (true) {} }")
    js.add_handler("sleep", "function handler(e) { const end = Date.now() + e; while (Date.now() < end) {} return e }")
    js.add_handler("exit", 'import * as host from "host"; function handler(e) { host.exit(3) }')
    js.add_handler("missing", 'import * as host from "host"; function handler(e) { return host.missing(e) }')
    js.add_handler("throw", "function handler(e) { throw new RangeError('bad ' + e) }")
    return js.get_loaded_sandbox()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            **NODE,
            "include_dashboard": False,
            # Notice a node that left within seconds, not the default ~30 s.
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 4},
        },
    )
    cluster.add_node(**NODE)
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]


def test_map_spreads_over_two_nodes_and_keeps_order(cluster: Cluster) -> None:
    with RayPool(factory, actors=2, actor_options=ONE_PER_NODE) as pool:
        assert pool.map("square", range(20)) == [n * n for n in range(20)]
        assert pool.call("echo", {"a": [1]}) == {"a": [1]}
        stats = pool.stats()
        assert stats["actors"] == 2 and stats["reachable"] == 2
        assert len({actor["node"] for actor in stats["per_actor"]}) == 2
        assert stats["calls"] == 21 and stats["in_flight"] == 0


def test_typed_errors_cross_the_cluster(cluster: Cluster) -> None:
    with RayPool(factory, actors=1) as pool:
        with pytest.raises(ExecutionCancelled) as cancelled:
            pool.call("spin", {}, wall_clock_timeout=0.1)
        assert cancelled.value.monitor == "wall-clock"
        with pytest.raises(GuestError, match="RangeError: bad 1") as thrown:
            pool.call("throw", 1)
        assert thrown.value.stack is not None and "handler" in thrown.value.stack
        with pytest.raises(GuestError) as host:
            pool.call("missing", "k")
        assert isinstance(host.value.__cause__, KeyError)
        with pytest.raises(HandlerNotFoundError):
            pool.call("nope", 1)
        # map: every call runs, then the first failure in order is raised.
        with pytest.raises(ExecutionCancelled):
            pool.map("spin", [1, 2], cpu_timeout=0.05)
        assert pool.call("echo", "still serving") == "still serving"
        assert pool.stats()["terminations"] == 3


def broken_factory() -> LoadedJSSandbox:
    sandbox = SandboxBuilder().with_backend("wasm").with_host_print_fn(None).build().load_runtime()
    sandbox.add_handler("bad", "function handler(e) { return (")
    return sandbox.get_loaded_sandbox()


def test_a_failing_factory_raises_its_own_error_from_the_constructor(cluster: Cluster) -> None:
    with pytest.raises(HandlerLoadError):
        RayPool(broken_factory, actors=1)


def test_call_async_and_back_pressure(cluster: Cluster) -> None:
    async def main(pool: RayPool) -> None:
        results = await asyncio.gather(*(pool.call_async("square", n) for n in range(6)))
        assert list(results) == [n * n for n in range(6)]
        busy = asyncio.create_task(pool.call_async("sleep", 1500))
        queued = asyncio.create_task(pool.call_async("echo", "queued in the actor"))
        await asyncio.sleep(0.3)
        assert pool.stats()["in_flight"] == 2
        # One sandbox, one more call queued in the actor: the third waits
        # here, on the caller, and gives up after checkout_timeout.
        with pytest.raises(PoolExhaustedError):
            await pool.call_async("echo", 1, checkout_timeout=0.2)
        assert await busy == 1500
        assert await queued == "queued in the actor"

    with RayPool(factory, actors=1, queued_per_actor=1) as pool:
        asyncio.run(main(pool))
        assert pool.stats()["in_flight"] == 0


def test_cancelling_call_async_ends_the_remote_handler(cluster: Cluster) -> None:
    async def main(pool: RayPool) -> None:
        task = asyncio.create_task(pool.call_async("spin", {}))
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The slot comes back only once the handler really ended.
        assert await pool.call_async("echo", 1, checkout_timeout=20) == 1

    with RayPool(factory, actors=1) as pool:
        asyncio.run(main(pool))
        assert pool.stats()["terminations"] == 1


def test_a_worker_death_fails_its_calls_and_the_actor_is_replaced(cluster: Cluster) -> None:
    with RayPool(factory, actors=1, per_actor=2) as pool:
        before = pool.stats()["per_actor"][0]["pid"]
        other: list[BaseException] = []

        def held() -> None:
            try:
                pool.call("sleep", 3000)
            except BaseException as exc:
                other.append(exc)

        thread = threading.Thread(target=held)
        thread.start()
        time.sleep(0.5)
        with pytest.raises(WorkerLostError) as lost:
            pool.call("exit", 0)
        thread.join()
        assert lost.value.actor == 0
        assert len(other) == 1 and isinstance(other[0], WorkerLostError)
        assert pool.call("echo", "healed") == "healed"
        stats = pool.stats()
        assert stats["workers_lost"] == 1 and stats["per_actor"][0]["pid"] != before


def test_a_node_removed_mid_run(cluster: Cluster) -> None:
    with RayPool(factory, actors=2, actor_options=ONE_PER_NODE) as pool:
        head = ray.get_runtime_context().get_node_id()
        stats = pool.stats()["per_actor"]
        assert {actor["node"] for actor in stats} != {head}
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append(pool.map("sleep", [400] * 20))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(1)
        doomed = [node for node in cluster.list_all_nodes() if not node.head][0]  # type: ignore[no-untyped-call]
        cluster.remove_node(doomed, allow_graceful=False)
        # The lost calls fail; the others, and those sent while the lost
        # actor's replacement waits for a node, go to the surviving actor.
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], WorkerLostError)
        assert pool.map("square", range(4)) == [0, 1, 4, 9]
        # A node joins again (as an autoscaler would bring one); the
        # replacement starts there and the pool serves on both nodes.
        cluster.add_node(**NODE)
        assert pool.map("square", range(8), checkout_timeout=60) == [n * n for n in range(8)]
        stats2 = pool.stats()
        assert stats2["workers_lost"] == 1 and stats2["reachable"] == 2
