"""Hostile handlers: the worst JavaScript we could think of, each with the
outcome the host must see.

Every case runs under the recommended ``(WallClockMonitor, CpuTimeMonitor)``
pair (its ``limits``), then the sandbox is restored from the snapshot taken
at load and a sanity handler checks that nothing the case did survived.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conftest import new_builder
from hyperlight_js import (
    ExecutionCancelled,
    LoadedJSSandbox,
    GuestError,
    GuestOutOfMemoryError,
    HyperlightError,
    ResultNotSerializableError,
)

OK = None  # the call returns normally
KILLED = (ExecutionCancelled,)
KILLED_OR_OOM = (ExecutionCancelled, GuestOutOfMemoryError)
MiB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    expect: tuple[type[BaseException], ...] | None
    poisoned: bool = False
    event: Any = None
    result: Any = ...  # checked when not ...
    limits: tuple[float, float] = (2.0, 0.2)  # (wall-clock, CPU-time) seconds
    heap: int | None = None
    host: dict[str, Callable[..., Any]] = field(default_factory=dict)
    winner: str | None = None  # the monitor that must end it, when it matters
    # Backends where the expected outcome does not hold, with the documented
    # difference (README: Backends); the case is skipped there with that reason.
    differs_on: dict[str, str] = field(default_factory=dict)


def _block(seconds: float) -> str:
    time.sleep(seconds)
    return "unblocked"


def _raise() -> None:
    raise PermissionError("the host refuses")


CASES: list[Case] = [
    # --- compute ----------------------------------------------------------
    Case("tight-loop", "function handler() { while (true) {} }", KILLED, True, winner="cpu-time"),
    Case("for-ever-with-work", "function handler() { let x = 0; for (;;) { x = (x * 31 + 7) % 1000003 } }", KILLED, True),
    Case("loop-reentered-from-finally", "function handler() { for (;;) { try { while (true) {} } finally { continue } } }", KILLED, True),
    Case("catch-swallows-everything", "function handler() { for (;;) { try { while (true) {} } catch (e) {} } }", KILLED, True),
    Case("catastrophic-regexp", "function handler() { return /^(a+)+$/.test('a'.repeat(40) + 'b') }", KILLED, True),
    Case("generator-forever", "function handler() { function* g() { while (true) yield 1 } for (const _ of g()) {} }", KILLED, True),
    Case("sort-comparator-forever", "function handler() { return [3, 2, 1].sort(() => { while (true) {} }) }", KILLED, True),
    Case("busy-wait-on-date", "function handler() { const end = Date.now() + 1e7; while (Date.now() < end) {} }", KILLED, True),
    Case("console-flood", "function handler() { while (true) console.log('x'.repeat(100)) }", KILLED, True),
    Case("unbounded-recursion", "function handler() { const f = n => f(n + 1) + 1; return f(0) }", (GuestError,)),
    Case("getter-recursion", "function handler() { const o = { get a() { return o.a } }; return o.a }", (GuestError,)),
    Case("proxy-trap-recursion", "function handler() { const p = new Proxy({}, { get: (t, k, r) => r[k] }); return p.x }", (GuestError,)),
    # quickjs-ng concatenates into ropes: the length limit comes before the heap limit.
    Case("string-doubling", "function handler() { let s = 'x'; while (true) s += s }", (GuestError,), heap=16 * MiB),
    Case("string-materialised", "function handler() { let s = 'x'; while (true) s = (s + s).split('').join('') }", KILLED_OR_OOM, True, heap=16 * MiB),
    Case("array-growth", "function handler() { const a = []; while (true) a.push({ i: a.length }) }", KILLED_OR_OOM, True, heap=16 * MiB),
    Case("property-growth", "function handler() { const o = {}; for (let i = 0; ; i++) o['k' + i] = i }", KILLED_OR_OOM, True, heap=16 * MiB),
    Case("oom-caught-by-the-guest", "function handler() { try { const a = []; while (true) a.push('x'.repeat(1000) + a.length) } catch (e) { return 'survived: ' + e.message } }", (GuestOutOfMemoryError,), True, heap=16 * MiB, differs_on={"hyperlight": "a guest that catches its own out-of-memory error is not reported (the micro-VM's allocator cannot be observed from the host)"}),
    Case("one-huge-allocation", "function handler() { return new ArrayBuffer(2 ** 30).byteLength }", (GuestOutOfMemoryError,), True),
    Case("huge-repeat", "function handler() { return 'x'.repeat(2 ** 29).length }", (GuestOutOfMemoryError,), True),
    Case("stringify-huge", "function handler() { return JSON.stringify(new Array(1e7).fill('x'.repeat(50))).length }", KILLED_OR_OOM, True, heap=32 * MiB),
    Case("stringify-cyclic", "function handler() { const a = []; a.push(a); return JSON.stringify(a) }", (GuestError,)),
    Case("microtask-flood", "function handler() { const f = () => Promise.resolve().then(f); f(); return 'returned' }", KILLED_OR_OOM, True, differs_on={"hyperlight": "microtasks a handler leaves queued are not drained when its call returns; they run in the next call"}),
    Case("microtask-flood-awaited", "function handler() { const f = () => Promise.resolve().then(f); f(); return new Promise(() => {}) }", KILLED_OR_OOM, True),
    Case("promise-never-settles", "function handler() { return new Promise(() => {}) }", (GuestError,)),
    Case("promise-rejects", "async function handler() { await null; throw new RangeError('async no') }", (GuestError,)),
    Case("await-then-loop", "async function handler() { await null; while (true) {} }", KILLED, True),
    Case("finalizer-loops", "function handler() { const r = new FinalizationRegistry(() => { while (true) {} }); for (let i = 0; i < 1000; i++) r.register({}, i); return 1 }", KILLED, True),
    Case("eval-loop", "function handler() { return eval('while (true) {}') }", KILLED, True),
    Case("function-constructor-loop", "function handler() { return new Function('for (;;) {}')() }", KILLED, True),
    Case("eval-syntax-error", "function handler() { return eval('{{{') }", (GuestError,)),
    Case("atomics-wait", "function handler() { return Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0) }", (GuestError,)),
    # `require` exists, as upstream's built-in, but reaches only what import does: no `fs`.
    Case("no-ambient-authority", "function handler() { let fs; try { require('fs'); fs = 'loaded' } catch (e) { fs = 'refused' } return [typeof process, typeof std, typeof os, typeof fetch, typeof setTimeout, fs] }", OK, result=["undefined"] * 5 + ["refused"]),
    Case("prototype-pollution", "function handler() { Object.prototype.polluted = 1; Array.prototype.push = () => 0; return ({}).polluted }", OK, result=1),
    Case("global-hijack", "function handler() { globalThis.JSON = { stringify: () => 'pwned', parse: () => 0 }; globalThis.polluted = 1; return { a: 1 } }", OK, result={"a": 1}),
    Case("tojson-hijack", "function handler() { Object.prototype.toJSON = () => 'hijacked'; return { a: 1 } }", OK, result="hijacked"),
    Case("tojson-throws", "function handler() { return { toJSON() { throw new Error('toJSON says no') } } }", (ResultNotSerializableError,)),
    Case("getter-throws", "function handler() { return { get boom() { throw new Error('getter says no') } } }", (ResultNotSerializableError,)),
    Case("tojson-loops", "function handler() { return { toJSON() { while (true) {} } } }", KILLED, True),
    Case("error-message-getter-loops", "function handler() { const e = new Error('x'); Object.defineProperty(e, 'message', { get() { while (true) {} } }); throw e }", KILLED, True),
    Case("throw-proxy", "function handler() { throw new Proxy({}, { get() { throw new Error('trap') } }) }", (GuestError,)),
    Case("throw-primitives", "function handler(e) { throw e }", (GuestError,), event=42),
    Case("throw-null", "function handler() { throw null }", (GuestError,)),
    Case("result-bigint", "function handler() { return 10n ** 30n }", (ResultNotSerializableError,)),
    Case("result-undefined", "function handler() {}", (ResultNotSerializableError,)),
    Case("result-symbol", "function handler() { return Symbol('s') }", (ResultNotSerializableError,)),
    Case("result-deeply-nested", "function handler() { let a = []; for (let i = 0; i < 100000; i++) a = [a]; return a }", (ResultNotSerializableError,)),
    # --- host boundary ----------------------------------------------------
    Case("host-raises-caught", "import { refuse } from 'host'; function handler() { try { refuse() } catch (e) { return e.name } }", OK, result="HostError", host={"refuse": _raise}, differs_on={"hyperlight": "a failing host function throws hyperlight-js's InternalError, not a HostError"}),
    Case("host-raises-uncaught", "import { refuse } from 'host'; function handler() { refuse() }", (GuestError,), host={"refuse": _raise}),
    Case("host-returns-non-json", "import { weird } from 'host'; function handler() { return weird() }", (GuestError,), host={"weird": lambda: {1, 2}}),
    Case("host-returns-nan", "import { nan } from 'host'; function handler() { return nan() }", (GuestError,), host={"nan": lambda: float("nan")}),
    Case("host-returns-huge", "import { big } from 'host'; function handler() { return big().length }", (GuestOutOfMemoryError,), True, limits=(10.0, 5.0), heap=16 * MiB, host={"big": lambda: "x" * (40 * MiB)}, differs_on={"hyperlight": "a host result larger than the micro-VM's I/O buffer fails the call instead of exhausting the heap"}),
    Case("host-blocks", "import { block } from 'host'; function handler() { return block(1.0) }", KILLED, True, limits=(0.2, 5.0), host={"block": _block}, winner="wall-clock"),
    Case("host-called-a-million-times", "import { inc } from 'host'; function handler() { let n = 0; for (let i = 0; i < 1e6; i++) n = inc(n); return n }", OK, result=1_000_000, limits=(120.0, 60.0), host={"inc": lambda n: n + 1}),
    Case("host-gets-unserializable-args", "import { echo } from 'host'; function handler() { return echo(() => 1, undefined, Symbol('s')) }", OK, result=[None, None, None], host={"echo": lambda *a: list(a)}),
    Case("host-gets-cyclic-arg", "import { echo } from 'host'; function handler() { const a = []; a.push(a); return echo(a) }", (GuestError,), host={"echo": lambda *a: list(a)}),
    Case("host-gets-bigint-arg", "import { echo } from 'host'; function handler() { return echo(1n) }", (GuestError,), host={"echo": lambda *a: list(a)}),
]

SANITY = """
function handler() {
  return typeof polluted === 'undefined' && ({}).polluted === undefined && ({}).toJSON === undefined
    && JSON.stringify({ a: [1] }) === '{"a":[1]}' && [].push(1) === 1
}
"""

# Every case's failure is a HyperlightError (or the handler's own success).
assert all(issubclass(e, HyperlightError) for c in CASES for e in (c.expect or ()))
assert len({c.name for c in CASES}) == len(CASES)


def load_case(case: Case, backend: str) -> LoadedJSSandbox:
    """A sandbox on ``backend`` with the case's heap and host functions, the
    case as handler "case" and the sanity check as handler "sanity"."""
    builder = new_builder(backend).with_host_print_fn(None)
    if case.heap is not None:
        builder = builder.with_guest_heap_size(case.heap)
    proto = builder.build()
    for name, fn in case.host.items():
        proto.register("host", name, fn)
    sandbox = proto.load_runtime()
    sandbox.add_handler("case", case.source)
    sandbox.add_handler("sanity", SANITY)
    return sandbox.get_loaded_sandbox()
