"""Memory, each in a fresh process (``isolated.py``): RSS per loaded context
(100 of them, each after one call; ours with its snapshot), and RSS growth
over 10,000 kills by a 1 ms limit, each followed by recovery (ours:
``restore(snapshot)``; peers keep using the killed context, which they
allow). Smoke mode uses 10 contexts and 20 kills.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import isolated
import peers

CONTEXTS, SMOKE_CONTEXTS = 100, 10
CYCLES, SMOKE_CYCLES = 10_000, 20
KILL_LIMIT_S = 0.001


@pytest.mark.parametrize("engine", [peers.OURS, "mini-racer", "quickjs", "quickjs-context", "hyperlight-sandbox"])
def test_rss_per_context_vs(
    engine: str,
    benchmark: BenchmarkFixture,
    require: Callable[[str], None],
    smoke: bool,
    report: Callable[..., None],
) -> None:
    require(engine)
    count = SMOKE_CONTEXTS if smoke else CONTEXTS
    benchmark.group = "vs-memory"
    result: dict[str, float] = benchmark.pedantic(  # type: ignore[no-untyped-call]
        isolated.run, args=("rss_per_context",), kwargs={"engine": engine, "count": count}, rounds=1
    )
    report(kib_per_context=result["kib_per_context"], contexts=count)


@pytest.mark.parametrize("engine", [peers.OURS, "mini-racer", "quickjs", "quickjs-context", "wasmtime"])
def test_kill_cycles_vs(
    engine: str,
    benchmark: BenchmarkFixture,
    require: Callable[[str], None],
    smoke: bool,
    report: Callable[..., None],
) -> None:
    require(engine)
    cycles = SMOKE_CYCLES if smoke else CYCLES
    benchmark.group = "vs-kill-cycles"
    result: dict[str, object] = benchmark.pedantic(  # type: ignore[no-untyped-call]
        isolated.run,
        args=("kill_cycles",),
        kwargs={"engine": engine, "cycles": cycles, "limit_s": KILL_LIMIT_S},
        rounds=1,
    )
    growth, per_cycle, curve = result["growth_mib"], result["ms_per_cycle"], result["rss_mib"]
    assert isinstance(growth, float) and isinstance(per_cycle, float)
    benchmark.extra_info["rss_mib"] = curve
    report(growth_mib=growth, ms_per_cycle=per_cycle, cycles=cycles)
