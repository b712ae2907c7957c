from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import SPIN, LoadFn, new_builder
from hyperlight_js import (
    ExecutionCancelled,
    HandlerLoadError,
    HandlerNotFoundError,
    SandboxBuilder,
    SandboxConsumedError,
    SandboxPoisonedError,
    Script,
    SnapshotError,
)


def test_handler_runs_exported_or_not(load: LoadFn, backend: str) -> None:
    loaded = load(
        plain="function handler(e) { return { sum: e.a + e.b } }",
        exported="export function handler(e) { return e.s.length }",
    )
    assert loaded.handle_event("plain", '{"a": 1, "b": 2}') == '{"sum":3}'
    assert loaded.call_handler("exported", {"s": "four"}) == 4
    assert loaded.backend == backend


def test_unicode_round_trips(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { return { echo: e.text, upper: e.text.toUpperCase(), n: e.text.length } }")
    text = "héllo wörld ✓ 漢字 🎉 \u0000 \"quoted\""
    assert loaded.call_handler("h", {"text": text}) == {"echo": text, "upper": text.upper(), "n": len(text.encode("utf-16-le")) // 2}


def test_promise_results_are_awaited(load: LoadFn) -> None:
    loaded = load(h="async function handler(e) { const x = await Promise.resolve(e.n); await null; return x * 2 }")
    assert loaded.call_handler("h", {"n": 21}) == 42


def test_gc_flag_is_accepted_both_ways(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { return [e] }")
    assert loaded.handle_event("h", "1", gc=False) == "[1]"
    assert loaded.handle_event("h", "2", gc=True) == "[2]"


@pytest.mark.backends("in-process", "wasm")
def test_console_output_reaches_the_print_function(builder: SandboxBuilder) -> None:
    lines: list[str] = []
    sandbox = builder.with_host_print_fn(lines.append).build().load_runtime()
    sandbox.add_handler("h", "function handler(e) { console.log('a', 1, [2]); console.error({k: 'v'}); print('p'); return null }")
    sandbox.get_loaded_sandbox().handle_event("h", "{}")
    assert lines == ["a 1 [2]\n", '{"k":"v"}\n', "p"]


@pytest.mark.backends("hyperlight")
def test_console_in_the_micro_vm_is_hyperlight_js_console(builder: SandboxBuilder) -> None:
    """hyperlight-js's runtime has console.log and print only, and converts
    each argument with String() (README: Backends)."""
    lines: list[str] = []
    sandbox = builder.with_host_print_fn(lines.append).build().load_runtime()
    sandbox.add_handler("h", "function handler(e) { console.log('a', 1, [2]); print('p'); return typeof console.error }")
    assert sandbox.get_loaded_sandbox().call_handler("h") == "undefined"
    assert lines == ["a 1 2\n", "p"]


def test_default_print_goes_to_stdout(capsys: pytest.CaptureFixture[str], backend: str) -> None:
    sandbox = new_builder(backend).build().load_runtime()
    sandbox.add_handler("h", "function handler() { console.log('to stdout'); return 0 }")
    sandbox.get_loaded_sandbox().handle_event("h", "{}")
    assert capsys.readouterr().out == "to stdout\n"


def test_sizes_must_be_positive(builder: SandboxBuilder) -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError):
            builder.with_guest_heap_size(bad)
        with pytest.raises(ValueError):
            builder.with_guest_scratch_size(bad)
    with pytest.raises(TypeError):
        builder.with_guest_heap_size(1.5)  # type: ignore[arg-type]


def test_handlers_can_be_removed_and_cleared(builder: SandboxBuilder) -> None:
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("a", "function handler() { return 'a' }")
    sandbox.add_handler("b", Script.from_content("function handler() { return 'b' }"))
    assert sandbox.handler_names == ["a", "b"]
    sandbox.remove_handler("a")
    with pytest.raises(HandlerNotFoundError):
        sandbox.remove_handler("a")
    loaded = sandbox.get_loaded_sandbox()
    with pytest.raises(HandlerNotFoundError):
        loaded.handle_event("a", "{}")
    sandbox = loaded.unload()
    sandbox.clear_handlers()
    assert sandbox.handler_names == []
    sandbox.add_handler("c", "function handler() { return 'c' }")
    assert sandbox.get_loaded_sandbox().call_handler("c") == "c"


def test_consumed_objects_refuse_use(builder: SandboxBuilder) -> None:
    proto = builder.build()
    sandbox = proto.load_runtime()
    with pytest.raises(SandboxConsumedError):
        proto.load_runtime()
    with pytest.raises(SandboxConsumedError):
        proto.register("m", "f", print)
    sandbox.add_handler("h", "function handler() { return 1 }")
    loaded = sandbox.get_loaded_sandbox()
    with pytest.raises(SandboxConsumedError):
        sandbox.add_handler("x", "function handler() {}")
    with pytest.raises(SandboxConsumedError):
        sandbox.get_loaded_sandbox()
    loaded.unload()
    with pytest.raises(SandboxConsumedError):
        loaded.handle_event("h", "{}")
    with pytest.raises(SandboxConsumedError):
        loaded.unload()


def test_a_failed_load_leaves_the_sandbox_usable(builder: SandboxBuilder) -> None:
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("broken", "function handler( {")
    with pytest.raises(HandlerLoadError, match="SyntaxError"):
        sandbox.get_loaded_sandbox()
    sandbox.remove_handler("broken")
    sandbox.add_handler("nohandler", "export const x = 1")
    with pytest.raises(HandlerLoadError):
        sandbox.get_loaded_sandbox()
    sandbox.clear_handlers()
    sandbox.add_handler("throws", "throw new Error('at top level'); function handler() {}")
    with pytest.raises(HandlerLoadError, match="at top level"):
        sandbox.get_loaded_sandbox()
    sandbox.clear_handlers()
    sandbox.add_handler("ok", "function handler() { return 'ok' }")
    assert sandbox.get_loaded_sandbox().call_handler("ok") == "ok"


def test_kill_from_another_thread_ends_a_tight_loop(load: LoadFn) -> None:
    loaded = load(spin=SPIN)
    handle = loaded.interrupt_handle()
    assert handle.kill() is False, "nothing is running yet"

    def killer() -> None:
        while not handle.running:
            time.sleep(0.001)
        time.sleep(0.02)
        handle.kill()

    thread = threading.Thread(target=killer)
    thread.start()
    started = time.monotonic()
    with pytest.raises(ExecutionCancelled) as info:
        loaded.handle_event("spin", "{}")
    thread.join()
    assert info.value.monitor is None
    assert time.monotonic() - started < 2
    assert loaded.poisoned


def test_a_kill_before_a_call_does_not_carry_over(load: LoadFn) -> None:
    loaded = load(h="function handler() { let x = 0; for (let i = 0; i < 1e6; i++) x += i; return x }")
    assert loaded.interrupt_handle().kill() is False
    assert loaded.call_handler("h") == sum(range(10**6))


def test_poison_and_restore(load: LoadFn) -> None:
    loaded = load(
        h="let calls = 0; function handler(e) { globalThis.polluted = true; Object.prototype.evil = 1; if (e.spin) while (true) {} return [++calls, typeof polluted, ({}).evil ?? null] }"
    )
    snapshot = loaded.snapshot()
    assert loaded.call_handler("h", {}) == [1, "boolean", 1]
    assert loaded.call_handler("h", {}) == [2, "boolean", 1]
    with pytest.raises(ExecutionCancelled):
        loaded.call_handler("h", {"spin": True}, wall_clock_timeout=0.05)
    assert loaded.poisoned
    with pytest.raises(SandboxPoisonedError):
        loaded.call_handler("h", {})
    loaded.restore(snapshot)
    assert not loaded.poisoned
    # Module state, globals and prototype pollution from after the snapshot are gone.
    assert loaded.handle_event("h", "{}") == '[1,"boolean",1]'
    loaded.restore(snapshot)
    assert loaded.call_handler("h", {}) == [1, "boolean", 1]


@pytest.mark.backends("in-process")
def test_snapshot_rules(load: LoadFn) -> None:
    a = load(h="function handler() { return 1 }")
    b = load(h="function handler() { return 2 }")
    snap_a = a.snapshot()
    with pytest.raises(SnapshotError, match="different sandbox"):
        b.restore(snap_a)
    a.call_handler("h")
    with pytest.raises(SnapshotError, match="freshly loaded"):
        a.snapshot()
    a.restore(snap_a)
    a.snapshot()


def test_concurrent_calls_on_one_sandbox_are_refused(load: LoadFn) -> None:
    from hyperlight_js import SandboxBusyError

    loaded = load(spin=SPIN, quick="function handler() { return 1 }")
    handle = loaded.interrupt_handle()
    errors: list[BaseException] = []

    def spin() -> None:
        try:
            loaded.handle_event("spin", "{}")
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    thread = threading.Thread(target=spin)
    thread.start()
    while not handle.running:
        time.sleep(0.001)
    with pytest.raises(SandboxBusyError):
        loaded.handle_event("quick", "{}")
    assert loaded.poisoned is False
    handle.kill()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], ExecutionCancelled)


