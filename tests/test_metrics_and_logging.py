from __future__ import annotations

import logging

import pytest

from conftest import SPIN, LoadFn
from hyperlight_js import CpuTimeMonitor, ExecutionCancelled, WallClockMonitor, metrics


def test_the_winner_is_named_in_the_exception_the_metric_and_the_log(load: LoadFn, caplog: pytest.LogCaptureFixture) -> None:
    loaded = load(spin=SPIN)
    snapshot = loaded.snapshot()
    before = metrics.monitor_terminations()
    with caplog.at_level(logging.WARNING, logger="hyperlight_js.monitor"):
        with pytest.raises(ExecutionCancelled) as info:
            loaded.handle_event_with_monitor("spin", "{}", (WallClockMonitor(10), CpuTimeMonitor(0.05)))
        loaded.restore(snapshot)
        with pytest.raises(ExecutionCancelled):
            loaded.handle_event_with_monitor("spin", "{}", (WallClockMonitor(0.05), CpuTimeMonitor(10)))
    after = metrics.monitor_terminations()
    assert info.value.monitor == "cpu-time"
    assert after.get("cpu-time", 0) == before.get("cpu-time", 0) + 1
    assert after.get("wall-clock", 0) == before.get("wall-clock", 0) + 1
    records = [r for r in caplog.records if r.name == "hyperlight_js.monitor"]
    assert [getattr(r, "triggered_by") for r in records] == ["cpu-time", "wall-clock"]
    assert all(r.levelno == logging.WARNING for r in records)


class _Collect(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_termination_record_is_made_only_for_a_handler_that_takes_it(
    load: LoadFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No record is made when only NullHandlers (or handlers above WARNING)
    would see it: it is on the caller's path between the kill and the
    exception. Any real handler still gets it."""
    logger = logging.getLogger("hyperlight_js.monitor")
    monkeypatch.setattr(logger, "propagate", False)  # pytest's own handlers sit on the root
    made: list[str] = []
    make_record = logger.makeRecord

    def counting(*args: object, **kwargs: object) -> logging.LogRecord:
        made.append("record")
        return make_record(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(logger, "makeRecord", counting)
    loaded = load(spin=SPIN)
    snapshot = loaded.snapshot()

    def kill() -> None:
        with pytest.raises(ExecutionCancelled):
            loaded.handle_event_with_monitor("spin", "{}", WallClockMonitor(0.02))
        loaded.restore(snapshot)

    loud = _Collect(logging.ERROR)
    monkeypatch.setattr(logger, "handlers", [logging.NullHandler(), loud])
    kill()
    assert made == [] and loud.records == []
    heard = _Collect(logging.WARNING)
    logger.handlers.append(heard)
    kill()
    assert made == ["record"]
    assert [getattr(r, "triggered_by") for r in heard.records] == ["wall-clock"]
    assert loud.records == []


def test_a_handler_that_finishes_is_not_counted(load: LoadFn) -> None:
    loaded = load(h="function handler() { return 1 }")
    before = metrics.monitor_terminations()
    for _ in range(20):
        loaded.handle_event_with_monitor("h", "{}", (WallClockMonitor(5), CpuTimeMonitor(5)))
    assert metrics.monitor_terminations() == before


def test_a_manual_kill_is_not_a_monitor_termination(load: LoadFn) -> None:
    import threading
    import time

    loaded = load(spin=SPIN)
    handle = loaded.interrupt_handle()
    before = metrics.monitor_terminations()
    threading.Timer(0.05, handle.kill).start()
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event_with_monitor("spin", "{}", WallClockMonitor(10))
    time.sleep(0.01)
    assert info.value.monitor is None
    assert metrics.monitor_terminations() == before


def test_prometheus_exposition(load: LoadFn) -> None:
    import prometheus_client
    loaded = load(spin=SPIN)
    with pytest.raises(ExecutionCancelled):
        loaded.handle_event_with_monitor("spin", "{}", CpuTimeMonitor(0.02))
    registry = prometheus_client.CollectorRegistry()
    metrics.register_prometheus_collector(registry)
    text = prometheus_client.generate_latest(registry).decode()
    count = metrics.monitor_terminations()["cpu-time"]
    assert f'monitor_terminations_total{{monitor_type="cpu-time"}} {float(count)}' in text
    # Importing hyperlight_js registered it on the default registry too.
    assert "monitor_terminations_total" in prometheus_client.generate_latest().decode()


# Each order of imports in a fresh interpreter: the collectors reach the
# default registry whether the host imported prometheus_client before
# hyperlight_js or after it, and hyperlight_js alone imports neither it nor
# asyncio (a process that serves no metrics and runs no Python monitors
# starts without them).
_AFTER = """
import sys
import hyperlight_js
assert "prometheus_client" not in sys.modules and "asyncio" not in sys.modules, sorted(
    m for m in ("prometheus_client", "asyncio") if m in sys.modules)
import prometheus_client
"""
_BEFORE = """
import prometheus_client
import hyperlight_js
"""
_CHECK = """
text = prometheus_client.generate_latest().decode()
assert "monitor_terminations_total" in text and "active_js_sandboxes" in text, text[:400]
import prometheus_client.exposition
print("registered")
"""


@pytest.mark.backends("in-process")  # about imports, not a backend
@pytest.mark.parametrize("order", [_AFTER, _BEFORE], ids=["prometheus-imported-after", "prometheus-imported-before"])
def test_the_default_registry_gets_the_collectors_in_either_import_order(order: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", order + _CHECK], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "registered"
