"""Backend selection: a backend that cannot run is refused with the reason
the doctor gives (never replaced by a weaker one), ``auto`` takes the
strongest isolation that runs here, and every name comes from the core's
registry (``_native.backends()``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hyperlight_js import BackendUnavailableError, LoadedJSSandbox, SandboxBuilder, _native, doctor


def _load(backend: str) -> LoadedJSSandbox:
    sandbox = SandboxBuilder().with_backend(backend).with_host_print_fn(None).build().load_runtime()
    sandbox.add_handler("h", "function handler() { return 1 }")
    return sandbox.get_loaded_sandbox()


def _refusal(run: Callable[[], object]) -> BackendUnavailableError:
    with pytest.raises(BackendUnavailableError) as info:
        run()
    return info.value


@pytest.mark.backends("in-process")
def test_the_registry_lists_each_backend_once_strongest_isolation_first() -> None:
    statuses = doctor.backends()
    assert [s.rank for s in statuses] == sorted({s.rank for s in statuses})
    assert len({s.name for s in statuses}) == len(statuses)
    # What auto may pick comes first; the backends without isolation last.
    assert [s.isolated for s in statuses] == sorted((s.isolated for s in statuses), reverse=True)
    assert not all(s.isolated for s in statuses)
    for status in statuses:
        assert status.runs_here == (status.problem is None)
        if not status.compiled_in:
            assert not status.runs_here


@pytest.mark.backends("in-process")
def test_a_backend_that_cannot_run_is_refused_with_the_doctors_reason() -> None:
    for status in doctor.backends():
        if status.runs_here:
            assert _native.resolve_backend(status.name) == status.name
            continue
        assert status.problem
        at_load = _refusal(lambda: _load(status.name))
        resolved = _refusal(lambda: _native.resolve_backend(status.name))
        # The same class (HypervisorUnavailableError for the micro-VM) and reason either way.
        assert type(at_load) is type(resolved)
        assert status.problem in str(at_load) and status.problem in str(resolved)


@pytest.mark.backends("in-process")
def test_auto_takes_the_strongest_backend_that_runs_and_never_an_unisolated_one() -> None:
    isolated = [s.name for s in doctor.backends() if s.isolated and s.runs_here]
    if isolated:
        assert _native.resolve_backend("auto") == isolated[0]
        assert _load("auto").backend == isolated[0]
        assert doctor.auto_choice() == isolated[0]
    else:
        unisolated = next(s.name for s in doctor.backends() if not s.isolated)
        with pytest.raises(BackendUnavailableError, match=unisolated):
            _load("auto")
        assert doctor.auto_choice().startswith("none")


@pytest.mark.backends("in-process")
def test_an_unknown_backend_name_is_a_value_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError) as at_build:
        SandboxBuilder().with_backend("nope")
    with pytest.raises(ValueError) as resolved:
        _native.resolve_backend("nope")
    for message in (str(at_build.value), str(resolved.value)):
        assert "nope" in message
        for status in doctor.backends():
            assert status.name in message


@pytest.mark.backends("in-process")
def test_a_refused_backend_name_leaves_the_builder_on_auto() -> None:
    if not any(s.isolated and s.runs_here for s in doctor.backends()):
        pytest.skip("no isolated backend runs here, so the default (auto) cannot load")
    builder = SandboxBuilder()
    with pytest.raises(ValueError):
        builder.with_backend("nope")
    sandboxes = [b.with_host_print_fn(None).build().load_runtime() for b in (builder, SandboxBuilder())]
    for sandbox in sandboxes:
        sandbox.add_handler("h", "function handler() { return 1 }")
    refused, fresh = (sandbox.get_loaded_sandbox() for sandbox in sandboxes)
    assert refused.backend == fresh.backend
