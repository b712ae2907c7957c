"""Host function names need not be JavaScript identifiers: any non-empty
string without NUL, as upstream.

upstream: src/hyperlight-js/tests/host_functions.rs (``"no-op"``,
``"scoped/add/😊"`` called as ``host["scoped/add/😊"](10, 32)``) and
src/js-host-api/tests/host-functions.test.js (empty module and function
names throw).
"""

from __future__ import annotations

import pytest

from hyperlight_js import SandboxBuilder

NAMES = ["no-op", "scoped/add/😊", "with space", "1starts-with-digit", "default", "then", "__proto__x", "a.b"]


def test_any_name_is_callable_by_bracket_access(builder: SandboxBuilder) -> None:
    proto = builder.build()
    for i, name in enumerate(NAMES):
        proto.register("host", name, lambda a, i=i: [i, a])
    sandbox = proto.load_runtime()
    sandbox.add_handler(
        "h",
        "import * as host from 'host'; function handler(e) { return e.names.map((n) => host[n](n)) }",
    )
    loaded = sandbox.get_loaded_sandbox()
    assert loaded.call_handler("h", {"names": NAMES}) == [[i, name] for i, name in enumerate(NAMES)]


def test_module_namespace_lists_exactly_the_registered_names(builder: SandboxBuilder) -> None:
    # upstream: src/hyperlight-js/tests/host_functions.rs (sorted Object.keys of the module).
    proto = builder.build()
    for name in ["add", "hello", "no-op", "scoped/add/😊"]:
        proto.register("host", name, lambda: None)
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", "import * as host from 'host'; function handler() { return Object.keys(host).sort() }")
    assert sandbox.get_loaded_sandbox().call_handler("h") == sorted(["add", "hello", "no-op", "scoped/add/😊"])


def test_a_string_named_import_binds_a_non_identifier_name(builder: SandboxBuilder) -> None:
    proto = builder.build()
    proto.register("host", "no-op", lambda: "called")
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", "import { 'no-op' as noop } from 'host'; function handler() { return noop() }")
    assert sandbox.get_loaded_sandbox().call_handler("h") == "called"


def test_module_names_upstream_uses(builder: SandboxBuilder) -> None:
    # upstream: src/js-host-api/README.md imports host modules as "host:math".
    proto = builder.build()
    proto.register("host:math", "add", lambda a, b: a + b)
    proto.register("😊 mod", "id", lambda a: a)
    sandbox = proto.load_runtime()
    sandbox.add_handler(
        "h",
        "import { add } from 'host:math'; import * as m from '😊 mod'; function handler() { return m.id(add(40, 2)) }",
    )
    assert sandbox.get_loaded_sandbox().call_handler("h") == 42


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("m", ""),  # upstream: host-functions.test.js "should throw on empty function name"
        ("", "f"),  # upstream: host-functions.test.js "should throw on empty module name"
        ("m", "a\0b"),  # QuickJS takes export names as C strings
        ("m\0", "f"),
        ("./rel", "f"),  # imports of paths are files here
        ("dir/mod", "f"),
        ("m", "\ud800"),  # not encodable as UTF-8: UnicodeEncodeError is a ValueError
    ],
)
def test_refused_names_raise_value_error(builder: SandboxBuilder, module: str, name: str) -> None:
    proto = builder.build()
    with pytest.raises(ValueError):
        proto.register(module, name, lambda: 1)
    proto.register("m", "ok", lambda: 1)  # the sandbox stays usable


def test_a_name_registered_twice_is_refused(builder: SandboxBuilder) -> None:
    """Upstream's Rust register overwrites; here the second registration is
    refused, so a typo cannot silently replace a function (docs/api.md)."""
    proto = builder.build()
    proto.register("m", "no-op", lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        proto.register("m", "no-op", lambda: 2)
