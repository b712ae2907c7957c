"""Upstream's built-in environment, on every backend: the modules ``crypto``,
``io``, ``console``, ``require``, the globals ``require``, ``print`` and
``String.bytesFrom``, and ``console.log``'s trailing newline
(docs/builtins.md).

upstream (hyperlight-dev/hyperlight-js):
  src/hyperlight-js/tests/builtin_globals.rs, builtin_modules.rs,
  builtin_crypto.rs; src/hyperlight-js-runtime/src/modules/*.rs and
  src/hyperlight-js-runtime/src/globals/*.rs for the behaviour they pin;
  src/hyperlight-js/examples/ (console.log("Hello, World!!") printing
  "Hello, World!!\\n").
Expected digests are computed here with Python's hmac/hashlib, over the
RFC 4231 test cases' keys and data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from hyperlight_js import GuestError, SandboxBuilder

from conftest import LoadFn

ALGORITHMS = ["sha256", "sha384", "sha512"]

# RFC 4231 section 4: (key, data) of test cases 1, 2, 3, 4, 6 and 7 (case 5
# is about truncated output, which createHmac does not offer).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There"),
    (b"Jefe", b"what do ya want for nothing?"),
    (b"\xaa" * 20, b"\xdd" * 50),
    (bytes(range(1, 26)), b"\xcd" * 50),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"),
    (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data. "
        b"The key needs to be hashed before being used by the HMAC algorithm.",
    ),
]

BYTES = "const bytes = (hex) => new Uint8Array(hex.match(/../g).map((b) => parseInt(b, 16)));"


def _digests(mac: bytes) -> dict[str, str]:
    return {
        "hex": mac.hex(),
        "base64": base64.b64encode(mac).decode(),
        "base64url": base64.urlsafe_b64encode(mac).decode().rstrip("="),
    }


def test_builtin_globals_are_defined(load: LoadFn) -> None:
    """upstream: src/hyperlight-js/tests/builtin_globals.rs"""
    loaded = load(
        h="""function handler() {
            return [typeof console.log, typeof print, typeof require, typeof String.bytesFrom];
        }"""
    )
    assert loaded.call_handler("h") == ["function"] * 4


def test_builtin_modules_export_what_upstream_exports(load: LoadFn) -> None:
    """upstream: src/hyperlight-js/tests/builtin_modules.rs"""
    loaded = load(
        h="""import * as crypto from "crypto";
        import * as console from "console";
        import * as io from "io";
        import * as require from "require";
        function handler() {
            return { crypto: Object.keys(crypto), console: Object.keys(console), io: Object.keys(io),
                     require: Object.keys(require) };
        }"""
    )
    result = loaded.call_handler("h")
    assert {k: set(v) for k, v in result.items()} == {
        "crypto": {"Hmac", "createHmac"},
        "console": {"log"},
        "io": {"print", "flush"},
        "require": {"default", "require"},
    }


def test_crypto_create_hmac_as_upstream_test(load: LoadFn) -> None:
    """upstream: src/hyperlight-js/tests/builtin_crypto.rs (crypto_create_hmac)"""
    key = "TULWi2fOzLr9GcJeArpS4o135bEGmFhdUjpBSxUeJxXtIlx6qh"
    data = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJUZXN0U3ViamVjdCIsIm5hbWUiOiJUZXN0IFVzZXIiLCJpYXQiOjE3"
        "MTg4OTE5MTksIm5iZiI6MTcxODg5MTkxOSwiZXhwIjoxODc2NjU4MzQ2fQ"
    )
    loaded = load(
        h="""function handler(event) {
            var crypto = require('crypto');
            var hmac = crypto.createHmac('sha256', event.key).update(event.data);
            return { b64url: hmac.digest('base64url'), b64: hmac.digest('base64'), hex: hmac.digest('hex') };
        }"""
    )
    expected = _digests(hmac.new(key.encode(), data.encode(), hashlib.sha256).digest())
    result = loaded.call_handler("h", {"key": key, "data": data})
    assert result == {"b64url": expected["base64url"], "b64": expected["base64"], "hex": expected["hex"]}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hmac_matches_rfc4231_vectors(load: LoadFn, algorithm: str) -> None:
    """RFC 4231's keys and data (as Uint8Array), digested to every encoding."""
    loaded = load(
        h=BYTES
        + """import { createHmac } from "crypto";
        function handler(e) {
            return e.cases.map(([key, data]) => {
                const mac = createHmac(e.algorithm, bytes(key)).update(bytes(data));
                return { hex: mac.digest("hex"), base64: mac.digest("base64"), base64url: mac.digest("base64url") };
            });
        }"""
    )
    cases = [[key.hex(), data.hex()] for key, data in RFC4231]
    expected = [_digests(hmac.new(key, data, getattr(hashlib, algorithm)).digest()) for key, data in RFC4231]
    assert loaded.call_handler("h", {"algorithm": algorithm, "cases": cases}) == expected


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hmac_of_strings_is_over_their_utf8_and_chains(load: LoadFn, algorithm: str) -> None:
    """upstream: src/hyperlight-js-runtime/src/modules/crypto.rs (strings are
    their UTF-8 bytes; update() returns the Hmac; the algorithm's case does
    not matter; data spanning many blocks)."""
    loaded = load(
        h="""function handler(e) {
            const mac = require("crypto").createHmac(e.algorithm.toUpperCase(), e.key);
            for (const part of e.parts) mac.update(part);
            return mac.digest("hex");
        }"""
    )
    key, parts = "ключ 🔑", ["grüße ", "😊" * 100, "x" * 1000]
    expected = hmac.new(key.encode(), "".join(parts).encode(), getattr(hashlib, algorithm)).hexdigest()
    assert loaded.call_handler("h", {"algorithm": algorithm, "key": key, "parts": parts}) == expected


