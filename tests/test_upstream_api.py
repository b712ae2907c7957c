"""Where the API meets hyperlight-js's own tests: what ``unload()`` gives
back, ``JSSandbox.poisoned``, empty handler names, ``last_call_stats()``
(upstream's ``guest-call-stats``) and the lifecycle metrics (upstream's
``docs/observability.md``)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Awaitable

import pytest

from conftest import SPIN, LoadFn
from hyperlight_js import (
    ExecutionCancelled,
    ExecutionStats,
    HandlerNotFoundError,
    SandboxBusyError,
    SandboxBuilder,
    WallClockMonitor,
    metrics,
    monitor,
)
from hyperlight_js.monitor import ExecutionMonitor

COUNTER = "let count = 0; function handler(e) { e.count = ++count; return e }"


def test_unload_gives_back_a_sandbox_with_no_handlers(builder: SandboxBuilder) -> None:
    """upstream: src/hyperlight-js/src/sandbox/loaded_js_sandbox.rs
    (test_add_handler_unload_and_reuse_resets_state) and
    src/js-host-api/examples/unload.js: the same name is added again, the
    new load starts from scratch and the old code is gone."""
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("handler", COUNTER)
    loaded = sandbox.get_loaded_sandbox()
    assert loaded.call_handler("handler", {}) == {"count": 1}
    assert loaded.call_handler("handler", {}) == {"count": 2}
    sandbox = loaded.unload()
    assert sandbox.handler_names == []
    sandbox.add_handler("handler", COUNTER)
    loaded = sandbox.get_loaded_sandbox()
    assert loaded.call_handler("handler", {}) == {"count": 1}
    sandbox = loaded.unload()
    sandbox.add_handler("handler", "function handler(e) { return 'Goodbye, ' + e.name }")
    assert sandbox.get_loaded_sandbox().call_handler("handler", {"name": "Bob"}) == "Goodbye, Bob"


def test_a_snapshot_from_before_unload_restores_exactly_its_state(builder: SandboxBuilder) -> None:
    """upstream: src/hyperlight-js/src/sandbox/loaded_js_sandbox.rs
    (test_snapshot_and_restore): two handlers added after unload() are gone
    once the earlier snapshot is restored, the old one answers with its
    state, and nothing poisons."""
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("old", COUNTER)
    loaded = sandbox.get_loaded_sandbox()
    captured = loaded.snapshot()
    assert loaded.call_handler("old", {}) == {"count": 1}
    sandbox = loaded.unload()
    sandbox.add_handler("new1", "function handler() { return 'new1' }")
    sandbox.add_handler("new2", "function handler() { return 'new2' }")
    reloaded = sandbox.get_loaded_sandbox()
    assert reloaded.call_handler("new2") == "new2"
    reloaded.restore(captured)
    assert reloaded.call_handler("old", {}) == {"count": 1}
    for name in ("new1", "new2"):
        with pytest.raises(HandlerNotFoundError):
            reloaded.call_handler(name)
    assert reloaded.call_handler("old", {}) == {"count": 2}
    assert not reloaded.poisoned


def test_a_js_sandbox_is_never_poisoned(load: LoadFn) -> None:
    """upstream: src/js-host-api/tests/sandbox.test.js ("should report
    poisoned state") and src/hyperlight-js/src/sandbox/js_sandbox.rs
    (poisoned(); its unload() restores a clean snapshot). Also one unloaded
    from a poisoned loaded sandbox."""
    loaded = load(spin=SPIN)
    with pytest.raises(ExecutionCancelled):
        loaded.call_handler("spin", wall_clock_timeout=0.05)
    assert loaded.poisoned
    sandbox = loaded.unload()
    assert sandbox.poisoned is False
    sandbox.add_handler("h", "function handler() { return 7 }")
    again = sandbox.get_loaded_sandbox()
    assert not again.poisoned
    assert again.call_handler("h") == 7


def test_an_empty_handler_name_is_a_value_error_everywhere(builder: SandboxBuilder) -> None:
    """upstream: src/js-host-api/tests/sandbox.test.js ("should reject empty
    handler name on add / on remove / on callHandler": ERR_INVALID_ARG) and
    src/hyperlight-js/src/sandbox/js_sandbox.rs, loaded_js_sandbox.rs."""
    sandbox = builder.build().load_runtime()
    with pytest.raises(ValueError, match="empty"):
        sandbox.add_handler("", "function handler() {}")
    with pytest.raises(ValueError, match="empty"):
        sandbox.remove_handler("")
    with pytest.raises(HandlerNotFoundError):
        sandbox.remove_handler("missing")
    sandbox.add_handler("h", "function handler() { return 1 }")
    loaded = sandbox.get_loaded_sandbox()
    with pytest.raises(ValueError, match="empty"):
        loaded.handle_event("", "{}")
    with pytest.raises(ValueError, match="empty"):
        loaded.call_handler("")
    with pytest.raises(ValueError, match="empty"):
        loaded.handle_event_with_monitor("", "{}", WallClockMonitor(5))
    with pytest.raises(ValueError, match="empty"):
        asyncio.run(loaded.call_handler_async(""))
    assert not loaded.poisoned
    assert loaded.call_handler("h") == 1


BUSY_100_MS = "function handler() { const end = Date.now() + 100; while (Date.now() < end) {} return true }"
BUSY = (
    "function handler(e) { if (e && e.fail) throw new Error('no'); "
    "let x = 0; for (let i = 0; i < 200000; i++) x += i; return x > 0 }"
)


def test_there_are_no_call_stats_before_a_call_or_after_a_refused_one(load: LoadFn) -> None:
    loaded = load(h=BUSY)
    assert loaded.last_call_stats() is None
    loaded.call_handler("h")
    assert isinstance(loaded.last_call_stats(), ExecutionStats)
    with pytest.raises(HandlerNotFoundError):
        loaded.call_handler("missing")
    assert loaded.last_call_stats() is None


def test_unmonitored_calls_have_wall_clock_stats_and_cpu_time_on_request(
    load: LoadFn, builder: SandboxBuilder
) -> None:
    plain = load(h=BUSY)
    plain.handle_event("h", "{}")
    stats = plain.last_call_stats()
    assert stats is not None
    assert stats.wall_clock > 0 and stats.cpu_time is None and stats.terminated_by is None

    measured = load(builder.with_cpu_time_stats(True), h=BUSY, busy_100ms=BUSY_100_MS)
    assert measured.call_handler("h") is True
    stats = measured.last_call_stats()
    assert stats is not None and stats.cpu_time is not None
    # Long enough for a thread CPU clock that ticks in 15.6 ms steps (Windows).
    measured.call_handler("busy_100ms")
    stats = measured.last_call_stats()
    assert stats is not None and stats.cpu_time is not None
    assert 0 < stats.cpu_time
    assert stats.terminated_by is None
    with pytest.raises(Exception, match="no"):
        measured.call_handler("h", {"fail": True})
    failed = measured.last_call_stats()
    assert failed is not None and failed.cpu_time is not None and failed.terminated_by is None


class AfterDelay(ExecutionMonitor):
    """A Python monitor that completes after 50 ms."""

    name = "stats-test"

    def get_monitor(self) -> Awaitable[None]:
        return monitor.sleep(0.05)


def test_terminated_calls_name_their_monitor_in_the_stats(load: LoadFn) -> None:
    loaded = load(spin=SPIN, h="function handler() { return 1 }")
    snapshot = loaded.snapshot()
    assert loaded.call_handler("h", wall_clock_timeout=5) == 1
    stats = loaded.last_call_stats()
    assert stats is not None and stats.cpu_time is not None and stats.terminated_by is None

    with pytest.raises(ExecutionCancelled):
        loaded.call_handler("spin", wall_clock_timeout=0.1)
    stats = loaded.last_call_stats()
    assert stats is not None
    assert stats.terminated_by == "wall-clock"
    assert stats.wall_clock >= 0.1 and stats.cpu_time is not None and stats.cpu_time > 0

    loaded.restore(snapshot)
    with pytest.raises(ExecutionCancelled):
        loaded.call_handler("spin", cpu_timeout=0.05, wall_clock_timeout=10)
    assert (stats := loaded.last_call_stats()) is not None and stats.terminated_by == "cpu-time"

    loaded.restore(snapshot)
    with pytest.raises(ExecutionCancelled):
        loaded.call_handler("spin", monitor=AfterDelay())
    assert (stats := loaded.last_call_stats()) is not None and stats.terminated_by == "stats-test"

    loaded.restore(snapshot)
    threading.Timer(0.05, loaded.interrupt_handle().kill).start()
    with pytest.raises(ExecutionCancelled):
        loaded.call_handler("spin", wall_clock_timeout=10)
    stats = loaded.last_call_stats()
    assert stats is not None and stats.terminated_by is None, "a kill() is no monitor"
    with pytest.raises(Exception):
        loaded.call_handler("h")
    assert loaded.last_call_stats() is None


def _delta(before: dict[str, int]) -> dict[str, int]:
    gc.collect()
    after = metrics.lifecycle_metrics()
    return {name: after[name] - before[name] for name in after if after[name] != before[name]}


def test_lifecycle_metrics_follow_each_stage(builder: SandboxBuilder) -> None:
    """upstream: src/hyperlight-js/src/sandbox/metrics.rs and
    docs/observability.md: a gauge per stage of the sandboxes alive, a
    counter per stage of those made, and counters of loads and unloads."""
    gc.collect()
    before = metrics.lifecycle_metrics()
    assert set(before) == {
        "active_proto_js_sandboxes",
        "active_js_sandboxes",
        "active_loaded_js_sandboxes",
        "proto_js_sandboxes_total",
        "js_sandboxes_total",
        "loaded_js_sandboxes_total",
        "sandbox_loads_total",
        "sandbox_unloads_total",
    }
    proto = builder.build()
    assert _delta(before) == {"active_proto_js_sandboxes": 1, "proto_js_sandboxes_total": 1}
    sandbox = proto.load_runtime()
    assert _delta(before) == {"proto_js_sandboxes_total": 1, "active_js_sandboxes": 1, "js_sandboxes_total": 1}
    sandbox.add_handler("h", "function handler() { return 1 }")
    loaded = sandbox.get_loaded_sandbox()
    made = {"proto_js_sandboxes_total": 1, "js_sandboxes_total": 1, "loaded_js_sandboxes_total": 1}
    assert _delta(before) == {**made, "active_loaded_js_sandboxes": 1, "sandbox_loads_total": 1}
    sandbox = loaded.unload()
    made["js_sandboxes_total"] = 2
    assert _delta(before) == {**made, "active_js_sandboxes": 1, "sandbox_loads_total": 1, "sandbox_unloads_total": 1}
    del sandbox, loaded, proto
    assert _delta(before) == {**made, "sandbox_loads_total": 1, "sandbox_unloads_total": 1}


def test_a_failed_load_keeps_its_sandbox_alive_and_counts_no_load(builder: SandboxBuilder) -> None:
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("h", "throw new Error('at load'); function handler() {}")
    gc.collect()
    before = metrics.lifecycle_metrics()
    with pytest.raises(Exception, match="at load"):
        sandbox.get_loaded_sandbox()
    assert _delta(before) == {}
    del sandbox
    assert _delta(before) == {"active_js_sandboxes": -1}


def test_the_prometheus_collector_publishes_the_lifecycle_metrics(load: LoadFn) -> None:
    import prometheus_client

    keep = load(h="function handler() { return 1 }")
    registry = prometheus_client.CollectorRegistry()
    metrics.register_prometheus_collector(registry)
    text = prometheus_client.generate_latest(registry).decode()
    values = metrics.lifecycle_metrics()
    assert values["active_loaded_js_sandboxes"] >= 1
    for name, value in values.items():
        kind = "gauge" if name.startswith("active_") else "counter"
        assert f"# TYPE {name} {kind}" in text
        assert f"\n{name} {float(value)}\n" in text
    assert keep.call_handler("h") == 1


def test_dropping_a_loaded_sandbox_lowers_its_gauge(load: LoadFn) -> None:
    loaded = load(h="function handler() { return 1 }")
    gc.collect()
    before = metrics.lifecycle_metrics()
    del loaded
    time.sleep(0)
    assert _delta(before) == {"active_loaded_js_sandboxes": -1}


def test_a_cancelled_async_call_is_terminated_by_task_cancelled(load: LoadFn) -> None:
    loaded = load(spin=SPIN)

    async def cancel() -> None:
        task = asyncio.create_task(loaded.call_handler_async("spin"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel())
    # The call ends on the executor thread after the task gave up on it.
    deadline = time.monotonic() + 5
    while True:
        try:
            stats = loaded.last_call_stats()
        except SandboxBusyError:
            assert time.monotonic() < deadline, "the cancelled call never ended"
            time.sleep(0.01)
            continue
        if stats is not None or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert stats is not None and stats.terminated_by == "task-cancelled"
    assert loaded.poisoned
