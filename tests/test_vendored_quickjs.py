"""The QuickJS both backends build (vendor/rquickjs-sys) is the published
rquickjs-sys crate plus the patches in vendor/patches/rquickjs-sys, in order,
and nothing else: nobody edits the vendored C silently (vendor/README.md)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Nothing here depends on a backend; run once.
pytestmark = pytest.mark.backends("in-process")

VENDOR = Path(__file__).resolve().parents[1] / "vendor"
CRATE = VENDOR / "rquickjs-sys"
PATCHES = sorted((VENDOR / "patches" / "rquickjs-sys").glob("*.patch"))
PRISTINE = VENDOR / "rquickjs-sys.pristine.sha256"


def _digests(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def _pristine() -> dict[str, str]:
    digests = {}
    for line in PRISTINE.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        digests[name] = digest
    return digests


def _git_apply(tree: Path, patch: Path, *flags: str) -> None:
    # The ceiling keeps git from taking an enclosing repository for the tree.
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tree.parent)}
    subprocess.run(["git", "apply", "-p1", *flags, str(patch)], cwd=tree, env=env, check=True, capture_output=True)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git (which applies the patches) is not installed")
    copy = tmp_path / "rquickjs-sys"
    shutil.copytree(CRATE, copy)
    return copy


def test_patches_are_named_and_numbered_in_order() -> None:
    assert PATCHES, "vendor/patches/rquickjs-sys holds no patch"
    numbers = [patch.name.split("-", 1)[0] for patch in PATCHES]
    assert numbers == [f"{n:04d}" for n in range(1, len(PATCHES) + 1)]
    readme = (VENDOR / "README.md").read_text()
    for patch in PATCHES:
        assert patch.name in readme, f"vendor/README.md does not describe {patch.name}"


def test_removing_the_patches_gives_back_the_published_crate(tree: Path) -> None:
    for patch in reversed(PATCHES):
        _git_apply(tree, patch, "--reverse")
    assert _digests(tree) == _pristine()


def test_the_patches_applied_to_the_published_crate_give_the_vendored_copy(tree: Path) -> None:
    for patch in reversed(PATCHES):
        _git_apply(tree, patch, "--reverse")
    for patch in PATCHES:
        _git_apply(tree, patch)
    assert _digests(tree) == _digests(CRATE)
