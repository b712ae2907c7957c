"""wasm compute against in-process on the same handlers (issue 14, goal 3:
≤ 1.25×): three handlers of different kinds, interleaved in one run, the
best batch of each, ``gc=False`` so only the JavaScript is compared. Both
backends are built directly (not through ``HLJS_BENCH_BACKEND``): the ratio
is the point. docs/performance.md says where the time goes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hyperlight_js import LoadedJSSandbox, SandboxBuilder, doctor

HANDLERS = {
    "loop": ("function handler(e) { let s = 0; for (let i = 0; i < 1000; i++) s += i * e.a; return { s } }", '{"a":1}'),
    "calls": ("function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) } function handler(e) { return fib(e.n) }", '{"n":15}'),
    "objects": (
        "function handler(e) { const o = []; for (let i = 0; i < 200; i++) o.push({ k: 'x' + i, v: [i, i * 2] });"
        " return JSON.stringify(o).length }",
        "{}",
    ),
}
BACKENDS = ("in-process", "wasm")


def _load(backend: str, source: str) -> LoadedJSSandbox:
    sandbox = SandboxBuilder().with_backend(backend).with_host_print_fn(None).build().load_runtime()
    sandbox.add_handler("h", source)
    return sandbox.get_loaded_sandbox()


def _best_per_call(sandbox: LoadedJSSandbox, event: str, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        sandbox.handle_event("h", event, gc=False)
    return (time.perf_counter() - start) / calls


def test_wasm_compute_ratio(benchmark: BenchmarkFixture, report: Callable[..., None], smoke: bool) -> None:
    missing = [s.name for s in doctor.backends() if s.name in BACKENDS and not s.runs_here]
    if missing:
        pytest.skip(f"needs both backends; not running here: {', '.join(missing)}")
    calls, batches = (3, 1) if smoke else (200, 7)

    def measure() -> dict[str, float]:
        out: dict[str, float] = {}
        for name, (source, event) in HANDLERS.items():
            sandboxes = {backend: _load(backend, source) for backend in BACKENDS}
            best = {backend: float("inf") for backend in BACKENDS}
            for _ in range(batches):
                for backend, sandbox in sandboxes.items():
                    best[backend] = min(best[backend], _best_per_call(sandbox, event, calls))
            out[f"{name}_in_process_us"] = best["in-process"] * 1e6
            out[f"{name}_wasm_us"] = best["wasm"] * 1e6
            out[f"ratio_{name}_wasm_vs_in_process"] = best["wasm"] / best["in-process"]
        return out

    benchmark.group = "wasm-compute"
    result: dict[str, float] = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    report(**result)
