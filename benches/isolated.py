"""Measurements that need a process of their own: thread counts and RSS are
the process's, and must not include what earlier benchmarks left behind.

``run(case, **params)`` runs ``python isolated.py '<json>'`` and returns the
dict the child prints as its last line of output. Cases:

- ``scale(engine, threads, limit_s)``: ``threads`` threads, each with its own
  context, all run ``while (true) {}`` at once under a wall-clock limit of
  ``limit_s``; returns the overshoots and the process's thread count before
  and during the run. The main thread samples it every millisecond, but with
  hundreds of spinning threads it may not be scheduled until many calls have
  ended, so each caller also samples it as soon as its call has ended.
- ``rss_per_context(engine, count)``: RSS growth per context, for ``count``
  contexts that have each handled one event (after one warm-up context).
- ``kill_cycles(engine, cycles, limit_s)``: RSS over ``cycles`` kills of a
  spinning handler by the engine's limit, each followed by ``recover()``
  (ours: ``restore(snapshot)``), measured from after a warm-up tenth.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped,unused-ignore]

import peers

SPIN = "function handler(e) { while (true) {} }"
NOOP = "function handler(e) { return e }"
MIB = 1024 * 1024
TIMEOUT_S = 600


def run(case: str, **params: Any) -> dict[str, Any]:
    argument = json.dumps({"case": case, **params})
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), argument],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{case} {params} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def scale(engine: str, threads: int, limit_s: float) -> dict[str, Any]:
    process = psutil.Process()
    baseline = process.num_threads()
    overshoots: list[float] = []
    counts: list[int] = []
    errors: list[BaseException] = []
    ready = threading.Barrier(threads + 1)
    lock = threading.Lock()

    def worker() -> None:
        context = None
        try:
            context = peers.make(engine, SPIN)
            ready.wait()
            start = time.perf_counter()
            try:
                context.call_limited({}, limit_s)
            except context.killed:
                overshoot = time.perf_counter() - start - limit_s
            else:
                raise AssertionError("the spinning handler returned")
            count = process.num_threads()
            with lock:
                overshoots.append(overshoot)
                counts.append(count)
            context.recover()
        except BaseException as error:  # reported by the main thread
            errors.append(error)
            ready.abort()
        finally:
            if context is not None:
                context.close()

    workers = [threading.Thread(target=worker, name=f"hljs-bench-{index}") for index in range(threads)]
    for thread in workers:
        thread.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        pass
    peak = process.num_threads()
    while any(thread.is_alive() for thread in workers):
        peak = max(peak, process.num_threads())
        time.sleep(0.001)
    for thread in workers:
        thread.join()
    if errors:
        raise errors[0]
    return {
        "overshoots_ms": [sample * 1e3 for sample in overshoots],
        "baseline_threads": baseline,
        "peak_threads": max(peak, *counts),
    }


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def rss_per_context(engine: str, count: int) -> dict[str, Any]:
    def make() -> peers.Engine:
        context = peers.make(engine, NOOP)
        assert context.call({"a": 1}) == {"a": 1}
        return context

    warm_up = make()
    before = rss()
    contexts = [make() for _ in range(count)]
    after = rss()
    for context in [warm_up, *contexts]:
        context.close()
    return {"kib_per_context": (after - before) / count / 1024, "count": count}


def kill_cycles(engine: str, cycles: int, limit_s: float) -> dict[str, Any]:
    context = peers.make(engine, SPIN)

    def kill() -> None:
        try:
            context.call_limited({}, limit_s)
        except context.killed:
            context.recover()
        else:
            raise AssertionError("the spinning handler returned")

    warm_up = max(1, cycles // 10)
    for _ in range(warm_up):
        kill()
    start = time.perf_counter()
    curve = [(0, rss() / MIB)]
    step = max(1, cycles // 20)
    for cycle in range(1, cycles + 1):
        kill()
        if cycle % step == 0 or cycle == cycles:
            curve.append((cycle, rss() / MIB))
    seconds = time.perf_counter() - start
    context.close()
    return {
        "growth_mib": curve[-1][1] - curve[0][1],
        "rss_mib": curve,
        "cycles": cycles,
        "warm_up": warm_up,
        "ms_per_cycle": seconds / cycles * 1e3,
    }


def main() -> None:
    params = json.loads(sys.argv[1])
    case, engine = params.pop("case"), params["engine"]
    reason = peers.unavailable(engine)  # on the main thread, see peers.py
    if reason is not None:
        raise SystemExit(reason)
    cases: dict[str, Callable[..., dict[str, Any]]] = {
        "scale": scale,
        "rss_per_context": rss_per_context,
        "kill_cycles": kill_cycles,
    }
    print(json.dumps(cases[case](**params)))


if __name__ == "__main__":
    main()
