"""Persistent snapshots: ``snapshot.save(path)``, ``Snapshot.load(path)`` and
``ProtoJSSandbox.load_snapshot()``, on every backend.

A file is refused (``SnapshotError``) for another backend, format or
package version, guest, heap or scratch size, other host functions, and
when it is corrupt or truncated. The wasm backend saves the exact memory
image (module variables set by calls survive); the in-process backend
saves its load recipe (the state right after the load).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import new_builder
from hyperlight_js import (
    LoadedJSSandbox,
    ProtoJSSandbox,
    SandboxBuilder,
    SandboxPool,
    Script,
    Snapshot,
    SnapshotError,
    SnapshotFactory,
    doctor,
)

COUNTER = """
import { get } from "kv";
let calls = 0;
const loadedWith = get("at-load");
function handler(event) {
    calls += 1;
    return { calls, loadedWith, value: get(event.key) };
}
"""

STORE = {"at-load": "L", "a": 1, "b": 2}


def register_kv(proto: ProtoJSSandbox) -> None:
    proto.register("kv", "get", lambda key: STORE.get(key))


def sized(backend: str, heap: int = 8 * 1024 * 1024, scratch: int = 512 * 1024) -> SandboxBuilder:
    """A new builder: a snapshot loads only with the sizes it was taken with,
    so the tests need several, some with other sizes."""
    return new_builder(backend).with_host_print_fn(None).with_guest_heap_size(heap).with_guest_scratch_size(scratch)


def make_counter(b: SandboxBuilder) -> LoadedJSSandbox:
    proto = b.build()
    register_kv(proto)
    sandbox = proto.load_runtime()
    sandbox.add_handler("count", COUNTER)
    return sandbox.get_loaded_sandbox()


def saved_counter(path: Path, backend: str) -> int:
    """Saves a counter sandbox's snapshot to ``path``; returns the calls it
    had made when the snapshot was taken (in-process: none is possible)."""
    loaded = make_counter(sized(backend))
    calls = 0
    if backend == "wasm":
        for _ in range(2):
            loaded.call_handler("count", {"key": "a"})
        calls = 2
    loaded.snapshot().save(path)
    return calls


def load_counter(path: Path, b: SandboxBuilder) -> LoadedJSSandbox:
    proto = b.build()
    register_kv(proto)
    return proto.load_snapshot(Snapshot.load(path))


def runs_here(name: str) -> bool:
    return any(status.name == name and status.runs_here for status in doctor.backends())


# -- round trips -------------------------------------------------------------------------------


def test_round_trip_keeps_the_state(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "counter.snap"
    calls = saved_counter(path, backend)
    loaded = load_counter(path, sized(backend))
    assert loaded.backend == backend
    # wasm: `calls` (a module variable two calls set) came back with the memory.
    assert loaded.call_handler("count", {"key": "b"}) == {"calls": calls + 1, "loadedWith": "L", "value": 2}
    # The loaded sandbox is an ordinary one: it snapshots and restores.
    if backend == "in-process":
        loaded = load_counter(path, sized(backend))
    again = loaded.snapshot()
    loaded.call_handler("count", {"key": "a"})
    loaded.restore(again)
    assert loaded.call_handler("count", {"key": "a"})["calls"] == calls + (1 if backend == "in-process" else 2)


def test_the_handlers_load_does_not_run_again_on_wasm(tmp_path: Path, backend: str) -> None:
    seen: list[str] = []

    def get(key: str) -> object:
        seen.append(key)
        return STORE.get(key)

    proto = sized(backend).build()
    proto.register("kv", "get", get)
    sandbox = proto.load_runtime()
    sandbox.add_handler("count", COUNTER)
    sandbox.get_loaded_sandbox().snapshot().save(tmp_path / "s.snap")
    assert seen == ["at-load"]
    seen.clear()
    proto = sized(backend).build()
    proto.register("kv", "get", get)
    loaded = proto.load_snapshot(Snapshot.load(tmp_path / "s.snap"))
    # wasm restores the memory image; in-process's snapshot is the load itself.
    assert seen == ([] if backend == "wasm" else ["at-load"])
    assert loaded.call_handler("count", {"key": "a"})["loadedWith"] == "L"


def test_a_snapshot_object_loads_without_a_file(backend: str) -> None:
    snapshot = make_counter(sized(backend)).snapshot()
    assert (snapshot.backend, snapshot.from_file) == (backend, False)
    proto = sized(backend).build()
    register_kv(proto)
    assert proto.load_snapshot(snapshot).call_handler("count", {"key": "a"})["calls"] == 1


def test_the_snapshot_describes_what_loads_it(tmp_path: Path, backend: str) -> None:
    make_counter(sized(backend, heap=6 * 1024 * 1024, scratch=300 * 1024)).snapshot().save(tmp_path / "s.snap")
    snapshot = Snapshot.load(tmp_path / "s.snap")
    assert (snapshot.backend, snapshot.heap_size, snapshot.scratch_size) == (backend, 6 * 1024 * 1024, 300 * 1024)
    assert snapshot.from_file


def test_imported_files_come_back_as_they_were_read(tmp_path: Path, backend: str) -> None:
    (tmp_path / "lib.js").write_text("export const version = 'old';\n")
    (tmp_path / "main.js").write_text(
        "import { version } from './lib.js';\nfunction handler(e) { return version; }\n"
    )
    sandbox = sized(backend).build().load_runtime()
    sandbox.add_handler("v", Script.from_file(tmp_path / "main.js"))
    sandbox.get_loaded_sandbox().snapshot().save(tmp_path / "s.snap")
    (tmp_path / "lib.js").write_text("export const version = 'new';\n")
    loaded = sized(backend).build().load_snapshot(Snapshot.load(tmp_path / "s.snap"))
    assert loaded.call_handler("v") == "old"


def test_loads_in_a_fresh_process(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "counter.snap"
    calls = saved_counter(path, backend)
    program = textwrap.dedent(
        f"""
        import json, sys
        from hyperlight_js import SandboxBuilder, Snapshot
        proto = (SandboxBuilder().with_backend({backend!r}).with_host_print_fn(None)
                 .with_guest_heap_size(8 * 1024 * 1024).with_guest_scratch_size(512 * 1024).build())
        proto.register("kv", "get", lambda key: {{"at-load": "other", "a": 10}}.get(key))
        loaded = proto.load_snapshot(Snapshot.load(sys.argv[1]))
        print(json.dumps(loaded.call_handler("count", {{"key": "a"}})))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    # The host function is the new process's; the state is the file's
    # (in-process re-runs the load, so it asks the new host at load).
    loaded_with = "L" if backend == "wasm" else "other"
    assert json.loads(done.stdout) == {"calls": calls + 1, "loadedWith": loaded_with, "value": 10}


