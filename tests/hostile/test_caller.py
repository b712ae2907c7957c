"""Hostile or careless callers: kills at every moment, kill storms, calls
from many threads, consumed objects, absurd events, host functions that
want out."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from conftest import LoadFn
from hyperlight_js import (
    CpuTimeMonitor,
    ExecutionCancelled,
    InvalidEventError,
    SandboxBuilder,
    SandboxBusyError,
    SandboxConsumedError,
    WallClockMonitor,
)

WORK = "function handler(e) { let x = 0; for (let i = 0; i < e.n; i++) x += i; return x }"


def test_kills_before_and_after_a_call_do_nothing(load: LoadFn) -> None:
    loaded = load(work=WORK)
    handle = loaded.interrupt_handle()
    assert handle.kill() is False
    assert loaded.call_handler("work", {"n": 1000}) == sum(range(1000))
    assert handle.kill() is False
    assert loaded.call_handler("work", {"n": 10}) == 45
    assert not loaded.poisoned


def test_a_kill_storm_from_eight_threads(load: LoadFn) -> None:
    loaded = load(work=WORK)
    snapshot = loaded.snapshot()
    handle = loaded.interrupt_handle()
    stop = threading.Event()
    kills = [0] * 8

    def storm(i: int) -> None:
        while not stop.is_set():
            if handle.kill():
                kills[i] += 1
            time.sleep(0.0002)  # let the caller have the GIL now and then

    threads = [threading.Thread(target=storm, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    outcomes = {"ok": 0, "cancelled": 0}
    try:
        for _ in range(300):
            try:
                assert loaded.call_handler("work", {"n": 20000}) == sum(range(20000))
                outcomes["ok"] += 1
            except ExecutionCancelled as exc:
                assert exc.monitor is None
                outcomes["cancelled"] += 1
                assert loaded.poisoned
                loaded.restore(snapshot)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert outcomes["ok"] + outcomes["cancelled"] == 300
    assert outcomes["cancelled"] >= 1 and sum(kills) >= outcomes["cancelled"]
    assert loaded.call_handler("work", {"n": 3}) == 3


def test_concurrent_calls_from_many_threads_never_overlap(load: LoadFn) -> None:
    loaded = load(work=WORK)
    results: dict[str, int] = {"ok": 0, "busy": 0}
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(50):
            try:
                loaded.call_handler("work", {"n": 5000})
                key = "ok"
            except SandboxBusyError:
                key = "busy"
            with lock:
                results[key] += 1

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results["ok"] + results["busy"] == 400
    assert results["ok"] >= 50 and not loaded.poisoned


def test_restore_while_a_call_runs_is_refused(load: LoadFn) -> None:
    loaded = load(spin="function handler() { while (true) {} }")
    snapshot = loaded.snapshot()
    handle = loaded.interrupt_handle()
    thread = threading.Thread(target=lambda: pytest.raises(ExecutionCancelled, loaded.handle_event, "spin", "{}"))
    thread.start()
    while not handle.running:
        time.sleep(0.001)
    with pytest.raises(SandboxBusyError):
        loaded.restore(snapshot)
    handle.kill()
    thread.join()
    loaded.restore(snapshot)


def test_top_level_code_that_never_ends(builder: SandboxBuilder) -> None:
    source = "while (true) {} function handler() { return 1 }"
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("h", source)
    with pytest.raises(ExecutionCancelled) as info:
        sandbox.get_loaded_sandbox(monitor=(WallClockMonitor(2), CpuTimeMonitor(0.1)))
    assert info.value.monitor == "cpu-time"
    # Without monitors, the interrupt handle ends it; the sandbox stays usable.
    threading.Timer(0.1, sandbox.interrupt_handle().kill).start()
    with pytest.raises(ExecutionCancelled):
        sandbox.get_loaded_sandbox()
    sandbox.clear_handlers()
    sandbox.add_handler("h", "function handler() { return 'loaded' }")
    assert sandbox.get_loaded_sandbox(monitor=WallClockMonitor(1)).call_handler("h") == "loaded"


def test_every_method_refuses_after_unload(load: LoadFn) -> None:
    loaded = load(work=WORK)
    snapshot = loaded.snapshot()
    again = loaded.unload()
    calls: list[Any] = [
        lambda: loaded.handle_event("work", "{}"),
        lambda: loaded.handle_event_with_monitor("work", "{}", WallClockMonitor(1)),
        lambda: loaded.call_handler("work", {"n": 1}),
        lambda: loaded.snapshot(),
        lambda: loaded.restore(snapshot),
        lambda: loaded.unload(),
    ]
    for call in calls:
        with pytest.raises(SandboxConsumedError):
            call()
    # The handle survives unload and load (unload gives back no handlers).
    handle = loaded.interrupt_handle()
    again.add_handler("work", WORK)
    reloaded = again.get_loaded_sandbox()
    assert reloaded.interrupt_handle().kill() is False and handle.kill() is False
    assert reloaded.call_handler("work", {"n": 4}) == 6


def test_a_100_mb_event(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { return e.length }")
    event = json.dumps(["x" * 1000] * 100_000)
    assert len(event) > 100_000_000
    with pytest.raises(InvalidEventError, match="does not fit in the guest heap"):
        loaded.handle_event("h", event)
    assert not loaded.poisoned
    assert loaded.handle_event("h", "[1]") == "1"


def test_events_of_the_wrong_type(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { return e }")
    with pytest.raises(TypeError):
        loaded.handle_event("h", b"{}")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        loaded.handle_event("h", None)  # type: ignore[arg-type]
    assert loaded.handle_event("h", "null") == "null"


@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit])
def test_a_host_function_that_wants_out_cannot_be_swallowed(raised: type[BaseException], builder: SandboxBuilder) -> None:
    def leave() -> None:
        raise raised()

    proto = builder.build()
    proto.register("host", "leave", leave)
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", "import { leave } from 'host'; function handler() { for (;;) { try { leave() } catch (e) {} } }")
    sandbox.add_handler("ok", "function handler() { return 'ok' }")
    loaded = sandbox.get_loaded_sandbox()
    snapshot = loaded.snapshot()
    with pytest.raises(raised):
        loaded.handle_event("h", "{}")
    assert loaded.poisoned
    loaded.restore(snapshot)
    assert loaded.call_handler("ok") == "ok"


def test_an_ordinary_host_exception_stays_catchable(builder: SandboxBuilder) -> None:
    proto = builder.build()
    proto.register("host", "fail", lambda: 1 / 0)
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", "import { fail } from 'host'; function handler() { try { fail() } catch (e) { return e.message } }")
    loaded = sandbox.get_loaded_sandbox()
    assert "ZeroDivisionError" in loaded.call_handler("h")
    assert not loaded.poisoned
