from __future__ import annotations

import json
import time

import pytest

from corpus import CASES, Case, load_case
from hyperlight_js import CpuTimeMonitor, ExecutionCancelled, WallClockMonitor


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_handler(case: Case, backend: str) -> None:
    if backend in case.differs_on:
        pytest.skip(f"{backend} backend differs here: {case.differs_on[backend]}")
    loaded = load_case(case, backend)
    snapshot = loaded.snapshot()
    wall, cpu = case.limits
    started = time.monotonic()
    outcome: BaseException | None = None
    result = None
    try:
        result = json.loads(
            loaded.handle_event_with_monitor("case", json.dumps(case.event), (WallClockMonitor(wall), CpuTimeMonitor(cpu)))
        )
    except Exception as exc:  # noqa: BLE001 - the outcome is what is asserted
        outcome = exc
    elapsed = time.monotonic() - started

    if case.expect is None:
        assert outcome is None, f"expected success, got {outcome!r}"
        if case.result is not ...:
            assert result == case.result
    else:
        assert isinstance(outcome, case.expect), f"expected {case.expect}, got {outcome!r}"
        assert str(outcome), "every failure carries a message"
    if isinstance(outcome, ExecutionCancelled):
        assert outcome.monitor in ("wall-clock", "cpu-time")
        if case.winner is not None:
            assert outcome.monitor == case.winner
    assert loaded.poisoned is case.poisoned
    # Bounded: the monitors (or the failure) ended it; a blocked host call
    # holds the guest until it returns (1 s in host-blocks).
    assert elapsed < wall + 3

    loaded.restore(snapshot)
    assert not loaded.poisoned
    assert loaded.call_handler("sanity") is True, "state from the hostile call survived restore()"
