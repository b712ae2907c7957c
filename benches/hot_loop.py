"""One benchmark case in a tight loop, for a profiler to attach to (the
benchmarks themselves interleave too much to profile):

    perf record -g -- .venv/bin/python benches/hot_loop.py round-trip 300000
    .venv/bin/py-spy record --native -o profile.svg -- .venv/bin/python benches/hot_loop.py round-trip 300000

Cases: ``round-trip`` (no-op ``handle_event``, ``gc=True``: a full collection every call), ``round-trip-no-gc``
(``gc=False``), ``monitored-no-gc`` (the same under ``(WallClockMonitor(5),
CpuTimeMonitor(5))``, which never fire), ``work`` (the parallelism
benchmark's ~50 µs handler), ``builtins-no-gc`` (array and string built-ins
whose C loops poll the interrupt: sort, reverse, slice, splice, join, JSON,
repeat, pad). The backend is ``HLJS_BENCH_BACKEND``'s, as in
the benchmarks. Prints the mean time per call.

``hot_loop.py threads N`` runs the parallelism benchmark's loop on N threads
for 2 s and prints calls per second with the CPU the process used: whether
the cores were busy, and how much CPU each call cost.
"""

from __future__ import annotations

import os
import sys
import time

import peers
from hyperlight_js import CpuTimeMonitor, WallClockMonitor

NOOP = "function handler(e) { return e }"
WORK = "function handler(e) { let s = 0; for (let i = 0; i < 1000; i++) s += i * e.a; return { s } }"
# Array and string built-ins whose C loops poll the interrupt (vendor/README.md).
BUILTINS = (
    "const base = []; for (let i = 0; i < 300; i++) base.push((i * 7919) % 1000);"
    " function handler(e) { const a = base.slice().reverse().sort(); a.splice(10, 5); a.unshift(e.a);"
    " return { n: a.concat(base).join(',').length + JSON.stringify(a).length + 'ab'.repeat(100).padEnd(300).length } }"
)
CASES = {
    "round-trip": (NOOP, '{"a":1}', True, False),
    "round-trip-no-gc": (NOOP, '{"a":1}', False, False),
    "monitored-no-gc": (NOOP, '{"a":1}', False, True),
    "work": (WORK, '{"a":1}', True, False),
    "builtins-no-gc": (BUILTINS, '{"a":1}', False, False),
}


def threads(count: int) -> None:
    from test_vs_parallel import calls_per_second

    calls_per_second(peers.OURS, count, 0.3)  # warm-up
    cpu, wall = os.times(), time.perf_counter()
    rate = calls_per_second(peers.OURS, count, 2.0)
    cpu_end, wall_end = os.times(), time.perf_counter()
    used = (cpu_end.user + cpu_end.system) - (cpu.user + cpu.system)
    cores = used / (wall_end - wall)
    print(f"{count} threads on {peers.ours_backend()}: {rate:,.0f} calls/s, {cores:.2f} cores busy, {cores / rate * 1e6:.1f} µs CPU per call")


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "threads":
        threads(int(argv[1]))
        return 0
    if len(argv) != 2 or argv[0] not in CASES:
        print(f"usage: hot_loop.py {{{','.join(CASES)}}} CALLS, or hot_loop.py threads N", file=sys.stderr)
        return 2
    source, event, gc, monitored = CASES[argv[0]]
    calls = int(argv[1])
    sandbox = peers.ours_builder().build().load_runtime()
    sandbox.add_handler("h", source)
    loaded = sandbox.get_loaded_sandbox()
    limits = (WallClockMonitor(5.0), CpuTimeMonitor(5.0))
    start = time.perf_counter()
    if monitored:
        for _ in range(calls):
            loaded.handle_event_with_monitor("h", event, limits, gc=gc)
    else:
        for _ in range(calls):
            loaded.handle_event("h", event, gc=gc)
    elapsed = time.perf_counter() - start
    print(f"{argv[0]} on {loaded.backend}: {elapsed / calls * 1e6:.2f} µs per call over {calls} calls")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
