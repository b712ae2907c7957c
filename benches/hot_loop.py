"""One benchmark case in a tight loop, for a profiler to attach to (the
benchmarks themselves interleave too much to profile):

    perf record -g -- .venv/bin/python benches/hot_loop.py round-trip 300000
    .venv/bin/py-spy record --native -o profile.svg -- .venv/bin/python benches/hot_loop.py round-trip 300000

Cases: ``round-trip`` (no-op ``handle_event``, default GC), ``round-trip-no-gc``
(``gc=False``), ``work`` (the parallelism benchmark's ~50 µs handler). The
backend is ``HLJS_BENCH_BACKEND``'s, as in the benchmarks. Prints the mean
time per call.
"""

from __future__ import annotations

import sys
import time

import peers

NOOP = "function handler(e) { return e }"
WORK = "function handler(e) { let s = 0; for (let i = 0; i < 1000; i++) s += i * e.a; return { s } }"
CASES = {
    "round-trip": (NOOP, '{"a":1}', True),
    "round-trip-no-gc": (NOOP, '{"a":1}', False),
    "work": (WORK, '{"a":1}', True),
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in CASES:
        print(f"usage: hot_loop.py {{{','.join(CASES)}}} CALLS", file=sys.stderr)
        return 2
    source, event, gc = CASES[argv[0]]
    calls = int(argv[1])
    sandbox = peers.ours_builder().build().load_runtime()
    sandbox.add_handler("h", source)
    loaded = sandbox.get_loaded_sandbox()
    start = time.perf_counter()
    for _ in range(calls):
        loaded.handle_event("h", event, gc=gc)
    elapsed = time.perf_counter() - start
    print(f"{argv[0]} on {loaded.backend}: {elapsed / calls * 1e6:.2f} µs per call over {calls} calls")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
