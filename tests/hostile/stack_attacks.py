"""Attacks on the native stack, each run as a script in its own process
(``python stack_attacks.py <attack> <backend>``): if one crashes the
process, the test that started it sees the signal and fails, instead of
pytest dying with it.

The script prints one JSON line, the outcome: ``{"ok": <result>}`` or
``{"error": <exception class>, "message": ...}``, plus what the attack
reached (``levels``: sandboxes entered).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import Any

from hyperlight_js import HyperlightError, LoadedJSSandbox, SandboxBuilder

# Recurses until QuickJS's limit, then calls the host from the deepest frame
# that can still make a call: a call that fails for lack of stack is a
# RangeError, and the frame above tries again.
DEEPEST_CALL = """
import { next } from 'host';
function deep(n) {
  try { return deep(n + 1) } catch (e) { return next(n) }
}
function handler(e) { return deep(0) }
"""

# Recurses to the limit first, then calls the host from the top frame.
RECURSE_THEN_CALL = """
import { next } from 'host';
function handler(e) {
  const f = n => f(n + 1) + 1;
  let depth = 'none';
  try { f(0) } catch (err) { depth = err.name }
  return [depth, next(0)]
}
"""

RECURSIVE = "function handler(e) { const f = n => f(n + 1) + 1; try { return f(0) } catch (err) { return err.name } }"

# A deeply nested argument for the host function, passed from deep in the
# guest: the host decodes it with Python's recursive JSON decoder.
DEEP_ARGUMENT = """
import { take } from 'host';
function deep(n, arg) {
  try { return deep(n + 1, arg) }
  catch (e) { return take(arg) }
}
function handler(e) {
  let a = [];
  for (let i = 0; i < e.depth; i++) a = [a];
  return deep(0, a)
}
"""


def _builder(backend: str) -> SandboxBuilder:
    return SandboxBuilder().with_backend(backend).with_host_print_fn(None)


def _loaded(backend: str, source: str, host: dict[str, Callable[..., Any]] | None = None) -> LoadedJSSandbox:
    proto = _builder(backend).build()
    for name, fn in (host or {}).items():
        proto.register("host", name, fn)
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", source)
    return sandbox.get_loaded_sandbox()


def chain(backend: str, length: int, source: str) -> tuple[Any, int]:
    """`length` sandboxes, each one's host function calling the next
    sandbox's handler; the last only recurses. Each host function calls on
    only the first time it is called in the chain (a guest retrying from
    every frame would make the chain exponential, not deeper)."""
    sandboxes: list[LoadedJSSandbox] = []
    entered = [False] * length

    def make(i: int) -> LoadedJSSandbox:
        def next_sandbox(depth: int) -> Any:
            if entered[i]:
                return "already called"
            entered[i] = True
            return [sandboxes[i + 1].call_handler("h"), depth]

        last = i == length - 1
        return _loaded(backend, RECURSIVE if last else source, None if last else {"next": next_sandbox})

    for i in range(length):
        sandboxes.append(make(i))
    result = sandboxes[0].call_handler("h")
    # Every sandbox is still usable afterwards (none was poisoned by a crash
    # that was somehow survived).
    for sandbox in sandboxes:
        assert not sandbox.poisoned
    return result, sum(entered) + 1


def python_recursion(levels: int, then: Callable[[], Any]) -> Any:
    if levels == 0:
        return then()
    return python_recursion(levels - 1, then)


def on_thread(stack_size: int, body: Callable[[], Any]) -> Any:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("ok", body()))
        except BaseException as exc:  # noqa: BLE001 - carried to the main thread
            outcome.append(("error", exc))

    threading.stack_size(stack_size)
    try:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(0)
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value


KiB = 1024
MiB = 1024 * KiB


def attack(name: str, backend: str) -> tuple[Any, int]:
    recursive = lambda: _loaded(backend, RECURSIVE).call_handler("h")  # noqa: E731
    if name == "chain-deepest-call":
        return chain(backend, 80, DEEPEST_CALL)
    if name == "chain-after-recursion":
        return chain(backend, 80, RECURSE_THEN_CALL)
    if name == "small-thread":
        return on_thread(256 * KiB, recursive), 1
    if name == "small-thread-python-recursion":
        return on_thread(256 * KiB, lambda: python_recursion(400, recursive)), 1
    if name == "small-thread-chain":
        result, levels = on_thread(256 * KiB, lambda: chain(backend, 80, DEEPEST_CALL))
        return result, int(levels)
    if name == "python-recursion":
        limit = sys.getrecursionlimit()
        return python_recursion(limit - 100, recursive), 1
    if name == "big-thread-huge-scratch":
        # rquickjs reads a limit above 16 MiB as "no limit": a thread with a
        # large stack and a huge scratch size must still get a bounded one.
        def huge() -> Any:
            proto = _builder(backend).with_guest_scratch_size(1 << 40).build()
            sandbox = proto.load_runtime()
            sandbox.add_handler("h", RECURSIVE)
            return sandbox.get_loaded_sandbox().call_handler("h")

        # Windows' CPython refuses thread stacks of 256 MiB and more.
        return on_thread(128 * MiB if sys.platform == "win32" else 256 * MiB, huge), 1
    if name == "deep-host-argument":
        # 900 levels: under Python's recursion limit, so the decoder really
        # recurses that deep on what is left of the stack.
        take = lambda arg: "taken"  # noqa: E731
        return _loaded(backend, DEEP_ARGUMENT, {"take": take}).call_handler("h", {"depth": 900}), 1
    if name == "deep-host-argument-chain":
        def take_and_call(arg: Any) -> Any:
            return _loaded(backend, RECURSIVE).call_handler("h")

        return _loaded(backend, DEEP_ARGUMENT, {"take": take_and_call}).call_handler("h", {"depth": 900}), 1
    raise SystemExit(f"unknown attack {name!r}")


ATTACKS = [
    "chain-deepest-call",
    "chain-after-recursion",
    "small-thread",
    "small-thread-python-recursion",
    "small-thread-chain",
    "python-recursion",
    "big-thread-huge-scratch",
    "deep-host-argument",
    "deep-host-argument-chain",
]


def main() -> None:
    name, backend = sys.argv[1], sys.argv[2]
    try:
        result, levels = attack(name, backend)
        print(json.dumps({"ok": result, "levels": levels}))
    except HyperlightError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))


if __name__ == "__main__":
    main()
