"""Cost of one call to a no-op handler: the floor every call pays."""

from __future__ import annotations

from collections.abc import Callable

from pytest_benchmark.fixture import BenchmarkFixture

from hyperlight_js import LoadedJSSandbox

NOOP = "function handler(e) { return e }"
EVENT_JSON = '{"a":1}'


def test_handle_event(benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox]) -> None:
    sandbox = loaded(h=NOOP)
    benchmark.group = "round-trip"
    assert benchmark(sandbox.handle_event, "h", EVENT_JSON) == EVENT_JSON


def test_handle_event_no_gc(benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox]) -> None:
    sandbox = loaded(h=NOOP)
    benchmark.group = "round-trip"
    assert benchmark(sandbox.handle_event, "h", EVENT_JSON, gc=False) == EVENT_JSON


def test_call_handler_dict(benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox]) -> None:
    sandbox = loaded(h=NOOP)
    benchmark.group = "round-trip"
    assert benchmark(sandbox.call_handler, "h", {"a": 1}) == {"a": 1}
