from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hyperlight_js import HyperlightError
from hyperlight_js.cli import main, parse_duration


def _script(tmp_path: Path, source: str) -> str:
    path = tmp_path / "handler.js"
    path.write_text(source)
    return str(path)


def test_run_prints_the_result(tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str) -> None:
    path = _script(tmp_path, "export function handler(e) { console.log('log line'); return { hello: e.name } }")
    assert main(["run", path, '{"name": "world"}', "--backend", backend]) == 0
    out = capsys.readouterr()
    assert out.out == '{"hello":"world"}\n'
    assert "log line" in out.err


@pytest.mark.parametrize(
    ("flags", "limit"),
    [(["--wall-clock", "100ms"], "wall-clock"), (["--cpu-time", "0.05", "--wall-clock", "10s"], "CPU-time")],
)
def test_a_limit_ends_the_handler_and_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], limit: str, backend: str
) -> None:
    path = _script(tmp_path, "function handler() { while (true) {} }")
    assert main(["run", path, *flags, "--backend", backend]) == 3
    assert f"terminated by the {limit} limit" in capsys.readouterr().err


def test_errors_have_clear_messages_and_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    path = _script(tmp_path, "function handler(e) { throw new Error('bad ' + e.x) }")
    assert main(["run", path, '{"x": 1}', "--backend", backend]) == 1
    assert "Error: bad 1" in capsys.readouterr().err
    assert main(["run", path, "{not json", "--backend", backend]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.js"), "--backend", backend]) == 1
    assert "missing.js" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", path, "--wall-clock", "soon"])


def test_durations() -> None:
    assert parse_duration("500ms") == pytest.approx(0.5)
    assert parse_duration("2s") == 2
    assert parse_duration("1.5") == 1.5
    assert parse_duration("250us") == pytest.approx(0.00025)


def test_module_entry_point_and_console_script(tmp_path: Path, backend: str) -> None:
    path = _script(tmp_path, "function handler(e) { return e * 2 }")
    done = subprocess.run(
        [sys.executable, "-m", "hyperlight_js", "run", path, "21", "--backend", backend], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, "42\n")
    script = Path(sys.executable).parent / "hyperlight-js"
    if script.exists():
        done = subprocess.run([str(script), "run", path, "4", "--backend", backend], capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout) == (0, "8\n")


def test_doctor_tells_what_runs_here(capsys: pytest.CaptureFixture[str]) -> None:
    from hyperlight_js import _native, doctor

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for status in doctor.backends():
        state = "available" if status.runs_here else "not compiled in" if not status.compiled_in else "cannot run here"
        assert f"{status.name:<11} " in out and state in out
    # The host-process backend needs nothing, so it always runs.
    unisolated = next(s for s in doctor.backends() if not s.isolated)
    assert f"{unisolated.name:<11} available" in out
    assert "CPU-time monitor" in out and "monitor runtime" in out
    micro_vm = doctor.backends()[0]
    if micro_vm.compiled_in and micro_vm.problem:
        # The probe's own error (the hypervisor's words), not a guess.
        assert f"micro-VM: does not start here: {micro_vm.problem}" in out
    else:
        assert "micro-VM: " in out
    try:
        auto = _native.resolve_backend("auto")
    except HyperlightError:
        auto = "none"
    assert f"auto (the default) picks: {auto}" in out


def test_an_unknown_backend_is_a_usage_error_naming_the_registrys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hyperlight_js import doctor

    path = _script(tmp_path, "function handler() { return 1 }")
    assert main(["run", path, "--backend", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown backend" in err and "nope" in err
    for name in [s.name for s in doctor.backends()] + ["auto"]:
        assert f'"{name}"' in err
