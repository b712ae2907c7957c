"""Scale of the monitor runtime: 256 concurrently monitored calls (16 in
smoke mode), each on its own thread with its own context running
``while (true) {}`` under a 0.2 s wall-clock limit; ours on the default
monitor runtime. Records the overshoot percentiles and the process's thread
count during the run, in a fresh process (``isolated.py``).

quickjs's ``Function`` is left out: its calls all run on one shared
executor thread, so 256 of them take 256 × 0.2 s. quickjs's limit is CPU
time of the whole process, which 256 spinning threads use up faster than
real time: its calls end early (negative overshoot).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import isolated
import peers

THREADS, SMOKE_THREADS = 256, 16
LIMIT_S = 0.2


@pytest.mark.parametrize("engine", [peers.OURS, "mini-racer", "quickjs-context"])
def test_scale_vs(
    engine: str,
    benchmark: BenchmarkFixture,
    require: Callable[[str], None],
    smoke: bool,
    report: Callable[..., None],
    record_percentiles: Callable[[Sequence[float]], object],
) -> None:
    require(engine)
    threads = SMOKE_THREADS if smoke else THREADS
    benchmark.group = "vs-scale"
    result: dict[str, object] = benchmark.pedantic(  # type: ignore[no-untyped-call]
        isolated.run, args=("scale",), kwargs={"engine": engine, "threads": threads, "limit_s": LIMIT_S}, rounds=1
    )
    overshoots = result["overshoots_ms"]
    baseline, peak = result["baseline_threads"], result["peak_threads"]
    assert isinstance(overshoots, list) and isinstance(baseline, int) and isinstance(peak, int)
    assert len(overshoots) == threads
    benchmark.extra_info["samples_ms"] = overshoots
    record_percentiles([sample / 1e3 for sample in overshoots])
    report(threads=threads, baseline_threads=baseline, peak_threads=peak, extra_threads=peak - baseline - threads)