def test_digest_is_kept_and_update_after_it_starts_a_new_message(load: LoadFn) -> None:
    """upstream: src/hyperlight-js-runtime/src/modules/crypto.rs (digest
    finalizes with reset; later digests repeat the result until update())."""
    loaded = load(
        h="""function handler() {
            const mac = require("crypto").createHmac("sha256", "k").update("one");
            const first = [mac.digest("hex"), mac.digest("hex")];
            mac.update("two");
            return [...first, mac.digest("hex")];
        }"""
    )
    one = hmac.new(b"k", b"one", hashlib.sha256).hexdigest()
    two = hmac.new(b"k", b"two", hashlib.sha256).hexdigest()
    assert loaded.call_handler("h") == [one, one, two]


@pytest.mark.parametrize(
    ("body", "name", "message"),
    [
        ("createHmac('md5', 'k')", "TypeError", 'Invalid algorithm: "md5"'),
        ("createHmac('sha256', 'k').digest('latin1')", "TypeError", 'Unsupported format: "latin1"'),
        ("createHmac('sha256', 'k').digest()", "TypeError", "undefined"),
        ("createHmac('sha256', 42)", "TypeError", "Expected a String or Uint8Array"),
        ("createHmac('sha256', 'k').update({})", "TypeError", "Expected a String or Uint8Array"),
        ("String.bytesFrom('QUJD', 'base64')", "TypeError", "Unsupported encoding, only 'base64url' is supported"),
        ("String.bytesFrom('QU*D', 'base64url')", "InternalError", "Invalid symbol"),
    ],
)
def test_bad_input_errors_have_upstreams_shape(load: LoadFn, body: str, name: str, message: str) -> None:
    """upstream: src/hyperlight-js-runtime/src/modules/crypto.rs and
    src/globals/string.rs (TypeError for a bad algorithm, format, encoding or
    argument type; the decoder's failure as an InternalError)."""
    loaded = load(
        h=f"""import {{ createHmac }} from "crypto";
        function handler() {{
            try {{ {body}; return null; }} catch (e) {{ return [e.name, e.message, e instanceof Error]; }}
        }}"""
    )
    result: Any = loaded.call_handler("h")
    assert result is not None
    assert result[0] == name and message in result[1] and result[2] is True


UPSTREAM_BASE64 = [
    "SGVsbG8gV29ybGQhIQo=",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyLCJuYmYiOjE1MTYyMzkwMjIsImV4cCI6MTcxNjIzOTAyMn0=",
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyLCJuYmYiOjE1MTYyMzkwMjIsImV4cCI6MTcxNjIzOTAyMn0",
]


def test_string_bytes_from_decodes_upstreams_inputs(load: LoadFn) -> None:
    """upstream: src/hyperlight-js/tests/builtin_crypto.rs (the four
    String.bytesFrom calls), padded or not, from a string or a Uint8Array."""
    loaded = load(
        h="""function handler(e) {
            const asBytes = (s) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
            return e.inputs.map((s) => [String.bytesFrom(s, "base64url"), String.bytesFrom(asBytes(s), "base64url")]);
        }"""
    )
    expected = []
    for text in UPSTREAM_BASE64:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4)).decode()
        expected.append([decoded, decoded])
    assert loaded.call_handler("h", {"inputs": UPSTREAM_BASE64}) == expected


