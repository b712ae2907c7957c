"""Every built-in loop of builtin_loops.py ends under the monitors and under
``kill()``, on every backend, and the sandbox works after ``restore()``.

Each case runs in its own process with a timeout: an engine whose C loop never
polls the interrupt runs for minutes (260 s for one ``reverse()``), and must
fail its test, not hang the suite. ``pytest tests/hostile -k builtin -s``
prints the worst time past the deadline per backend.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from builtin_loops import CASES, CPU_LIMIT, WALL_LIMIT, BuiltinCase

RUNNER = Path(__file__).with_name("builtin_loops.py")
# Far above a case's legitimate run (sandbox set-up, two calls of well under
# a second each, two restores) and far below "hangs".
PROCESS_TIMEOUT = 30.0
# What "ended" means here: seconds, not milliseconds (the overshoot itself is
# printed, and belongs to the benchmarks).
BOUND = 5.0

# (backend, way) -> (seconds past the deadline, case)
_worst: dict[tuple[str, str], tuple[float, str]] = {}


@pytest.fixture(scope="module", autouse=True)
def overshoot_summary() -> Iterator[None]:
    yield
    if _worst:
        print("\nbuiltin corpus, worst time past the deadline:")
        for (backend, way), (seconds, case) in sorted(_worst.items()):
            print(f"  {backend:<10} {way:<8} {seconds * 1000:8.1f} ms  ({case})")


def _record(backend: str, way: str, seconds: float, case: str) -> None:
    if seconds > _worst.get((backend, way), (float("-inf"), ""))[0]:
        _worst[(backend, way)] = (seconds, case)


def _run(case: BuiltinCase, backend: str) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [sys.executable, str(RUNNER), case.name, backend],
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case.name} on {backend}: still running after {PROCESS_TIMEOUT:.0f} s (the loop ignores the interrupt)")
    assert done.returncode == 0, f"the case's process failed ({done.returncode}): {done.stderr[-2000:]}"
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_the_builtin_corpus_covers_both_lengths() -> None:
    names = {case.name for case in CASES}
    assert len(CASES) >= 50
    assert sum(name.endswith("-2e32") for name in names) >= 20
    assert sum(name.endswith("-2e53") for name in names) >= 20


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_builtin_loop_ends(case: BuiltinCase, backend: str) -> None:
    report = _run(case, backend)
    for way in ("monitors", "kill"):
        outcome = report[way]
        assert outcome["outcome"] in case.expect, f"{way}: expected {case.expect}, got {outcome}"
        if case.message is not None:
            assert case.message in outcome["message"], f"{way}: {outcome}"
        assert outcome["elapsed"] < BOUND, f"{way}: ended after {outcome['elapsed']:.1f} s"
        assert outcome["sane_after_restore"], f"{way}: the sandbox misbehaves after restore()"

    monitored = report["monitors"]
    if monitored["outcome"] == "ExecutionCancelled":
        assert monitored["monitor"] in ("wall-clock", "cpu-time")
        deadline = WALL_LIMIT if monitored["monitor"] == "wall-clock" else CPU_LIMIT
        _record(backend, "monitors", monitored["elapsed"] - deadline, case.name)
    killed = report["kill"]
    if killed["outcome"] == "ExecutionCancelled":
        assert killed["monitor"] is None, "ended by kill(), not by a monitor"
        _record(backend, "kill", killed["after_kill"], case.name)
