"""What a Windows user gets: an isolated backend by default, and a doctor
that says which backends run and why the others do not."""

from __future__ import annotations

import sys

import pytest

from hyperlight_js import SandboxBuilder, doctor

pytestmark = pytest.mark.skipif(sys.platform != "win32", reason="checks the Windows build")


def test_auto_picks_the_wasm_backend() -> None:
    assert doctor.auto_choice() == "wasm"
    sandbox = SandboxBuilder().with_backend("auto").build().load_runtime()
    sandbox.add_handler("h", "function handler(e) { return e.n + 1 }")
    loaded = sandbox.get_loaded_sandbox()
    assert loaded.backend == "wasm"
    assert loaded.handle_event("h", '{"n": 41}') == "42"


def test_doctor_says_which_backends_run_and_why_not() -> None:
    report = "\n".join(doctor.report())
    assert "wasm        available" in report
    assert "in-process  available" in report
    assert doctor.WINDOWS_WITHOUT_MICRO_VM in report
    assert "auto (the default) picks: wasm" in report
    assert "GetThreadTimes (charged in ticks of" in report
