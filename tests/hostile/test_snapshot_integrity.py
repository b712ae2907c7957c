"""A restore brings back exactly the state the snapshot captured, never a
mix of it with what came after; and nothing the guest could use to tell
restores apart (or predict) comes back with it.

As upstream (hyperlight-js, `src/sandbox/loaded_js_sandbox.rs`,
`test_snapshot_and_restore`): a snapshot is the whole state, so one taken
before `unload()` brings back, into the reloaded sandbox, the handlers it
captured with their code and their module state; handlers added since are
gone. On every backend.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperlight_js import (
    HandlerNotFoundError,
    JSSandbox,
    LoadedJSSandbox,
    SandboxBuilder,
    Script,
    SnapshotError,
)


def counter(tag: str) -> str:
    """A handler that answers with its own code's tag and its module state."""
    return f"let n = 0; function handler(e) {{ n++; return ['{tag}', n] }}"


def fresh(builder: SandboxBuilder) -> JSSandbox:
    proto = builder.build()
    proto.register("host", "twice", lambda x: 2 * x)
    return proto.load_runtime()


CAPTURED = ("old", "other")

# After unload(), the handlers are cleared and these loaded instead (name ->
# the tag its code answers with), so the tests hold whether unload() keeps
# the handlers (today) or drops them (upstream).
RELOADS: dict[str, dict[str, str]] = {
    "replace-by-one": {"new1": "new1"},
    "replace-by-two": {"new1": "new1", "new2": "new2"},
    "same-name-other-code": {"old": "impostor"},
    "keep-and-add-two": {"old": "old", "other": "other", "new1": "new1", "new2": "new2"},
    "remove-one-of-two": {"old": "old"},
    "second-name-other-code-only": {"other": "impostor"},
}


@pytest.mark.parametrize("reload", list(RELOADS.values()), ids=list(RELOADS))
def test_a_snapshot_from_before_unload_brings_back_its_own_handlers(
    reload: dict[str, str], builder: SandboxBuilder
) -> None:
    sandbox = fresh(builder)
    for name in CAPTURED:
        sandbox.add_handler(name, counter(name))
    loaded = sandbox.get_loaded_sandbox()
    captured = loaded.snapshot()  # fresh: every backend can take it
    assert loaded.call_handler("old") == ["old", 1]

    sandbox = loaded.unload()
    sandbox.clear_handlers()
    for name, tag in reload.items():
        sandbox.add_handler(name, counter(tag))
    reloaded = sandbox.get_loaded_sandbox()
    after_reload = reloaded.snapshot()
    for name, tag in reload.items():
        assert reloaded.call_handler(name) == [tag, 1]

    reloaded.restore(captured)
    # Each captured handler answers with its own code and state, twice (the
    # second call sees the first's state: the module is the captured one).
    for round_ in (1, 2):
        for name in CAPTURED:
            assert reloaded.call_handler(name) == [name, round_]
    for name in set(reload) - set(CAPTURED):
        with pytest.raises(HandlerNotFoundError):
            reloaded.call_handler(name)
    assert not reloaded.poisoned

    # And back: the reloaded sandbox's own snapshot is just as whole.
    reloaded.restore(after_reload)
    for name, tag in reload.items():
        assert reloaded.call_handler(name) == [tag, 1]
    for name in set(CAPTURED) - set(reload):
        with pytest.raises(HandlerNotFoundError):
            reloaded.call_handler(name)
    assert not reloaded.poisoned


def test_handlers_given_back_by_unload_are_never_the_replaced_ones(builder: SandboxBuilder) -> None:
    """unload() gives back no handlers at all (as upstream,
    src/hyperlight-js/src/sandbox/loaded_js_sandbox.rs), also after a
    restore changed the ones the engine holds."""
    sandbox = fresh(builder)
    sandbox.add_handler("old", counter("old"))
    loaded = sandbox.get_loaded_sandbox()
    captured = loaded.snapshot()
    sandbox = loaded.unload()
    sandbox.clear_handlers()
    sandbox.add_handler("new1", counter("new1"))
    reloaded = sandbox.get_loaded_sandbox()
    reloaded.restore(captured)
    assert reloaded.unload().handler_names == []


