"""SandboxPool against sandboxes managed by hand.

``test_pool_throughput``: calls per second of the ~50 µs handler from N
threads, through one pool of N sandboxes (``pool``) or with one sandbox per
thread made by hand (``by-hand``); the pool's rows also record
``vs_by_hand``, its rate over the by-hand rate measured right before it.
``test_pool_call_overhead``: the time per call of a no-op handler through
``pool.call`` and directly with ``call_handler``, interleaved, and the
difference (what the pool adds to every call).
``test_snapshot_start``: the time to make one sandbox with the factory
(register, add handlers, load them) against loading it from a snapshot file
(``SnapshotFactory``: ``Snapshot.load`` once, then per sandbox
``load_snapshot``), for the pool's handlers (``small``) and for a handler
whose top-level code builds a 20 000-entry table (``heavy-init``), with the
file's size and the time of ``Snapshot.load`` itself.
"""

from __future__ import annotations

import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hyperlight_js import LoadedJSSandbox, ProtoJSSandbox, SandboxBuilder, SandboxPool, Snapshot, SnapshotFactory
from pool_work import EVENT, RESULT, _lose_worker, build, calls_per_second, factory, per_call_us

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


HEAVY_INIT = """
const table = new Map();
for (let i = 0; i < 20000; i++) table.set("k" + i, { i, square: i * i, text: "entry " + i });
function handler(e) { return table.get(e.key) }
"""


def build_heavy(backend: str | None) -> LoadedJSSandbox:
    builder = SandboxBuilder().with_host_print_fn(None)
    if backend:
        builder = builder.with_backend(backend)
    proto = builder.build()
    proto.register("host", "exit", _lose_worker)
    sandbox = proto.load_runtime()
    sandbox.add_handler("lookup", HEAVY_INIT)
    return sandbox.get_loaded_sandbox()


def register_exit(proto: ProtoJSSandbox) -> None:
    proto.register("host", "exit", _lose_worker)


def median_ms(rounds: int, make: Callable[[], object]) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        make()
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples)


@pytest.mark.parametrize("handlers", ["small", "heavy-init"])
def test_snapshot_start(handlers: str, benchmark: BenchmarkFixture, smoke: bool, report: Callable[..., None]) -> None:
    rounds = 3 if smoke else 30
    backend = os.environ.get("HLJS_BENCH_BACKEND") or None
    make = functools.partial(build if handlers == "small" else build_heavy, backend)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "warm.snap"
        make().snapshot().save(path)
        from_file = SnapshotFactory(path, prepare=register_exit, print_fn=None)

        def measure() -> tuple[float, float, float]:
            # Interleaved, as in test_pool_call_overhead.
            factory_ms = median_ms(rounds, make)
            load_ms = median_ms(rounds, from_file)
            file_load_ms = median_ms(rounds, lambda: Snapshot.load(path))
            return factory_ms, load_ms, file_load_ms

        benchmark.group = "snapshot-start"
        factory_ms, load_ms, file_load_ms = benchmark.pedantic(measure, rounds=1)  # type: ignore[no-untyped-call]
        report(
            factory_ms=factory_ms,
            load_snapshot_ms=load_ms,
            snapshot_file_load_ms=file_load_ms,
            file_kib=path.stat().st_size / 1024,
        )
