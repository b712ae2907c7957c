"""How far past a 50 ms limit ``while (true) {}`` runs before it is ended, us
against peers, on a quiet host and while another Python thread runs a
pure-Python loop (``busy``).

Wall-clock overshoot (all engines) is real time from the call to the
exception, minus the limit. CPU-time overshoot is, for ours
(``ours-cpu-time``), CPU used by the calling thread minus the budget. No peer
has a per-call CPU budget, but quickjs's limit is the CPU time of the whole
process (``clock()``), so its wall-clock figure mixes in how busy the machine
is; ``quickjs-context-process-cpu`` measures it on its own clock
(``time.process_time``). wasmtime runs a wasm loop, not JavaScript (see
``peers.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import peers
from hyperlight_js import CpuTimeMonitor, ExecutionCancelled, LoadedJSSandbox

SPIN = "function handler(e) { while (true) {} }"
LIMIT_S = 0.050
ENGINES = [
    "ours-wall-clock",
    "ours-cpu-time",
    "mini-racer",
    "quickjs",
    "quickjs-context",
    "quickjs-context-process-cpu",
    "wasmtime",
]


def overshoots(
    engine: str,
    samples: int,
    loaded: Callable[..., LoadedJSSandbox],
    engine_factory: Callable[[str, str], peers.Engine],
) -> Callable[[], list[float]]:
    """A function collecting ``samples`` overshoots (seconds) of ``engine``."""
    if engine == "ours-cpu-time":
        sandbox = loaded(h=SPIN)
        snapshot, budget = sandbox.snapshot(), CpuTimeMonitor(LIMIT_S)

        def cpu_time() -> float:
            start = time.thread_time()
            with pytest.raises(ExecutionCancelled):
                sandbox.handle_event_with_monitor("h", "{}", budget)
            overshoot = time.thread_time() - start - LIMIT_S
            sandbox.restore(snapshot)
            return overshoot

        return lambda: [cpu_time() for _ in range(samples)]

    name = {"ours-wall-clock": peers.OURS, "quickjs-context-process-cpu": "quickjs-context"}.get(engine, engine)
    clock = time.process_time if engine.endswith("process-cpu") else time.perf_counter
    context = engine_factory(name, SPIN)

    def limited() -> float:
        start = clock()
        with pytest.raises(context.killed):
            context.call_limited({}, LIMIT_S)
        overshoot = clock() - start - LIMIT_S
        context.recover()
        return overshoot

    return lambda: [limited() for _ in range(samples)]


@pytest.mark.parametrize("host", ["quiet", "busy"])
@pytest.mark.parametrize("engine", ENGINES)
def test_overshoot_vs(
    engine: str,
    host: str,
    benchmark: BenchmarkFixture,
    loaded: Callable[..., LoadedJSSandbox],
    engine_factory: Callable[[str, str], peers.Engine],
    samples: int,
    busy_host: Callable[[], AbstractContextManager[None]],
    record_percentiles: Callable[[Sequence[float]], object],
) -> None:
    collect = overshoots(engine, samples, loaded, engine_factory)

    def run() -> list[float]:
        with busy_host() if host == "busy" else nullcontext():
            return collect()

    benchmark.group = f"vs-overshoot-{host}"
    measured: list[float] = benchmark.pedantic(run, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    benchmark.extra_info["samples_ms"] = [round(sample * 1e3, 4) for sample in measured]
    record_percentiles(measured)