# -- refusals ----------------------------------------------------------------------------------


def test_other_host_functions_are_refused(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "s.snap"
    saved_counter(path, backend)
    snapshot = Snapshot.load(path)
    none = sized(backend).build()
    with pytest.raises(SnapshotError, match=r"kv\.get"):
        none.load_snapshot(snapshot)
    renamed = sized(backend).build()
    renamed.register("kv", "fetch", lambda key: key)
    with pytest.raises(SnapshotError, match=r"kv\.fetch"):
        renamed.load_snapshot(snapshot)
    extra = sized(backend).build()
    register_kv(extra)
    extra.register("kv", "put", lambda key, value: None)
    with pytest.raises(SnapshotError):
        extra.load_snapshot(snapshot)
    # A refusal leaves the sandbox usable.
    sandbox = none.load_runtime()
    sandbox.add_handler("one", "function handler() { return 1 }")
    assert sandbox.get_loaded_sandbox().call_handler("one") == 1


def test_other_sizes_are_refused(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "s.snap"
    saved_counter(path, backend)
    with pytest.raises(SnapshotError, match="heap"):
        load_counter(path, sized(backend, heap=16 * 1024 * 1024))
    with pytest.raises(SnapshotError, match="scratch"):
        load_counter(path, sized(backend, scratch=256 * 1024))


def test_another_backend_is_refused(tmp_path: Path, backend: str) -> None:
    other = "in-process" if backend == "wasm" else "wasm"
    if not runs_here(other):
        pytest.skip(f"the {other} backend does not run here")
    path = tmp_path / "s.snap"
    saved_counter(path, backend)
    with pytest.raises(SnapshotError, match=f"{backend} backend"):
        load_counter(path, sized(other))


def test_a_file_snapshot_is_not_restored_into_a_sandbox(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "s.snap"
    saved_counter(path, backend)
    with pytest.raises(SnapshotError, match="load_snapshot"):
        make_counter(sized(backend)).restore(Snapshot.load(path))


def fields(data: bytes) -> dict[str, tuple[int, int]]:
    """Where the file's first string fields lie: name -> (start, end)."""
    at = 12
    found: dict[str, tuple[int, int]] = {}
    for name in ("package_version", "backend", "guest"):
        length, shift = 0, 0
        while True:
            byte = data[at]
            at += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        found[name] = (at, at + length)
        at += length
    return found


def resealed(data: bytes, field: str, value: bytes) -> bytes:
    """The file with one string field replaced (same length) and a valid digest."""
    start, end = fields(data)[field]
    assert len(value) == end - start
    body = data[:start] + value + data[end:-32]
    return body + hashlib.sha256(body).digest()


def refused(tmp_path: Path, data: bytes, match: str) -> None:
    bad = tmp_path / "bad.snap"
    bad.write_bytes(data)
    with pytest.raises(SnapshotError, match=match):
        Snapshot.load(bad)


@pytest.fixture
def saved(tmp_path: Path, backend: str) -> bytes:
    path = tmp_path / "s.snap"
    saved_counter(path, backend)
    return path.read_bytes()


def test_a_corrupt_byte_is_refused(tmp_path: Path, saved: bytes) -> None:
    for at in (len(saved) // 2, len(saved) - 1, 12):
        flipped = bytearray(saved)
        flipped[at] ^= 0x01
        refused(tmp_path, bytes(flipped), "digest")


def test_a_truncated_file_is_refused(tmp_path: Path, saved: bytes) -> None:
    refused(tmp_path, saved[: len(saved) - 100], "digest")
    refused(tmp_path, saved[:20], "truncated")
    refused(tmp_path, b"", "not a hyperlight-js snapshot")


def test_another_format_version_is_refused(tmp_path: Path, saved: bytes) -> None:
    refused(tmp_path, saved[:8] + (99).to_bytes(4, "little") + saved[12:], "format version 99")


def test_another_package_version_is_refused(tmp_path: Path, saved: bytes) -> None:
    start, end = fields(saved)["package_version"]
    refused(tmp_path, resealed(saved, "package_version", b"9" * (end - start)), "saved by hyperlight-js 9")


def test_another_guest_is_refused(tmp_path: Path, saved: bytes) -> None:
    start, end = fields(saved)["guest"]
    refused(tmp_path, resealed(saved, "guest", b"0" * (end - start)), "another .* guest")


def test_an_unknown_backend_is_refused(tmp_path: Path, saved: bytes) -> None:
    start, end = fields(saved)["backend"]
    refused(tmp_path, resealed(saved, "backend", b"x" * (end - start)), "unknown backend")


def test_not_a_snapshot_file_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, b"\x7fELF" + bytes(100), "not a hyperlight-js snapshot")
    with pytest.raises(SnapshotError, match="cannot read"):
        Snapshot.load(tmp_path / "missing.snap")


def test_save_replaces_a_file_whole(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "s.snap"
    path.write_text("old contents")
    saved_counter(path, backend)
    assert Snapshot.load(path).backend == backend
    assert os.listdir(tmp_path) == ["s.snap"]
    with pytest.raises(SnapshotError, match="cannot save"):
        make_counter(sized(backend)).snapshot().save(tmp_path / "no-such-dir" / "s.snap")


# -- pools start from a file -------------------------------------------------------------------


def test_a_pool_starts_from_a_file(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "counter.snap"
    calls = saved_counter(path, backend)
    factory = SnapshotFactory(path, prepare=register_kv, print_fn=None)
    with SandboxPool(factory, size=2) as pool:
        assert pool.call("count", {"key": "a"}, tenant="x")["calls"] == calls + 1
        assert pool.call("count", {"key": "a"}, tenant="x")["calls"] == calls + 2
        # Another tenant gets a sandbox back in the file's state.
        with pool.sandbox(tenant="y") as loaded:
            assert loaded.call_handler("count", {"key": "b"})["calls"] == calls + 1
        assert pool.stats()["created"] == 2


def test_a_snapshot_factory_pickles_by_path(tmp_path: Path, backend: str) -> None:
    import pickle

    path = tmp_path / "counter.snap"
    calls = saved_counter(path, backend)
    factory: Callable[[], Any] = pickle.loads(pickle.dumps(SnapshotFactory(path, prepare=register_kv, print_fn=None)))
    assert factory().call_handler("count", {"key": "a"})["calls"] == calls + 1
    with pytest.raises(TypeError, match="from a path"):
        pickle.dumps(SnapshotFactory(Snapshot.load(path), prepare=register_kv))
