"""Import roots hold files someone else wrote (plugin archives, tenant
uploads). Whatever is in them, an import must not block the host, balloon
its memory, tell the guest what exists outside the root, or show it where
the root is on the host."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hyperlight_js import HandlerLoadError, SandboxBuilder, Script, WallClockMonitor

MiB = 1024 * 1024

fifos_exist = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="this platform has no FIFOs")


def _load_error(builder: SandboxBuilder, script: Script, heap: int = 16 * MiB) -> str:
    sandbox = builder.with_guest_heap_size(heap).build().load_runtime()
    sandbox.add_handler("h", script)
    with pytest.raises(HandlerLoadError) as failed:
        # Bounded by a monitor: on engines where a blocked read could be
        # ended, it is; the FIFO writer below bounds those where it cannot.
        sandbox.get_loaded_sandbox(WallClockMonitor(30))
    return str(failed.value)


# Run in a separate process: a read blocked on a FIFO may hold the GIL, so a
# thread of this process could never run to unblock it.
_UNBLOCK = """
import os, sys, time
time.sleep(3)
while True:
    for fifo in sys.argv[1:]:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # no reader yet (ENXIO), or gone
    time.sleep(0.2)
"""


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO in `tmp_path`, with a helper process that opens and closes its
    write end whenever someone holds it open for reading: a read that
    blocks on it (the bug) then ends after a few seconds with an empty file,
    instead of hanging the test run. A fixed loader never blocks on it."""
    path = tmp_path / "pipe"
    os.mkfifo(path)
    unblocker = subprocess.Popen([sys.executable, "-c", _UNBLOCK, str(path)])
    yield path
    unblocker.kill()
    unblocker.wait()


@fifos_exist
def test_a_fifo_inside_the_root_is_refused_not_read(tmp_path: Path, fifo: Path, builder: SandboxBuilder) -> None:
    (tmp_path / "main.js").write_text("import './pipe'; function handler() { return 1 }")
    message = _load_error(builder, Script.from_file(tmp_path / "main.js"))
    assert "not a regular file" in message
    assert str(tmp_path) not in message


@fifos_exist
def test_a_symlink_to_a_fifo_inside_the_root_is_refused(tmp_path: Path, fifo: Path, builder: SandboxBuilder) -> None:
    (tmp_path / "plugin.js").symlink_to(fifo)
    source = "import './plugin.js'; function handler() { return 1 }"
    assert "not a regular file" in _load_error(builder, Script.from_content(source, base_dir=tmp_path))


@fifos_exist
def test_a_fifo_given_as_the_handler_script_is_refused(fifo: Path) -> None:
    with pytest.raises(HandlerLoadError, match="not a regular file"):
        Script.from_file(fifo)


def test_a_directory_named_like_a_module_is_refused(tmp_path: Path, builder: SandboxBuilder) -> None:
    (tmp_path / "lib.js").mkdir()
    source = "import './lib.js'; function handler() { return 1 }"
    assert "not a regular file" in _load_error(builder, Script.from_content(source, base_dir=tmp_path))


def _rss() -> int:
    return psutil.Process().memory_info().rss


def test_a_huge_sparse_import_is_refused_without_reading_it(tmp_path: Path, builder: SandboxBuilder) -> None:
    with open(tmp_path / "big.js", "wb") as f:
        f.truncate(512 * MiB)  # sparse: costs no disk, would cost 512 MiB to read
    source = "import './big.js'; function handler() { return 1 }"
    before = _rss()
    message = _load_error(builder, Script.from_content(source, base_dir=tmp_path), heap=16 * MiB)
    grown = _rss() - before
    assert f"limit of {16 * MiB} bytes" in message
    assert grown < 64 * MiB, f"host RSS grew by {grown / MiB:.0f} MiB"


def test_imports_together_may_not_exceed_the_guest_heap(tmp_path: Path, builder: SandboxBuilder) -> None:
    # Each file alone fits the 16 MiB heap; a sandbox holds its imports'
    # source for every restore, so all of them together must fit as well.
    for name in "abc":
        (tmp_path / f"{name}.js").write_text("// " + "x" * (6 * MiB) + f"\nexport const {name} = 1;\n")
    source = "import {a} from './a.js'; import {b} from './b.js'; import {c} from './c.js'; function handler() { return a + b + c }"
    message = _load_error(builder, Script.from_content(source, base_dir=tmp_path), heap=16 * MiB)
    assert "together" in message and str(tmp_path) not in message


