"""Every sandbox a test builds names its backend. A bare ``SandboxBuilder()``
means ``auto``, whatever backend the test is running for, so a test written
that way would silently run on one backend only. Tests take the ``builder``
fixture (conftest.py) or call ``.with_backend(...)`` in the same chain; only a
test about ``auto`` itself (its name says so) may leave it out.

Checked by reading the source rather than at run time: it covers the helper
modules that child processes run (corpus.py, builtin_loops.py, ...) and
tests on backends that are skipped here, and it does not depend on how the
library stores its default.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

# The check reads files and builds no sandbox: once is enough.
pytestmark = pytest.mark.backends("in-process")

TESTS = Path(__file__).resolve().parent

# Files (relative to tests/) that another branch of the renovation owns and
# converts to the `builder` fixture; each must still have a bare builder,
# else the entry is stale and a test here says to remove it.
AWAITING_CONVERSION = frozenset({"test_bad_input.py"})


@dataclass(frozen=True)
class BareBuilder:
    path: Path
    line: int
    function: str | None

    def __str__(self) -> str:
        where = f" in {self.function}()" if self.function else ""
        return f"{self.path.relative_to(TESTS)}:{self.line}{where}"


def _is_builder_constructor(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call) or node.args or node.keywords:
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return name == "SandboxBuilder"


def _chained_methods(call: ast.Call, parents: dict[ast.AST, ast.AST]) -> list[str]:
    """The methods called on the builder in the same expression:
    ``SandboxBuilder().a().b()`` -> ["a", "b"]."""
    methods: list[str] = []
    node: ast.AST = call
    while True:
        attribute = parents.get(node)
        if not isinstance(attribute, ast.Attribute) or attribute.value is not node:
            return methods
        outer = parents.get(attribute)
        if not isinstance(outer, ast.Call) or outer.func is not attribute:
            return methods
        methods.append(attribute.attr)
        node = outer


def bare_builders(path: Path) -> list[BareBuilder]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parents: dict[ast.AST, ast.AST] = {}
    enclosing: dict[ast.AST, str] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    for definition in ast.walk(tree):
        if isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(definition):
                enclosing.setdefault(inner, definition.name)  # outermost function wins
    found = []
    for node in ast.walk(tree):
        if _is_builder_constructor(node) and isinstance(node, ast.Call):
            if "with_backend" in _chained_methods(node, parents):
                continue
            function = enclosing.get(node)
            if function is not None and "auto" in function:
                continue
            found.append(BareBuilder(path, node.lineno, function))
    return sorted(found, key=lambda bare: bare.line)


def _test_sources() -> list[Path]:
    return sorted(TESTS.rglob("*.py"))


def test_no_test_builds_a_sandbox_without_naming_its_backend() -> None:
    offenders = [
        bare
        for path in _test_sources()
        if path.relative_to(TESTS).as_posix() not in AWAITING_CONVERSION
        for bare in bare_builders(path)
    ]
    assert not offenders, (
        "a bare SandboxBuilder() runs on `auto`, not on the test's backend; take the `builder` fixture "
        "or call .with_backend(...) in the same chain:\n" + "\n".join(map(str, offenders))
    )


def test_no_test_reaches_for_the_librarys_default_backend() -> None:
    """The library's default is not a test hook: patching it would make every
    builder in the process, the library's own included, follow one test."""
    hook = "DEFAULT" + "_BACKEND"  # spelt in two parts so that this file does not find itself
    users = [str(path.relative_to(TESTS)) for path in _test_sources() if hook in path.read_text(encoding="utf-8")]
    assert not users, f"{hook} used in {users}: take the `backend` or `builder` fixture"


def test_files_awaiting_conversion_still_need_it() -> None:
    stale = [name for name in sorted(AWAITING_CONVERSION) if not (TESTS / name).exists() or not bare_builders(TESTS / name)]
    assert not stale, f"no bare SandboxBuilder() left: remove from AWAITING_CONVERSION: {stale}"


def test_the_check_finds_a_bare_builder(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def test_x(builder):\n"
        "    SandboxBuilder().with_host_print_fn(None).build()\n"
        "    hyperlight_js.SandboxBuilder()\n"
        "    SandboxBuilder().with_host_print_fn(None).with_backend('wasm').build()\n"
        "    builder.with_guest_heap_size(1).build()\n"
        "def test_auto_is_the_default():\n"
        "    SandboxBuilder().build()\n",
        encoding="utf-8",
    )
    assert [(bare.line, bare.function) for bare in bare_builders(sample)] == [(2, "test_x"), (3, "test_x")]
