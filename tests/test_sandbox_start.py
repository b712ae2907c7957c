"""A sandbox started after others in the same process is indistinguishable
from the first one. On wasm the first sandbox of a configuration (scratch
size, print function or not) starts QuickJS and runs the built-ins, and
later ones start from the memory image it left
(``rust/core/src/backend/wasm/start_image.rs``); on in-process every
sandbox starts the same way. Each test uses a scratch size of its own, so
its first sandbox is the cold one whatever ran before it in this process."""

from __future__ import annotations

import time

import pytest

from hyperlight_js import GuestOutOfMemoryError, LoadedJSSandbox, SandboxBuilder

from conftest import new_builder

PROBES = {
    "builtins": """
        import { createHmac } from 'crypto';
        import { print } from 'io';
        function handler() {
          return [typeof require, typeof String.bytesFrom, typeof createHmac, typeof print,
                  typeof require('console').log];
        }""",
    "random": "function handler() { return [Math.random(), Math.random(), Math.random()] }",
    "origin": "function handler() { return performance.timeOrigin }",
    "log": "function handler(e) { console.log(e); print(e + '!'); return 0 }",
    "grow": "function handler(n) { const a = []; for (let i = 0; i < n; i++) a.push({ i }); return a.length }",
}


def unique_builder(backend: str, offset: int) -> SandboxBuilder:
    # Distinct from every other test's scratch size (the defaults are MiBs).
    return new_builder(backend).with_host_print_fn(None).with_guest_scratch_size(200_000 + offset)


def loaded(builder: SandboxBuilder) -> LoadedJSSandbox:
    sandbox = builder.build().load_runtime()
    for name, source in PROBES.items():
        sandbox.add_handler(name, source)
    return sandbox.get_loaded_sandbox()


def test_a_later_sandbox_has_the_builtins_its_own_random_and_its_own_clock(backend: str) -> None:
    first = loaded(unique_builder(backend, 1))
    time.sleep(0.03)
    later = loaded(unique_builder(backend, 1))
    expected = ["function"] * 5
    assert first.call_handler("builtins", None) == expected
    assert later.call_handler("builtins", None) == expected
    assert first.call_handler("random", None) != later.call_handler("random", None)
    # performance counts from each sandbox's own start.
    assert later.call_handler("origin", None) >= first.call_handler("origin", None) + 30


def test_the_heap_limit_holds_in_a_later_sandbox(backend: str) -> None:
    loaded(unique_builder(backend, 2))
    small = loaded(unique_builder(backend, 2).with_guest_heap_size(4 << 20))
    assert small.call_handler("grow", 1000) == 1000
    with pytest.raises(GuestOutOfMemoryError):
        small.call_handler("grow", 10_000_000)
    big = loaded(unique_builder(backend, 2).with_guest_heap_size(64 << 20))
    assert big.call_handler("grow", 200_000) == 200_000


def test_each_sandbox_prints_as_its_own_builder_says(backend: str) -> None:
    for round_name in ["first", "later"]:
        silent = loaded(unique_builder(backend, 3))
        assert silent.call_handler("log", "dropped") == 0
        lines: list[str] = []
        loud = loaded(unique_builder(backend, 3).with_host_print_fn(lines.append))
        assert loud.call_handler("log", round_name) == 0
        assert "".join(lines) == f"{round_name}\n{round_name}!", lines
