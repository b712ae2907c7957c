"""SandboxPool against sandboxes managed by hand.

``test_pool_throughput``: calls per second of the ~50 µs handler from N
threads, through one pool of N sandboxes (``pool``) or with one sandbox per
thread made by hand (``by-hand``); the pool's rows also record
``vs_by_hand``, its rate over the by-hand rate measured right before it.
``test_pool_call_overhead``: the time per call of a no-op handler through
``pool.call`` and directly with ``call_handler``, interleaved, and the
difference (what the pool adds to every call).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hyperlight_js import SandboxPool
from pool_work import EVENT, RESULT, calls_per_second, factory, per_call_us

DURATION_S, SMOKE_DURATION_S = 0.5, 0.05


def by_hand_rate(threads: int, duration: float) -> float:
    make = factory()
    sandboxes = [make() for _ in range(threads)]
    return calls_per_second(threads, duration, lambda index: sandboxes[index].call_handler("work", EVENT))


def pool_rate(threads: int, duration: float) -> float:
    with SandboxPool(factory(), size=threads) as pool:
        assert pool.call("work", EVENT) == RESULT
        return calls_per_second(threads, duration, lambda index: pool.call("work", EVENT))


@pytest.mark.parametrize("threads", [1, 2, 4, 16])
@pytest.mark.parametrize("mode", ["pool", "by-hand"])
def test_pool_throughput(
    mode: str, threads: int, benchmark: BenchmarkFixture, smoke: bool, report: Callable[..., None]
) -> None:
    duration = SMOKE_DURATION_S if smoke else DURATION_S
    benchmark.group = "pool-throughput"
    if mode == "by-hand":
        rate: float = benchmark.pedantic(by_hand_rate, args=(threads, duration), rounds=1)  # type: ignore[no-untyped-call]
        report(calls_per_second=rate, threads=threads)
        return
    baseline = by_hand_rate(threads, duration)
    rate = benchmark.pedantic(pool_rate, args=(threads, duration), rounds=1)  # type: ignore[no-untyped-call]
    report(calls_per_second=rate, threads=threads, vs_by_hand=rate / baseline)


def test_pool_call_overhead(benchmark: BenchmarkFixture, smoke: bool, report: Callable[..., None]) -> None:
    calls = 20 if smoke else 5000
    make = factory()
    direct = make()
    with SandboxPool(make, size=1) as pool:

        def measure() -> tuple[float, float]:
            # Interleaved rounds, best of each: the machine's speed drifts.
            pooled_us, direct_us = [], []
            for _ in range(5):
                pooled_us.append(per_call_us(calls, lambda: pool.call("noop", EVENT)))
                direct_us.append(per_call_us(calls, lambda: direct.call_handler("noop", EVENT)))
            return min(pooled_us), min(direct_us)

        benchmark.group = "pool-overhead"
        pooled, plain = benchmark.pedantic(measure, rounds=1)  # type: ignore[no-untyped-call]
    report(pool_call_us=pooled, direct_call_us=plain, overhead_us=pooled - plain)
