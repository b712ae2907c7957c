"""The wasm guest's compiled machine code, kept on disk between processes
(docs/backends/wasm.md, "The compiled-module cache"). Each check runs fresh
Python processes, since the cache is read once per process; what a process
did is told by its stderr line under ``HYPERLIGHT_JS_WASM_CACHE_TRACE=1``,
and checked against the files it left."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

# Each check is about the wasm backend's start-up in a child process.
pytestmark = pytest.mark.backends("wasm")

CHILD = """
from hyperlight_js import SandboxBuilder
sandbox = SandboxBuilder().with_backend("wasm").build().load_runtime()
sandbox.add_handler("greet", "function handler(e) { return { hello: e.name } }")
print(sandbox.get_loaded_sandbox().call_handler("greet", {"name": "cache"}))
"""


def child_environment(cache_dir: Path, **env: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != "HYPERLIGHT_JS_WASM_CACHE"}
    environment.update(HYPERLIGHT_JS_CACHE_DIR=str(cache_dir), HYPERLIGHT_JS_WASM_CACHE_TRACE="1", **env)
    return environment


def trace_lines(returncode: int, stdout: str, stderr: str) -> list[str]:
    assert returncode == 0, stderr
    assert stdout.strip() == "{'hello': 'cache'}"
    return [line for line in stderr.splitlines() if line.startswith("hyperlight-js wasm cache: ")]


def run_child(cache_dir: Path, **env: str) -> list[str]:
    """Runs a call in a new process with this cache directory; its trace lines."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, env=child_environment(cache_dir, **env)
    )
    return trace_lines(done.returncode, done.stdout, done.stderr)


def cache_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("guest-*.cwasm"))


def test_the_first_process_fills_the_cache_and_the_second_loads_it(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    first = run_child(cache_dir)
    assert any(line.endswith("compiling") for line in first), first
    assert any("wrote" in line for line in first), first
    [written] = cache_files(cache_dir)
    if os.name == "posix":
        assert stat.S_IMODE(written.stat().st_mode) & 0o077 == 0
        assert stat.S_IMODE(cache_dir.stat().st_mode) & 0o077 == 0
    before = written.stat()

    second = run_child(cache_dir)
    assert second == [f"hyperlight-js wasm cache: loaded {written}"]
    after = written.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    # No temporary file is left behind.
    assert sorted(p.name for p in cache_dir.iterdir()) == [written.name]


def test_two_processes_filling_the_cache_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_environment(cache_dir)
        )
        for _ in range(2)
    ]
    for child in children:
        stdout, stderr = child.communicate(timeout=120)
        trace_lines(child.returncode, stdout, stderr)
    [path] = cache_files(cache_dir)
    assert sorted(p.name for p in cache_dir.iterdir()) == [path.name]
    assert run_child(cache_dir) == [f"hyperlight-js wasm cache: loaded {path}"]


@pytest.mark.parametrize("damage", ["flip a byte of the code", "truncate", "empty"])
def test_a_corrupt_cache_file_is_detected_and_replaced(tmp_path: Path, damage: str) -> None:
    cache_dir = tmp_path / "cache"
    run_child(cache_dir)
    [path] = cache_files(cache_dir)
    data = bytearray(path.read_bytes())
    if damage == "flip a byte of the code":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        del data[len(data) // 2 :]
    else:
        data.clear()
    path.write_bytes(bytes(data))

    lines = run_child(cache_dir)
    assert any("corrupt" in line and line.endswith("compiling") for line in lines), lines
    assert any("wrote" in line for line in lines), lines
    # The replacement is whole again: the next process loads it.
    assert run_child(cache_dir) == [f"hyperlight-js wasm cache: loaded {path}"]


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's")
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write a read-only directory")
def test_an_unwritable_cache_directory_still_works(tmp_path: Path) -> None:
    cache_dir = tmp_path / "read-only"
    cache_dir.mkdir(mode=0o500)
    try:
        for _ in range(2):  # each process compiles, and says it could not keep the result
            lines = run_child(cache_dir)
            assert any("cannot write" in line for line in lines), lines
        assert list(cache_dir.iterdir()) == []
    finally:
        cache_dir.chmod(0o700)


def test_a_cache_directory_that_cannot_be_made_still_works(tmp_path: Path) -> None:
    """Under a regular file no directory can be made, root or not."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for _ in range(2):
        lines = run_child(blocker / "cache")
        assert any("cannot write" in line for line in lines), lines


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's")
def test_a_cache_file_others_may_write_is_not_trusted(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    run_child(cache_dir)
    [path] = cache_files(cache_dir)
    path.chmod(0o666)
    lines = run_child(cache_dir)
    assert any("writable by other users" in line for line in lines), lines
    # Replaced by a private file, which the next process loads.
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    assert run_child(cache_dir) == [f"hyperlight-js wasm cache: loaded {path}"]


def test_the_cache_can_be_turned_off(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    lines = run_child(cache_dir, HYPERLIGHT_JS_WASM_CACHE="0")
    assert lines == ["hyperlight-js wasm cache: cache disabled, compiling"]
    assert not cache_dir.exists()