def test_a_huge_handler_file_is_refused(tmp_path: Path) -> None:
    with open(tmp_path / "main.js", "wb") as f:
        f.truncate(512 * MiB)
    before = _rss()
    with pytest.raises(HandlerLoadError, match="larger than the limit"):
        Script.from_file(tmp_path / "main.js")
    assert _rss() - before < 64 * MiB


# --- what the guest can learn -------------------------------------------


def _import_failure(builder: SandboxBuilder, root: Path, specifier: str) -> str:
    source = f"import '{specifier}'; function handler() {{ return 1 }}"
    return _load_error(builder, Script.from_content(source, base_dir=root))


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """tmp/root is the import root; tmp/secret.js and tmp/private/ lie
    outside it, and tmp/root/out links to tmp/private."""
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.js").write_text("export const secret = 1")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.js").write_text("export const key = 1")
    (root / "out").symlink_to(tmp_path / "private")
    return root


@pytest.mark.parametrize(
    ("exists", "missing"),
    [
        ("../secret.js", "../absent.js"),
        ("../private/key.js", "../nowhere/key.js"),
        ("./out/key.js", "./out/absent.js"),
        ("../root/../secret.js", "../nowhere/../absent.js"),
    ],
)
def test_outside_the_root_an_existing_file_and_a_missing_one_look_the_same(
    layout: Path, exists: str, missing: str, builder: SandboxBuilder
) -> None:
    seen_existing = _import_failure(builder, layout, exists)
    seen_missing = _import_failure(builder, layout, missing)
    assert seen_existing.replace(exists, "X") == seen_missing.replace(missing, "X")
    for message in (seen_existing, seen_missing):
        assert str(layout.parent) not in message, message
        assert "No such file or directory" not in message


def test_inside_the_root_failures_name_no_host_path(layout: Path, builder: SandboxBuilder) -> None:
    (layout / "broken.js").write_bytes(b"\xff\xfe not text")
    for specifier in ("./absent.js", "./broken.js"):
        message = _import_failure(builder, layout, specifier)
        assert specifier in message
        assert str(layout.parent) not in message, message


def test_dynamic_imports_get_the_same_uniform_answer(layout: Path, builder: SandboxBuilder) -> None:
    source = """
        async function probe(s) { try { await import(s); return 'imported' } catch (e) { return String(e) } }
        export async function handler() { return [await probe('../secret.js'), await probe('../absent.js')] }
    """
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("h", Script.from_content(source, base_dir=layout))
    existing, missing = sandbox.get_loaded_sandbox().call_handler("h")
    assert existing.replace("secret", "X") == missing.replace("absent", "X")
    assert str(layout.parent) not in existing


# --- symlinked handler scripts --------------------------------------------


def test_a_symlinked_handler_gets_the_links_directory_as_its_root(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    secrets = tmp_path / "secrets"
    plugins.mkdir()
    secrets.mkdir()
    (secrets / "key.js").write_text("export const key = 'leaked'")
    (secrets / "main.js").write_text("import { key } from './key.js'; function handler() { return key }")
    (plugins / "main.js").symlink_to(secrets / "main.js")
    # The link's directory is the root, and the file it leads to lies outside.
    with pytest.raises(ValueError, match="outside the allowed directory"):
        Script.from_file(plugins / "main.js")


def test_a_symlink_within_its_own_directory_still_works(tmp_path: Path, builder: SandboxBuilder) -> None:
    (tmp_path / "lib.js").write_text("export const v = 7")
    (tmp_path / "real.js").write_text("import { v } from './lib.js'; function handler() { return v }")
    (tmp_path / "main.js").symlink_to(tmp_path / "real.js")
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("h", Script.from_file(tmp_path / "main.js"))
    assert sandbox.get_loaded_sandbox().call_handler("h") == 7


if sys.platform == "win32":  # symlinks need privileges there
    pytestmark = pytest.mark.skip(reason="creating symlinks needs administrator rights on Windows")