def test_string_bytes_from_reads_the_url_safe_alphabet_and_utf8(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { return String.bytesFrom(e.text, 'base64url') }")
    text = "grüße 😊 ~~~???"
    encoded = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    assert "-" in encoded or "_" in encoded
    assert loaded.call_handler("h", {"text": encoded}) == text


def test_require_and_import_give_the_same_functions(load: LoadFn) -> None:
    """upstream: src/hyperlight-js-runtime/src/modules/require.rs (require,
    its default export, and the global all reach the same modules)."""
    loaded = load(
        h="""import { createHmac } from "crypto";
        import req, { require as named } from "require";
        import { print } from "io";
        function handler() {
            return [require("crypto").createHmac === createHmac, req("crypto") === named("crypto"),
                    req === require, require("io").print === print, typeof require("console").log];
        }"""
    )
    assert loaded.call_handler("h") == [True, True, True, True, "function"]


def test_builtins_cannot_be_overwritten(load: LoadFn) -> None:
    """upstream defines the globals with no writable/configurable flags
    (src/hyperlight-js-runtime/src/globals/*.rs) and module exports are
    read-only bindings."""
    loaded = load(
        h="""import * as crypto from "crypto";
        function attempt(f) { try { f(); return "changed"; } catch (e) { return e.name; } }
        function handler() {
            return [
                attempt(() => { String.bytesFrom = null }),
                attempt(() => { globalThis.require = null }),
                attempt(() => { delete globalThis.require }),
                attempt(() => { crypto.createHmac = null }),
                attempt(() => { require("crypto").createHmac = null }),
                attempt(() => { require("crypto").Hmac.prototype.digest = null }),
                typeof require("crypto").createHmac,
            ];
        }"""
    )
    assert loaded.call_handler("h") == ["TypeError"] * 6 + ["function"]


def test_a_host_module_of_the_same_name_comes_first(builder: SandboxBuilder) -> None:
    """upstream's loader chain asks host modules before native ones
    (src/hyperlight-js-runtime/src/lib.rs: (host_loader, native_loader,
    module_loader))."""
    proto = builder.build()
    proto.register("crypto", "createHmac", lambda *_: "host")
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", "import { createHmac } from 'crypto'; function handler() { return createHmac('x') }")
    assert sandbox.get_loaded_sandbox().call_handler("h") == "host"


def test_console_log_delivers_its_line_with_the_newline(builder: SandboxBuilder) -> None:
    """upstream: src/hyperlight-js-runtime/src/modules/console.rs (arguments
    joined by a space, then "\\n"); src/hyperlight-js/examples/ print
    "Hello, World!!\\n". print() and io.print add nothing."""
    texts: list[str] = []
    sandbox = builder.with_host_print_fn(texts.append).build().load_runtime()
    sandbox.add_handler(
        "h",
        """import { print as ioPrint } from "io";
        import { log } from "console";
        function handler() {
            console.log("Hello, World!!"); console.log(""); console.log(); console.log("a", 1);
            print("p"); ioPrint("q"); log("r"); require("io").flush();
            return null;
        }""",
    )
    sandbox.get_loaded_sandbox().call_handler("h")
    assert texts == ["Hello, World!!\n", "\n", "\n", "a 1\n", "p", "q", "r\n"]
    assert "".join(texts) == "Hello, World!!\n\n\na 1\npqr\n"


def test_default_print_function_adds_no_second_newline(capsys: pytest.CaptureFixture[str], backend: str) -> None:
    from conftest import new_builder

    sandbox = new_builder(backend).build().load_runtime()
    sandbox.add_handler("h", "function handler() { console.log('one'); print('two'); console.log(''); return 0 }")
    sandbox.get_loaded_sandbox().call_handler("h")
    assert capsys.readouterr().out == "one\ntwo\n"


def test_builtins_survive_snapshot_restore(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { return require('crypto').createHmac('sha256', 'k').update(e).digest('hex') }")
    snapshot = loaded.snapshot()
    assert loaded.call_handler("h", "a") == hmac.new(b"k", b"a", hashlib.sha256).hexdigest()
    loaded.restore(snapshot)
    assert loaded.call_handler("h", "b") == hmac.new(b"k", b"b", hashlib.sha256).hexdigest()


def test_require_of_an_unknown_module_throws(load: LoadFn) -> None:
    loaded = load(h="function handler() { require('fs') }")
    with pytest.raises(GuestError):
        loaded.call_handler("h")
