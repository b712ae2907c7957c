"""Getting a clean context: ours ``restore(snapshot)`` after a kill, and the
creation of a loaded sandbox (build → load → add handler → loaded), against
the peers' creation of a context with the handler evaluated.

The peers' contexts survive a kill, but nothing undoes what the killed code
left behind in them; a fresh context is their only clean state.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import peers
from hyperlight_js import ExecutionCancelled, LoadedJSSandbox, WallClockMonitor

NOOP = "function handler(e) { return e }"
SPIN = "function handler(e) { while (true) {} }"


def test_restore_after_kill(
    benchmark: BenchmarkFixture, loaded: Callable[..., LoadedJSSandbox], samples: int
) -> None:
    sandbox = loaded(h=SPIN)
    snapshot, limit = sandbox.snapshot(), WallClockMonitor(0.001)

    def kill() -> None:
        with pytest.raises(ExecutionCancelled):
            sandbox.handle_event_with_monitor("h", "{}", limit)
        assert sandbox.poisoned

    benchmark.group = "vs-recovery"
    benchmark.pedantic(sandbox.restore, args=(snapshot,), setup=kill, rounds=samples)  # type: ignore[no-untyped-call]
    assert not sandbox.poisoned


def build_ours() -> LoadedJSSandbox:
    sandbox = peers.ours_builder().build().load_runtime()
    sandbox.add_handler("h", NOOP)
    return sandbox.get_loaded_sandbox()


@pytest.mark.parametrize("engine", ["ours", "mini-racer", "quickjs", "quickjs-context", "hyperlight-sandbox"])
def test_create_vs(engine: str, benchmark: BenchmarkFixture, require: Callable[[str], None], samples: int) -> None:
    benchmark.group = "vs-create"
    if engine == "ours":
        sandboxes: list[LoadedJSSandbox] = []
        benchmark.pedantic(lambda: sandboxes.append(build_ours()), rounds=samples)  # type: ignore[no-untyped-call]
        return
    require(engine)
    contexts: list[peers.Engine] = []
    try:
        create = lambda: contexts.append(peers.make(engine, NOOP))  # noqa: E731
        benchmark.pedantic(create, rounds=samples)  # type: ignore[no-untyped-call]
    finally:
        for context in contexts:
            context.close()