def test_sandboxes_in_threads_run_in_parallel(load: LoadFn) -> None:
    source = "function handler(e) { const end = Date.now() + e.ms; let n = 0; while (Date.now() < end) n++; return n > 0 }"
    sandboxes = [load(h=source) for _ in range(2)]
    results: list[bool] = []

    def run(index: int) -> None:
        results.append(sandboxes[index].call_handler("h", {"ms": 1000}))

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert results == [True, True]
    # Serialised (GIL held) this would take at least 2 s; in parallel about 1 s.
    assert elapsed < 1.7, elapsed


def test_scripts_from_files_import_only_inside_their_root(tmp_path: Path, builder: SandboxBuilder) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (tmp_path / "secret.js").write_text("export const secret = 'leaked'")
    (app / "lib.js").write_text("export const double = x => x * 2")
    (app / "ok.js").write_text("import { double } from './lib.js'; export function handler(e) { return double(e) }")
    (app / "escape.js").write_text("import { secret } from '../secret.js'; function handler() { return secret }")
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("ok", Script.from_file(app / "ok.js"))
    assert sandbox.get_loaded_sandbox().call_handler("ok", 21) == 42
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("escape", Script.from_file(str(app / "escape.js")))
    with pytest.raises(HandlerLoadError, match="no such file in the directory imports may come from"):
        sandbox.get_loaded_sandbox()
    # Widening the root is the caller's explicit choice.
    sandbox.clear_handlers()
    sandbox.add_handler("escape", Script.from_file(app / "escape.js", root=tmp_path))
    assert sandbox.get_loaded_sandbox().call_handler("escape") == "leaked"
    with pytest.raises(ValueError, match="outside the allowed directory"):
        Script.from_file(tmp_path / "secret.js", root=app)


