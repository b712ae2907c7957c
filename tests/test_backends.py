"""Backend selection: a backend that cannot run is refused with the reason
the doctor gives (never replaced by a weaker one), and ``auto`` takes the
strongest isolation that runs here."""

from __future__ import annotations

import pytest

from hyperlight_js import BackendUnavailableError, HypervisorUnavailableError, LoadedJSSandbox, SandboxBuilder, doctor


def _load(backend: str) -> LoadedJSSandbox:
    sandbox = SandboxBuilder().with_backend(backend).with_host_print_fn(None).build().load_runtime()  # type: ignore[arg-type]
    sandbox.add_handler("h", "function handler() { return 1 }")
    return sandbox.get_loaded_sandbox()


@pytest.mark.backends("in-process")
def test_a_backend_that_cannot_run_is_refused_with_the_doctors_reason() -> None:
    for status in doctor.backends():
        if status.runs_here:
            continue
        assert status.problem
        expected = HypervisorUnavailableError if status.name == "hyperlight" else BackendUnavailableError
        with pytest.raises(expected) as info:
            _load(status.name)
        assert status.problem in str(info.value)


@pytest.mark.backends("in-process")
def test_auto_takes_the_strongest_backend_that_runs_and_never_in_process() -> None:
    isolated = [s.name for s in doctor.backends() if s.name in ("hyperlight", "wasm") and s.runs_here]
    if isolated:
        assert _load("auto").backend == isolated[0]
    else:
        with pytest.raises(BackendUnavailableError, match="in-process"):
            _load("auto")
