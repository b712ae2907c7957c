"""Built-ins whose C loops run as long as the guest says: array and
typed-array methods on array-likes of length 2^32-1 and 2^53-1, string
building near the length limit, JSON, RegExp, Array.from, spread, property
enumeration, native sorts. Each must end when a monitor or ``kill()`` says so
(vendor/README.md: the QuickJS patches that make the in-process engine poll).

Run as a script, it runs one case on one backend, both ways (monitors, then
``kill()`` from another thread), restores a snapshot after each and checks
the sandbox still works, and prints the outcomes as one JSON line. The tests
(test_builtins.py) run each case in its own process with a timeout, so an
engine that never polls fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from hyperlight_js import (
    CpuTimeMonitor,
    ExecutionCancelled,
    GuestError,
    GuestOutOfMemoryError,
    SandboxBuilder,
    WallClockMonitor,
)

MiB = 1024 * 1024
WALL_LIMIT = 0.3
CPU_LIMIT = 0.2
KILL_AFTER = 0.2

# Outcomes, by exception class name ("ok": the call returned).
KILLED = ("ExecutionCancelled",)
# The loop allocates as it goes: the heap may run out before the monitor fires.
KILLED_OR_OOM = ("ExecutionCancelled", "GuestOutOfMemoryError")
OOM = ("GuestOutOfMemoryError",)
REFUSED = ("GuestError",)  # a RangeError/TypeError before any loop runs


@dataclass(frozen=True)
class BuiltinCase:
    name: str
    body: str  # the handler's body
    expect: tuple[str, ...]
    # A substring of the message, for the engine's own refusals.
    message: str | None = None
    heap: int | None = None


def _on_array_likes(method: str, args: str = "", *, l53: tuple[str, ...] = KILLED, l53_message: str | None = None) -> list[BuiltinCase]:
    """``Array.prototype[method]`` on an empty array-like of length 2^32-1 and 2^53-1."""
    name = method.replace(".", "-")
    call = f"Array.prototype.{method}.call"
    extra = f", {args}" if args else ""
    return [
        BuiltinCase(f"{name}-2e32", f"return {call}({{ length: 2 ** 32 - 1 }}{extra})", KILLED),
        BuiltinCase(f"{name}-2e53", f"return {call}({{ length: 2 ** 53 - 1 }}{extra})", l53, l53_message),
    ]


NOOP = "() => {}"

CASES: list[BuiltinCase] = [
    # --- the attack as reported: a real array of length 2^32-1 -------------
    BuiltinCase("array-reverse", "const a = []; a.length = 2 ** 32 - 1; a.reverse()", KILLED),
    BuiltinCase("array-toString", "const a = []; a.length = 2 ** 32 - 1; return a.toString().length", KILLED),
    BuiltinCase("array-sort", "const a = [1]; a.length = 2 ** 32 - 1; a.sort()", KILLED),
    # --- Array.prototype on array-likes ----------------------------------
    *_on_array_likes("reverse"),
    *_on_array_likes("join", "''"),
    # The separator builds a string of 2^32 characters, the heap's end far away after 0.3 s.
    BuiltinCase("join-separator-2e32", "return Array.prototype.join.call({ length: 2 ** 32 - 1 }, '-').length", KILLED),
    BuiltinCase("toString-2e53", "return Array.prototype.toString.call({ length: 2 ** 53 - 1, join: Array.prototype.join })", KILLED),
    *_on_array_likes("sort"),
    *_on_array_likes("shift"),
    *_on_array_likes("unshift", "1", l53=REFUSED),
    *_on_array_likes("splice", "0, 1"),
    *_on_array_likes("slice", "", l53=REFUSED, l53_message="invalid array length"),
    *_on_array_likes("flat"),
    *_on_array_likes("flatMap", NOOP),
    *_on_array_likes("copyWithin", "0, 1"),
    *_on_array_likes("indexOf", "1"),
    *_on_array_likes("lastIndexOf", "1"),
    *_on_array_likes("includes", "1"),
    *_on_array_likes("every", NOOP),
    *_on_array_likes("some", NOOP),
    *_on_array_likes("forEach", NOOP),
    *_on_array_likes("filter", NOOP),
    *_on_array_likes("map", NOOP, l53=REFUSED, l53_message="invalid array length"),
    *_on_array_likes("find", NOOP),
    *_on_array_likes("findLast", NOOP),
    *_on_array_likes("reduce", f"{NOOP}, 0"),
    *_on_array_likes("reduceRight", f"{NOOP}, 0"),
    # fill creates a property per element: the heap may run out first.
    BuiltinCase("fill-2e32", "Array.prototype.fill.call({ length: 2 ** 32 - 1 }, 0)", KILLED_OR_OOM),
    BuiltinCase("fill-2e53", "Array.prototype.fill.call({ length: 2 ** 53 - 1 }, 0, 2 ** 53 - 2 ** 40)", KILLED_OR_OOM),
    # The copying methods allocate the whole result first.
    BuiltinCase("toReversed-2e32", "return Array.prototype.toReversed.call({ length: 2 ** 32 - 1 })", REFUSED, "invalid array length"),
    BuiltinCase("toSorted-2e53", "return Array.prototype.toSorted.call({ length: 2 ** 53 - 1 })", REFUSED, "invalid array length"),
    BuiltinCase(
        "concat-spreadable-2e32",
        "return [].concat({ length: 2 ** 32 - 1, [Symbol.isConcatSpreadable]: true }).length",
        KILLED,
    ),
    BuiltinCase(
        "concat-spreadable-2e53",
        "return [1].concat({ length: 2 ** 53 - 1, [Symbol.isConcatSpreadable]: true }).length",
        REFUSED,
    ),
    # --- Array.from, spread, apply ---------------------------------------
    BuiltinCase("array-from-2e32", "return Array.from({ length: 2 ** 32 - 1 }).length", KILLED_OR_OOM),
    BuiltinCase("array-from-2e53", "return Array.from({ length: 2 ** 53 - 1 }).length", REFUSED, "invalid array length"),
    BuiltinCase(
        "spread-array-iterator-2e32",
        "return [...Array.prototype.values.call({ length: 2 ** 32 - 1 })].length",
        KILLED_OR_OOM,
    ),
    BuiltinCase("apply-array-like-2e32", "return Math.max.apply(null, { length: 2 ** 32 - 1 })", REFUSED),
    # --- typed arrays on array-likes and on native storage ---------------
    BuiltinCase(
        "typed-array-from-array-like-2e32",
        "return Uint8Array.from({ length: 2 ** 32 - 1 }).length",
        REFUSED,
        "invalid array buffer length",
    ),
    BuiltinCase(
        "typed-array-set-array-like",
        "const t = new Uint8Array(2 ** 25); t.set({ length: 2 ** 25 }); return t.length",
        KILLED,
        heap=128 * MiB,
    ),
    BuiltinCase(
        # 2^22 doubles in a pattern of 2^16 values: about a second of native
        # comparisons per sort with the default comparator. (Bigger arrays
        # mostly measure the first touch of their pages in copyWithin.)
        "typed-array-sort-default",
        "const t = new Float64Array(2 ** 22); for (let i = 0; i < 2 ** 16; i++) t[i] = (i * 2654435761) % 65537;"
        " for (let n = 2 ** 16; n < t.length; n *= 2) t.copyWithin(n, 0, n);"
        " for (;;) t.sort()",
        KILLED,
        heap=128 * MiB,
    ),
    # --- string building --------------------------------------------------
    BuiltinCase("join-holes-2e32", "return new Array(2 ** 32 - 1).join('').length", KILLED),
    BuiltinCase("repeat-over-the-limit", "return 'x'.repeat(2 ** 30).length", REFUSED, "invalid string length"),
    BuiltinCase("repeat-at-the-limit", "return 'x'.repeat(2 ** 30 - 1).length", OOM),
    BuiltinCase("padStart-over-the-limit", "return 'x'.padStart(2 ** 30).length", REFUSED, "invalid string length"),
    BuiltinCase("padEnd-at-the-limit", "return 'x'.padEnd(2 ** 30 - 1, 'ab').length", OOM),
    # --- JSON, RegExp, property enumeration, default sort -----------------
    BuiltinCase("json-stringify-holes-2e32", "const a = []; a.length = 2 ** 32 - 1; return JSON.stringify(a).length", KILLED),
    BuiltinCase(
        "json-stringify-replacer-list-2e32",
        "const r = []; r.length = 2 ** 32 - 1; return JSON.stringify({}, r)",
        KILLED,
    ),
    BuiltinCase("regexp-many-matches", "return 'a'.repeat(2 ** 24).replace(/a/g, '').length", KILLED_OR_OOM),
    BuiltinCase("regexp-split-many-matches", "return 'ab'.repeat(2 ** 23).split(/a/).length", KILLED_OR_OOM),
    # --- BigInt: toString is quadratic in the size (seconds at 900 kbit) --
    BuiltinCase("bigint-to-string", "const x = (1n << 900000n) - 12345n; for (;;) x.toString()", KILLED),
    BuiltinCase("regexp-backtracking", "return /^(a+)+$/.test('a'.repeat(40) + 'b')", KILLED),
    BuiltinCase(
        "object-keys-huge-sparse",
        "const o = {}; for (let i = 0; i < 2 ** 19; i++) o[i * 7919] = i; for (;;) Object.keys(o).sort()",
        KILLED_OR_OOM,
        heap=256 * MiB,
    ),
    BuiltinCase(
        # A million distinct strings, sorted by the default comparator (in C).
        "array-sort-default-strings",
        "const a = Object.keys(new Uint8Array(2 ** 20)).reverse(); for (;;) { a.reverse(); a.sort() }",
        KILLED,
        heap=256 * MiB,
    ),
    # --- upstream's built-in environment (docs/builtins.md) ------------------
    BuiltinCase(
        # One HMAC fed a megabyte at a time, forever.
        "crypto-hmac-update-loop",
        "const h = require('crypto').createHmac('sha512', 'k'); const d = 'x'.repeat(2 ** 20); for (;;) h.update(d)",
        KILLED_OR_OOM,
        heap=256 * MiB,
    ),
    BuiltinCase(
        # One call on a 64 MiB base64 string.
        "string-bytesFrom-huge",
        "return String.bytesFrom('QUJD'.repeat(2 ** 24), 'base64url').length",
        KILLED_OR_OOM,
        heap=256 * MiB,
    ),
]

SANITY = "function handler() { return [3, 1, 2].sort().join() + JSON.stringify({ a: 'x'.repeat(3) }) }"
SANE = '"1,2,3{\\"a\\":\\"xxx\\"}"'


def _outcome(call: Any) -> dict[str, Any]:
    started = time.monotonic()
    try:
        call()
        name, message, monitor = "ok", "", None
    except (ExecutionCancelled, GuestError, GuestOutOfMemoryError) as exc:
        name, message = type(exc).__name__, str(exc)
        monitor = exc.monitor if isinstance(exc, ExecutionCancelled) else None
    return {"outcome": name, "message": message[:300], "monitor": monitor, "elapsed": time.monotonic() - started}


def run(case: BuiltinCase, backend: str) -> dict[str, Any]:
    builder = SandboxBuilder().with_backend(backend).with_host_print_fn(None)
    if case.heap is not None:
        builder = builder.with_guest_heap_size(case.heap)
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("case", f"function handler() {{ {case.body} }}")
    sandbox.add_handler("sanity", SANITY)
    loaded = sandbox.get_loaded_sandbox()
    snapshot = loaded.snapshot()
    report: dict[str, Any] = {}

    monitors = (WallClockMonitor(WALL_LIMIT), CpuTimeMonitor(CPU_LIMIT))
    report["monitors"] = _outcome(lambda: loaded.handle_event_with_monitor("case", "{}", monitors))
    loaded.restore(snapshot)
    report["monitors"]["sane_after_restore"] = loaded.handle_event("sanity", "{}") == SANE

    handle = loaded.interrupt_handle()
    killed_at: list[float] = []

    def kill() -> None:
        time.sleep(KILL_AFTER)
        killed_at.append(time.monotonic())
        handle.kill()

    killer = threading.Thread(target=kill)
    killer.start()
    report["kill"] = _outcome(lambda: loaded.handle_event("case", "{}"))
    ended = time.monotonic()
    killer.join()
    # Negative when the call ended before the kill (the engine refused first).
    report["kill"]["after_kill"] = ended - killed_at[0]
    loaded.restore(snapshot)
    report["kill"]["sane_after_restore"] = loaded.handle_event("sanity", "{}") == SANE
    return report


def main() -> None:
    name, backend = sys.argv[1], sys.argv[2]
    (case,) = [c for c in CASES if c.name == name]
    print(json.dumps(run(case, backend)), flush=True)


assert len({c.name for c in CASES}) == len(CASES), "case names are unique"

if __name__ == "__main__":
    main()
