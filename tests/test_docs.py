"""The documentation keeps working: every Python block of README.md,
CONTRIBUTING.md and docs/ runs as written, every relative link leads to a file
(and heading) that exists, and the README stays short enough to finish.

Each block runs as its own script, named ``__main__`` as a script is, on the
default (``auto``) backend, in a temporary directory shared by the blocks of
its page only: a page is read top to bottom, so a block may open a file an
earlier block of the same page wrote (never its variables). A block that can
run only under a condition names it in its first line, ``# requires: <name>``,
which the reader sees too; the conditions are below and in CONTRIBUTING.md."""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hyperlight_js import BackendUnavailableError, SandboxBuilder, doctor

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 250

# A fenced block, possibly indented (inside a list item); the closing fence
# has the opening one's indentation.
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
REQUIRES = re.compile(r"#\s*requires:\s*(?P<condition>[\w-]+)\s*$")
LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`+[^`\n]*`+")
HEADING = re.compile(r"^#{1,6}[ \t]+(?P<title>.+?)[ \t]*#*[ \t]*$", re.M)


def _hyperlight_runs() -> str | None:
    for status in doctor.backends():
        if status.name == "hyperlight":
            return None if status.runs_here else f"needs a micro-VM: {status.problem}"
    return "needs a micro-VM: this build has no hyperlight backend"


def _windows() -> str | None:
    return None if sys.platform == "win32" else f"Windows only (this is {sys.platform})"


def _posix_thread_clocks() -> str | None:
    if hasattr(time, "pthread_getcpuclockid"):
        return None
    return f"needs time.pthread_getcpuclockid, which {sys.platform} lacks"


def _ray() -> str | None:
    return None if importlib.util.find_spec("ray") else "needs ray (pip install 'hyperlight-js[ray]')"


# Each condition: None when it holds here, else why not.
CONDITIONS: dict[str, Callable[[], str | None]] = {
    "micro-vm": _hyperlight_runs,
    "windows": _windows,
    "posix-thread-clocks": _posix_thread_clocks,
    "ray": _ray,
}


def _auto_backend() -> tuple[str | None, str]:
    """The backend a bare SandboxBuilder() loads here, asked of the package
    itself rather than worked out again in the test."""
    try:
        sandbox = SandboxBuilder().with_host_print_fn(None).build().load_runtime()
        sandbox.add_handler("probe", "function handler() { return 0 }")
        return sandbox.get_loaded_sandbox().backend, ""
    except BackendUnavailableError as error:
        return None, f"the default backend cannot load here: {error}"


AUTO, AUTO_PROBLEM = _auto_backend()
# The suite runs each test once per backend (tests/conftest.py); the blocks run
# once, on the backend `auto` chose.
pytestmark = (
    pytest.mark.backends(AUTO) if AUTO else pytest.mark.skip(reason=AUTO_PROBLEM)
)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the block's first code line, 1-based
    info: str
    source: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def is_python(self) -> bool:
        return self.info.split(maxsplit=1)[0].lower() in ("python", "py") if self.info.strip() else False

    @property
    def condition(self) -> str | None:
        first = self.source.lstrip("\n").split("\n", 1)[0]
        match = REQUIRES.match(first)
        return match["condition"] if match else None


def blocks(page: Path) -> Iterator[Block]:
    text = page.read_text(encoding="utf-8")
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("body")) + 1
        lines = match["body"].split("\n")
        indent = match["indent"]
        body = "\n".join(row[len(indent) :] if row.startswith(indent) else row for row in lines)
        yield Block(page, line, match["info"].strip(), textwrap.dedent(body))


PYTHON_BLOCKS = [block for page in PAGES for block in blocks(page) if block.is_python]


def test_the_docs_have_python_blocks() -> None:
    """A parser that silently found nothing would make every test below vacuous."""
    pages = {block.page.name for block in PYTHON_BLOCKS}
    assert {"README.md", "api.md", "monitors.md"} <= pages


def test_every_condition_is_known() -> None:
    unknown = {b.where: b.condition for b in PYTHON_BLOCKS if b.condition and b.condition not in CONDITIONS}
    assert not unknown, f"unknown `# requires:` conditions (known: {sorted(CONDITIONS)})"


@pytest.fixture
def clean_ray() -> Iterator[None]:
    """A block that starts Ray leaves no cluster behind for the next test."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


_PAGE_DIRS: dict[Path, Path] = {}


@pytest.fixture
def page_dir(block: Block, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if block.page not in _PAGE_DIRS:
        _PAGE_DIRS[block.page] = tmp_path_factory.mktemp(block.page.stem)
    return _PAGE_DIRS[block.page]


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[block.where for block in PYTHON_BLOCKS])
def test_python_block_runs(block: Block, page_dir: Path, monkeypatch: pytest.MonkeyPatch, clean_ray: None) -> None:
    if block.condition is not None and block.condition in CONDITIONS:
        problem = CONDITIONS[block.condition]()
        if problem is not None:
            pytest.skip(problem)
    monkeypatch.chdir(page_dir)
    # Leading newlines make a traceback's line numbers those of the page.
    code = compile("\n" * (block.line - 1) + block.source, str(block.page), "exec")
    exec(code, {"__name__": "__main__", "__file__": str(page_dir / "block.py")})


def _strip_code(text: str) -> str:
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    title = INLINE_CODE.sub(lambda code: code.group(0).strip("`"), title).lower()
    return re.sub(r"[^\w\- ]", "", title).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for match in HEADING.finditer(FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = _slug(match["title"])
        candidate, n = slug, 0
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def relative_links(page: Path) -> Iterator[str]:
    for match in LINK.finditer(_strip_code(page.read_text(encoding="utf-8"))):
        target = match["target"]
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:, ...
            yield target


@pytest.mark.parametrize("page", PAGES, ids=[page.relative_to(ROOT).as_posix() for page in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{target}: no heading with that anchor in {file.relative_to(ROOT).as_posix()}")
    assert not broken, "\n".join(broken)


def test_the_links_test_sees_links() -> None:
    assert "docs/api.md" in set(relative_links(ROOT / "README.md"))


def test_the_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/"
