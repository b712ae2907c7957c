"""Calls per second with N threads, one context per thread (created on it),
each calling a handler that does about 50 µs of work in QuickJS (the same
loop in every engine: V8 compiles it and runs it much faster); for N > 1 also
``scaling``, the rate over one thread's measured right around it.

quickjs's ``Function`` sends every call to one executor thread shared by all
Functions, so it cannot scale; ``quickjs-context`` is the raw context, called
on each thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import peers

WORK = "function handler(e) { let s = 0; for (let i = 0; i < 1000; i++) s += i * e.a; return { s } }"
EVENT = {"a": 1}
RESULT = {"s": 499500}
DURATION_S, SMOKE_DURATION_S = 0.5, 0.05


def calls_per_second(engine: str, threads: int, duration_s: float) -> float:
    counts = [0] * threads
    errors: list[BaseException] = []
    window: list[float] = []
    start = threading.Barrier(threads + 1, action=lambda: window.append(time.perf_counter() + duration_s))

    def worker(index: int) -> None:
        context = None
        try:
            context = peers.make(engine, WORK)
            assert context.call(EVENT) == RESULT
            start.wait()
            calls = 0
            while time.perf_counter() < window[0]:
                context.call(EVENT)
                calls += 1
            counts[index] = calls
        except BaseException as error:  # reported by the main thread
            errors.append(error)
            start.abort()
        finally:
            if context is not None:
                context.close()

    workers = [threading.Thread(target=worker, args=(index,), name=f"hljs-bench-{index}") for index in range(threads)]
    for thread in workers:
        thread.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass
    for thread in workers:
        thread.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.perf_counter() - window[0] + duration_s)


@pytest.mark.parametrize("threads", [1, 2, 4, 16])
@pytest.mark.parametrize("engine", [peers.OURS, "mini-racer", "quickjs", "quickjs-context", "hyperlight-sandbox"])
def test_parallel_vs(
    engine: str,
    threads: int,
    benchmark: BenchmarkFixture,
    require: Callable[[str], None],
    smoke: bool,
    report: Callable[..., None],
) -> None:
    require(engine)
    duration = SMOKE_DURATION_S if smoke else DURATION_S
    benchmark.group = "vs-parallel"
    # The machine's speed drifts by a quarter within minutes, so the 1-thread
    # benchmark, run at another moment, is no baseline for scaling: one
    # thread is measured just before and just after, and their mean divides.
    before = calls_per_second(engine, 1, duration) if threads > 1 else 0.0
    rate: float = benchmark.pedantic(  # type: ignore[no-untyped-call]
        calls_per_second, args=(engine, threads, duration), rounds=1
    )
    if threads == 1:
        report(calls_per_second=rate, threads=threads)
    else:
        baseline = (before + calls_per_second(engine, 1, duration)) / 2
        report(calls_per_second=rate, threads=threads, scaling=rate / baseline)