def test_host_functions_and_imports_work_after_restoring_across_a_reload(
    tmp_path: Path, builder: SandboxBuilder
) -> None:
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_dir.mkdir()
    new_dir.mkdir()
    (old_dir / "lib.js").write_text("export const v = 'old lib'")
    (new_dir / "lib.js").write_text("export const v = 'new lib'")
    uses_both = (
        "import { twice } from 'host'; "
        "async function handler(e) { const m = await import('./lib.js'); return [m.v, twice(e)] }"
    )
    (old_dir / "h.js").write_text(uses_both)
    (new_dir / "h.js").write_text(uses_both)
    sandbox = fresh(builder)
    sandbox.add_handler("old", Script.from_file(old_dir / "h.js"))
    loaded = sandbox.get_loaded_sandbox()
    captured = loaded.snapshot()
    sandbox = loaded.unload()
    sandbox.clear_handlers()
    sandbox.add_handler("new", Script.from_file(new_dir / "h.js"))
    reloaded = sandbox.get_loaded_sandbox()
    assert reloaded.call_handler("new", 2) == ["new lib", 4]
    reloaded.restore(captured)
    # The dynamic import runs after the restore: it must resolve against the
    # old handler's file and root, as before the unload.
    assert reloaded.call_handler("old", 3) == ["old lib", 6]
    with pytest.raises(HandlerNotFoundError):
        reloaded.call_handler("new", 1)


def test_a_snapshot_holding_more_memory_than_the_reloaded_sandbox_restores(builder: SandboxBuilder) -> None:
    sandbox = fresh(builder)
    # Built at load time, so the snapshot is of a freshly loaded sandbox
    # (the only kind the in-process backend takes) and holds ~16 MB.
    sandbox.add_handler(
        "big",
        "const keep = Array.from({ length: 1e6 }, (_, i) => i);\n"
        "function handler() { return [keep.length, keep[999999]] }",
    )
    loaded = sandbox.get_loaded_sandbox()
    captured = loaded.snapshot()
    sandbox = loaded.unload()
    sandbox.clear_handlers()
    sandbox.add_handler("small", "function handler() { return 'small' }")
    reloaded = sandbox.get_loaded_sandbox()
    reloaded.restore(captured)
    assert reloaded.call_handler("big") == [1000000, 999999]
    with pytest.raises(HandlerNotFoundError):
        reloaded.call_handler("small")


def test_a_snapshot_of_another_sandbox_is_still_refused(builder: SandboxBuilder) -> None:
    a, b = fresh(builder), fresh(builder)
    a.add_handler("h", counter("a"))
    b.add_handler("h", counter("b"))
    loaded_a, loaded_b = a.get_loaded_sandbox(), b.get_loaded_sandbox()
    with pytest.raises(SnapshotError):
        loaded_b.restore(loaded_a.snapshot())
    assert loaded_b.call_handler("h") == ["b", 1]


RANDOMS = "function handler() { return Array.from({ length: 4 }, () => Math.random()) }"


def _loaded(builder: SandboxBuilder, source: str) -> LoadedJSSandbox:
    sandbox = fresh(builder)
    sandbox.add_handler("h", source)
    return sandbox.get_loaded_sandbox()


def test_math_random_is_not_replayed_by_restore(builder: SandboxBuilder) -> None:
    loaded = _loaded(builder, RANDOMS)
    snapshot = loaded.snapshot()
    draws = []
    for _ in range(3):
        draws.append(loaded.call_handler("h"))
        loaded.restore(snapshot)
    assert all(0 <= x < 1 for draw in draws for x in draw)
    assert len({tuple(draw) for draw in draws}) == 3, draws


def test_math_random_differs_between_sandboxes_loaded_together(builder: SandboxBuilder) -> None:
    draws = {tuple(_loaded(builder, RANDOMS).call_handler("h")) for _ in range(3)}
    assert len(draws) == 3


def test_crypto_get_random_values_is_not_replayed_by_restore(builder: SandboxBuilder) -> None:
    loaded = _loaded(
        builder,
        "function handler() { const c = globalThis.crypto; return c && typeof c.getRandomValues === 'function' "
        "? Array.from(c.getRandomValues(new Uint32Array(4))) : null }"
    )
    snapshot = loaded.snapshot()
    first = loaded.call_handler("h")
    if first is None:
        pytest.skip(f"the {loaded.backend} guest has no crypto.getRandomValues")
    loaded.restore(snapshot)
    assert loaded.call_handler("h") != first
