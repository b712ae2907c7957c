"""The host-call round trip, guest → Python → guest, per call: a no-op, a
call with a small JSON object, and (where the build supports it) a
Uint8Array argument. Run on each backend:

    .venv/bin/python benches/host_call_round_trip.py [calls] [repeats]

It prints the best of `repeats` runs of `calls` calls inside one handler
call, in microseconds per host call.
"""

from __future__ import annotations

import sys
import time

from hyperlight_js import SandboxBuilder
from hyperlight_js.doctor import backends

HANDLER = """
import * as host from 'host';
function handler(e) {
  const arg = e.kind === 'object' ? {a: 1, b: [1, 2, 3], c: 'text'} : e.kind === 'bytes' ? new Uint8Array(64) : undefined;
  for (let i = 0; i < e.n; i++) { if (arg === undefined) host.noop(); else host.noop(arg); }
  return e.n;
}
"""


def per_call(backend: str, kind: str, calls: int, repeats: int) -> float:
    proto = SandboxBuilder().with_backend(backend).with_host_print_fn(None).build()
    proto.register("host", "noop", lambda *args: None)
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", HANDLER)
    loaded = sandbox.get_loaded_sandbox()
    loaded.call_handler("h", {"n": 100, "kind": kind})
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        loaded.call_handler("h", {"n": calls, "kind": kind})
        best = min(best, time.perf_counter() - start)
    return best / calls * 1e6


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    for backend in (b.name for b in backends() if b.runs_here):
        for kind in ("noop", "object", "bytes"):
            print(f"{backend:12} {kind:8} {per_call(backend, kind, calls, repeats):7.3f} µs/call")


if __name__ == "__main__":
    main()
