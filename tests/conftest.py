from __future__ import annotations

from collections.abc import Callable

import pytest

from hyperlight_js import LoadedJSSandbox, SandboxBuilder

SPIN = "function handler(e) { while (true) {} }"

LoadFn = Callable[..., LoadedJSSandbox]


@pytest.fixture
def load() -> LoadFn:
    """Build a loaded sandbox from handler sources: load(h="...", other="...")."""

    def make(builder: SandboxBuilder | None = None, **handlers: str) -> LoadedJSSandbox:
        sandbox = (builder or SandboxBuilder().with_host_print_fn(None)).build().load_runtime()
        for name, source in handlers.items():
            sandbox.add_handler(name, source)
        return sandbox.get_loaded_sandbox()

    return make
