"""What the pool benchmarks run: the parallelism benchmark's ~50 µs handler
and a no-op one, in sandboxes made by a factory that pickles (Ray ships it
to its actors), on the ``HLJS_BENCH_BACKEND`` backend if set."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from hyperlight_js import LoadedJSSandbox, SandboxBuilder

WORK = "function handler(e) { let s = 0; for (let i = 0; i < 1000; i++) s += i * e.a; return { s } }"
NOOP = "function handler(e) { return e }"
EXIT = 'import * as host from "host"; function handler(e) { host.exit(3) }'
EVENT = {"a": 1}
RESULT = {"s": 499500}


def _lose_worker(code: int) -> None:
    os._exit(code)


def build(backend: str | None) -> LoadedJSSandbox:
    builder = SandboxBuilder().with_host_print_fn(None)
    if backend:
        builder = builder.with_backend(cast(Any, backend))
    proto = builder.build()
    proto.register("host", "exit", _lose_worker)
    sandbox = proto.load_runtime()
    sandbox.add_handler("work", WORK)
    sandbox.add_handler("noop", NOOP)
    sandbox.add_handler("exit", EXIT)
    return sandbox.get_loaded_sandbox()


def factory() -> Callable[[], LoadedJSSandbox]:
    """A picklable factory for this configuration's backend."""
    return functools.partial(build, os.environ.get("HLJS_BENCH_BACKEND") or None)


def calls_per_second(threads: int, duration_s: float, call: Callable[[int], object]) -> float:
    """Calls per second of ``call(thread_index)`` from ``threads`` threads,
    all started together, for ``duration_s``."""
    counts = [0] * threads
    errors: list[BaseException] = []
    window: list[float] = []
    start = threading.Barrier(threads + 1, action=lambda: window.append(time.perf_counter() + duration_s))

    def worker(index: int) -> None:
        try:
            call(index)
            start.wait()
            calls = 0
            while time.perf_counter() < window[0]:
                call(index)
                calls += 1
            counts[index] = calls
        except BaseException as error:  # reported by the main thread
            errors.append(error)
            start.abort()

    workers = [threading.Thread(target=worker, args=(index,)) for index in range(threads)]
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


def per_call_us(calls: int, call: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls * 1e6