def test_content_scripts_cannot_import_files_without_a_base_dir(tmp_path: Path, builder: SandboxBuilder) -> None:
    (tmp_path / "lib.js").write_text("export const v = 7")
    source = "import { v } from './lib.js'; function handler() { return v }"
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("h", source)
    with pytest.raises(HandlerLoadError, match="not a registered host module"):
        sandbox.get_loaded_sandbox()
    sandbox.clear_handlers()
    sandbox.add_handler("h", Script.from_content(source, base_dir=tmp_path))
    assert sandbox.get_loaded_sandbox().call_handler("h") == 7


def test_restore_does_not_reread_changed_files(tmp_path: Path, builder: SandboxBuilder) -> None:
    (tmp_path / "lib.js").write_text("export const v = 'original'")
    (tmp_path / "h.js").write_text("import { v } from './lib.js'; function handler() { return v }")
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("h", Script.from_file(tmp_path / "h.js"))
    loaded = sandbox.get_loaded_sandbox()
    snapshot = loaded.snapshot()
    (tmp_path / "lib.js").write_text("export const v = 'changed on disk'")
    loaded.call_handler("h")
    loaded.restore(snapshot)
    assert loaded.call_handler("h") == "original"


def test_call_handler_round_trips_json_values(load: LoadFn) -> None:
    loaded = load(echo="function handler(e) { return e }")
    values: list[Any] = [None, True, 0, -1.5, "", "x", [], {}, {"nested": [1, {"a": None}]}, 2**53]
    for value in values:
        assert loaded.call_handler("echo", value) == value
    assert json.loads(loaded.handle_event("echo", '{"a": [1, 2]}')) == {"a": [1, 2]}
