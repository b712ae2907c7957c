"""RayPool against the local SandboxPool, on a one-node local Ray cluster
(2 CPUs) started once for the module (about 10 s, also in smoke mode).

``test_ray_call_overhead``: time per sequential call of a no-op handler
through ``RayPool.call`` (one actor) and through a local ``pool.call``, and
the difference: what a hop to an actor costs. ``test_ray_throughput``: calls
per second of the ~50 µs handler with ``map`` over 1 or 2 actors (with 0 or
1 call queued in each actor besides the running one), against a
local pool of as many sandboxes driven by as many threads (``vs_local``).
``test_ray_worker_replacement``: a handler whose host function ends the
worker process; ``detect_ms`` is the time until the call raises
``WorkerLostError``, ``replace_ms`` the time from then until a call succeeds
on the replacement actor (a new worker process, the factory run again).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import pool_work
from hyperlight_js import SandboxPool, WorkerLostError
from pool_work import EVENT, RESULT, calls_per_second, factory, per_call_us

ray = pytest.importorskip("ray", reason="missing: ray")
from hyperlight_js.ray import RayPool  # noqa: E402

# Ray's workers cannot import the benches folder: ship the factory by value.
ray.cloudpickle.register_pickle_by_value(pool_work)
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=80 * 1024 * 1024)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_call_overhead(
    local_ray: None, benchmark: BenchmarkFixture, smoke: bool, report: Callable[..., None]
) -> None:
    calls = 5 if smoke else 300
    with RayPool(factory(), actors=1) as remote, SandboxPool(factory(), size=1) as local:
        remote.call("noop", EVENT)

        def measure() -> tuple[float, float]:
            remote_us, local_us = [], []
            for _ in range(3):
                remote_us.append(per_call_us(calls, lambda: remote.call("noop", EVENT)))
                local_us.append(per_call_us(calls * 10, lambda: local.call("noop", EVENT)))
            return min(remote_us), min(local_us)

        benchmark.group = "ray-overhead"
        ray_us, local_us = benchmark.pedantic(measure, rounds=1)  # type: ignore[no-untyped-call]
    report(ray_call_us=ray_us, local_pool_call_us=local_us, overhead_us=ray_us - local_us)


@pytest.mark.parametrize("queued", [0, 1])
@pytest.mark.parametrize("actors", [1, 2])
def test_ray_throughput(
    actors: int,
    queued: int, local_ray: None, benchmark: BenchmarkFixture, smoke: bool, report: Callable[..., None]
) -> None:
    events = 20 if smoke else 2000
    with SandboxPool(factory(), size=actors) as local:
        local_rate = calls_per_second(actors, 0.05 if smoke else 1.0, lambda index: local.call("work", EVENT))
    with RayPool(factory(), actors=actors, queued_per_actor=queued) as remote:
        remote.map("work", [EVENT] * actors)

        def run() -> float:
            started = time.perf_counter()
            results = remote.map("work", [EVENT] * events)
            elapsed = time.perf_counter() - started
            assert results == [RESULT] * events
            return events / elapsed

        benchmark.group = "ray-throughput"
        rate: float = benchmark.pedantic(run, rounds=1)  # type: ignore[no-untyped-call]
    report(calls_per_second=rate, actors=actors, queued=queued, local_calls_per_second=local_rate, vs_local=rate / local_rate)


def test_ray_worker_replacement(
    local_ray: None, benchmark: BenchmarkFixture, smoke: bool, report: Callable[..., None]
) -> None:
    rounds = 1 if smoke else 5
    with RayPool(factory(), actors=1) as pool:
        pool.call("noop", EVENT)

        def lose_and_recover() -> tuple[float, float]:
            detect, replace = [], []
            for _ in range(rounds):
                started = time.perf_counter()
                with pytest.raises(WorkerLostError):
                    pool.call("exit", 0)
                lost = time.perf_counter()
                assert pool.call("noop", EVENT) == EVENT
                detect.append(lost - started)
                replace.append(time.perf_counter() - lost)
            return sorted(detect)[len(detect) // 2], sorted(replace)[len(replace) // 2]

        benchmark.group = "ray-worker-loss"
        detect_s, replace_s = benchmark.pedantic(lose_and_recover, rounds=1)  # type: ignore[no-untyped-call]
        assert pool.stats()["workers_lost"] == rounds
    report(detect_ms=detect_s * 1e3, replace_ms=replace_s * 1e3)
