"""What ``last_call_stats()`` costs the unmonitored round trip: a no-op
handler called with ``gc=False`` (the cheapest call there is), on a sandbox
that measures only the wall clock (the default) and on one built with
``with_cpu_time_stats(True)``, which reads the thread's CPU clock twice per
call (two system calls on Linux)."""

from __future__ import annotations

from pytest_benchmark.fixture import BenchmarkFixture

import peers
from hyperlight_js import LoadedJSSandbox

NOOP = "function handler(e) { return e }"
EVENT_JSON = '{"a":1}'


def _loaded(cpu_time_stats: bool) -> LoadedJSSandbox:
    sandbox = peers.ours_builder().with_cpu_time_stats(cpu_time_stats).build().load_runtime()
    sandbox.add_handler("h", NOOP)
    return sandbox.get_loaded_sandbox()


def test_round_trip_wall_clock_stats_only(benchmark: BenchmarkFixture) -> None:
    sandbox = _loaded(False)
    benchmark.group = "call-stats"
    assert benchmark(sandbox.handle_event, "h", EVENT_JSON, gc=False) == EVENT_JSON
    stats = sandbox.last_call_stats()
    assert stats is not None and stats.cpu_time is None


def test_round_trip_with_cpu_time_stats(benchmark: BenchmarkFixture) -> None:
    sandbox = _loaded(True)
    benchmark.group = "call-stats"
    assert benchmark(sandbox.handle_event, "h", EVENT_JSON, gc=False) == EVENT_JSON
    stats = sandbox.last_call_stats()
    assert stats is not None and stats.cpu_time is not None
