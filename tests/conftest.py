from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hyperlight_js import LoadedJSSandbox, SandboxBuilder
from hyperlight_js import doctor

SPIN = "function handler(e) { while (true) {} }"

LoadFn = Callable[..., LoadedJSSandbox]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run this test only on these backends (default: every backend)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test runs once per backend. A backend that cannot run on this
    machine is skipped with the reason `python -m hyperlight_js doctor` gives."""
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    wanted = set(marker.args) if marker else None
    params = []
    for status in doctor.backends():
        if wanted is not None and status.name not in wanted:
            continue
        marks = [] if status.runs_here else [pytest.mark.skip(reason=f"{status.name} backend: {status.problem}")]
        params.append(pytest.param(status.name, id=status.name, marks=marks))
    metafunc.parametrize("backend", params, indirect=True)


# Autouse so that every test keeps running once per backend, as the suite
# always has: a test that builds no sandbox costs little, and a test that
# builds one without asking for `builder` is caught by
# test_every_builder_names_its_backend.py rather than silently running on
# one backend.
@pytest.fixture(autouse=True)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend this run of the test is for."""
    name: str = request.param
    return name


def new_builder(backend: str) -> SandboxBuilder:
    """A builder for ``backend`` with the library's defaults, the default
    print function included: for tests about the defaults, and helpers that
    need a new builder per sandbox (different sizes) within one test."""
    name: Any = backend  # a name doctor gives at run time; with_backend's parameter may be a Literal of the names
    return SandboxBuilder().with_backend(name)


@pytest.fixture
def builder(backend: str) -> SandboxBuilder:
    """A new builder for this test's backend, with the host print function
    off: most tests do not want guest output, and a test that does sets its
    own (``builder.with_host_print_fn(lines.append)``)."""
    return new_builder(backend).with_host_print_fn(None)


@pytest.fixture
def load(builder: SandboxBuilder) -> LoadFn:
    """Build a loaded sandbox from handler sources: load(h="...", other="...").
    Without a builder it uses the test's ``builder`` fixture, so settings a
    test makes on ``builder`` apply; each call builds a new sandbox."""

    default = builder

    def make(builder: SandboxBuilder | None = None, **handlers: str) -> LoadedJSSandbox:
        sandbox = (builder or default).build().load_runtime()
        for name, source in handlers.items():
            sandbox.add_handler(name, source)
        return sandbox.get_loaded_sandbox()

    return make
