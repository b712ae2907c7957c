"""Every bad input is a typed exception, and says what state it leaves."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest

from conftest import LoadFn
from hyperlight_js import (
    ExecutionMonitor,
    GuestError,
    GuestOutOfMemoryError,
    HandlerNotFoundError,
    HyperlightError,
    InvalidEventError,
    ResultNotSerializableError,
    SandboxBuilder,
    SandboxPoisonedError,
    WallClockMonitor,
    monitor,
)

RESULTS = """
function handler(e) {
  switch (e.kind) {
    case 'undefined': return undefined;
    case 'bigint': return 10n;
    case 'cycle': { const a = {}; a.self = a; return a; }
    case 'toJSON': return { toJSON() { throw new Error('toJSON says no') } };
    case 'getter': return { get boom() { throw new RangeError('getter says no') } };
    case 'function': return () => 1;
    case 'throw': throw new TypeError('thrown on purpose');
    case 'throw-value': throw 42;
    default: return 'ok';
  }
}
"""


@pytest.mark.parametrize("name", ["", "missing"])
def test_unknown_or_empty_handler_names(load: LoadFn, name: str) -> None:
    loaded = load(h="function handler() { return 1 }")
    with pytest.raises((HandlerNotFoundError, ValueError)):
        loaded.handle_event(name, "{}")
    assert not loaded.poisoned
    assert loaded.handle_event("h", "{}") == "1"


@pytest.mark.parametrize("event", ["", "{", "not json", "{'single': 1}", "[1,]", "NaN"])
def test_event_text_that_is_not_json(load: LoadFn, event: str) -> None:
    loaded = load(h="function handler(e) { return e }")
    with pytest.raises(InvalidEventError):
        loaded.handle_event("h", event)
    assert not loaded.poisoned
    assert loaded.handle_event("h", "[]") == "[]"


def test_lone_surrogates(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { return e }")
    # A Python str holding a lone surrogate cannot be UTF-8: a typed error.
    with pytest.raises(InvalidEventError):
        loaded.handle_event("h", '"\ud800"')
    # Escaped in the JSON text it is valid JSON, and survives the round trip.
    assert loaded.handle_event("h", '"\\ud800"') == '"\\ud800"'
    assert loaded.call_handler("h", "\udc00x") == "\udc00x"
    assert not loaded.poisoned


def test_events_python_cannot_send_as_json(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { return e }")
    with pytest.raises(InvalidEventError):
        loaded.call_handler("h", {"x": object()})
    with pytest.raises(InvalidEventError):
        loaded.call_handler("h", float("nan"))


@pytest.mark.parametrize("kind", ["undefined", "bigint", "cycle", "toJSON", "getter", "function"])
def test_results_json_cannot_hold(load: LoadFn, kind: str) -> None:
    loaded = load(h=RESULTS)
    with pytest.raises(ResultNotSerializableError):
        loaded.call_handler("h", {"kind": kind})
    assert not loaded.poisoned
    assert loaded.call_handler("h", {"kind": "fine"}) == "ok"


def test_uncaught_exceptions_carry_message_and_stack(load: LoadFn) -> None:
    loaded = load(h=RESULTS)
    with pytest.raises(GuestError) as info:
        loaded.call_handler("h", {"kind": "throw"})
    assert info.value.message == "TypeError: thrown on purpose"
    assert info.value.stack is not None and "handler" in info.value.stack
    with pytest.raises(GuestError, match="42"):
        loaded.call_handler("h", {"kind": "throw-value"})
    assert not loaded.poisoned


def test_heap_limit_poisons_and_restore_recovers(builder: SandboxBuilder) -> None:
    sandbox = builder.with_guest_heap_size(16 * 1024 * 1024).build().load_runtime()
    sandbox.add_handler("grow", "function handler() { const a = []; while (true) a.push('x'.repeat(4096) + a.length) }")
    sandbox.add_handler("ok", "function handler() { return 'fine' }")
    loaded = sandbox.get_loaded_sandbox()
    snapshot = loaded.snapshot()
    with pytest.raises(GuestOutOfMemoryError):
        loaded.handle_event("grow", "{}")
    assert loaded.poisoned
    with pytest.raises(SandboxPoisonedError):
        loaded.handle_event("ok", "{}")
    loaded.restore(snapshot)
    assert loaded.call_handler("ok") == "fine"


def test_deep_recursion_is_a_guest_error_not_a_crash(load: LoadFn) -> None:
    loaded = load(h="function handler() { const f = n => f(n + 1) + 1; return f(0) }")
    with pytest.raises(GuestError, match="stack"):
        loaded.handle_event("h", "{}")
    assert not loaded.poisoned


@pytest.mark.backends("in-process")
def test_a_huge_scratch_size_is_capped_by_the_real_stack(builder: SandboxBuilder) -> None:
    import threading

    sandbox = builder.with_guest_scratch_size(1 << 40).build().load_runtime()
    sandbox.add_handler("h", "function handler() { const f = n => f(n + 1) + 1; return f(0) }")
    loaded = sandbox.get_loaded_sandbox()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            loaded.handle_event("h", "{}")
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    threading.stack_size(512 * 1024)
    try:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(0)
    assert len(outcome) == 1 and isinstance(outcome[0], GuestError)


def test_deeply_nested_events(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { return 'parsed' }")
    with pytest.raises(InvalidEventError):
        loaded.handle_event("h", "[" * 100_000 + "]" * 100_000)
    assert not loaded.poisoned
    assert loaded.handle_event("h", "[" * 50 + "]" * 50) == '"parsed"'


def test_every_error_is_a_hyperlight_error() -> None:
    for cls in (GuestError, InvalidEventError, HandlerNotFoundError, ResultNotSerializableError, GuestOutOfMemoryError):
        assert issubclass(cls, HyperlightError)


class _Idle(ExecutionMonitor):
    name = "idle"

    def get_monitor(self) -> Awaitable[None]:
        return monitor.sleep(60)


@pytest.mark.parametrize("other", [WallClockMonitor(60), _Idle()], ids=["native", "python"])
def test_an_empty_monitor_tuple_is_refused_wherever_it_is(load: LoadFn, other: WallClockMonitor | _Idle) -> None:
    """Every monitor tuple must hold a monitor, nested or not, whatever else
    is raced: the same rule for native and Python monitors and for every
    way of passing them. Nothing runs."""
    loaded = load(h="function handler() { return 1 }")
    with pytest.raises(ValueError, match="at least one monitor"):
        loaded.handle_event_with_monitor("h", "{}", (other, ()))
    with pytest.raises(ValueError, match="at least one monitor"):
        loaded.call_handler("h", monitor=(other, ((),)))
    with pytest.raises(ValueError, match="at least one monitor"):
        loaded.call_handler("h", wall_clock_timeout=60, monitor=())
    assert not loaded.poisoned
    assert loaded.handle_event_with_monitor("h", "{}", (other,)) == "1"
