"""Async host functions: awaited while the guest waits, cancelled when the
call is ended meanwhile.

The first tests mirror upstream's Node binding
(upstream: src/js-host-api/tests/host-functions.test.js, "should call an
async host function from guest code" and "should propagate errors from
register() async callbacks"). Cancellation is ours: Node cannot end a call
that waits on a host promise.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hyperlight_js import (
    CpuTimeMonitor,
    ExecutionCancelled,
    ExecutionMonitor,
    GuestError,
    LoadedJSSandbox,
    SandboxBuilder,
    SandboxPoisonedError,
)
from hyperlight_js._loop import monitor_loop

# Generous bounds: they separate "ended by the monitor" from "waited for the
# coroutine" (10 s), not measure how fast.
LONG_AWAIT = 10.0
PROMPTLY = 5.0
EVENTS = 10.0

CALL_WAIT = "import { wait } from 'host'; function handler(e) { return wait(e) }"


def _loaded(builder: SandboxBuilder, handler: str, **functions: Callable[..., Any]) -> LoadedJSSandbox:
    proto = builder.build()
    for name, fn in functions.items():
        proto.register("host", name, fn)
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", handler)
    return sandbox.get_loaded_sandbox()


class _Watched:
    """A host coroutine that records that it started and how it ended."""

    def __init__(self, seconds: float = LONG_AWAIT) -> None:
        self.seconds = seconds
        self.started = threading.Event()
        self.cancelled = threading.Event()

    async def __call__(self, value: Any = None) -> Any:
        self.started.set()
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return value


def test_an_async_host_functions_result_reaches_the_guest(builder: SandboxBuilder) -> None:
    async def greet(name: str) -> str:
        await asyncio.sleep(0.01)
        return f"Hello, {name}!"

    async def add(a: int, b: int) -> int:
        return a + b

    loaded = _loaded(
        builder,
        "import * as host from 'host'; function handler(e) { return { greeting: host.greet(e.name), sum: host.add(2, 3), plain: host.later(7) } }",
        greet=greet,
        # A plain function returning a coroutine is awaited too.
        later=lambda x: add(x, 1),
        add=add,
    )
    assert loaded.call_handler("h", {"name": "World"}) == {"greeting": "Hello, World!", "sum": 5, "plain": 8}


def test_an_async_host_functions_exception_reaches_the_guest_as_for_sync_ones(
    backend: str, builder: SandboxBuilder
) -> None:
    class Boom(Exception):
        pass

    async def explode() -> None:
        await asyncio.sleep(0.01)
        raise Boom("async kaboom from host")

    caught = _loaded(
        builder,
        "import { explode } from 'host'; function handler() { try { explode(); return 'no' } catch (err) { return [err.name, err.message] } }",
        explode=explode,
    )
    name, message = caught.call_handler("h")
    assert name == ("InternalError" if backend == "hyperlight" else "HostError")
    assert "Boom" in message and "async kaboom from host" in message

    uncaught = _loaded(builder, "import { explode } from 'host'; function handler() { explode() }", explode=explode)
    with pytest.raises(GuestError, match="async kaboom") as info:
        uncaught.call_handler("h")
    assert isinstance(info.value.__cause__, Boom)
    assert not uncaught.poisoned


def test_async_host_functions_of_different_sandboxes_wait_concurrently(builder: SandboxBuilder) -> None:
    """Each coroutine only returns once both are running: the two calls
    must wait at the same time, on different sandboxes and threads."""
    running = 0
    lock = threading.Lock()

    async def meet(tag: str) -> str:
        nonlocal running
        with lock:
            running += 1

        async def both() -> None:
            while running < 2:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(both(), EVENTS)
        return tag

    sandboxes = [_loaded(builder, "import { meet } from 'host'; function handler(e) { return meet(e) }", meet=meet) for _ in range(2)]
    results: dict[int, Any] = {}

    def call(i: int) -> None:
        results[i] = sandboxes[i].call_handler("h", f"sandbox {i}")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {0: "sandbox 0", 1: "sandbox 1"}


def test_a_wall_clock_monitor_cancels_the_awaited_coroutine(builder: SandboxBuilder) -> None:
    wait = _Watched()
    loaded = _loaded(builder, CALL_WAIT, wait=wait)
    snapshot = loaded.snapshot()
    started = time.monotonic()
    with pytest.raises(ExecutionCancelled) as info:
        loaded.call_handler("h", 1, wall_clock_timeout=0.3)
    elapsed = time.monotonic() - started
    assert info.value.monitor == "wall-clock"
    assert elapsed < PROMPTLY
    assert wait.cancelled.wait(EVENTS), "the host coroutine was not cancelled"
    assert loaded.poisoned
    with pytest.raises(SandboxPoisonedError):
        loaded.call_handler("h", 1)
    # Restored, the sandbox works again (and awaits normally).
    loaded.restore(snapshot)
    wait.seconds = 0.01
    assert loaded.call_handler("h", 2) == 2


def test_kill_from_another_thread_cancels_the_awaited_coroutine(builder: SandboxBuilder) -> None:
    wait = _Watched()
    loaded = _loaded(builder, CALL_WAIT, wait=wait)
    handle = loaded.interrupt_handle()
    killed: list[bool] = []

    def killer() -> None:
        if wait.started.wait(EVENTS):
            killed.append(handle.kill())

    thread = threading.Thread(target=killer)
    thread.start()
    started = time.monotonic()
    with pytest.raises(ExecutionCancelled) as info:
        loaded.call_handler("h")
    elapsed = time.monotonic() - started
    thread.join()
    assert killed == [True]
    assert info.value.monitor is None
    assert elapsed < PROMPTLY
    assert wait.cancelled.wait(EVENTS), "the host coroutine was not cancelled"
    assert loaded.poisoned


class _AfterStart(ExecutionMonitor):
    """A Python monitor that fires once the host coroutine is running."""

    name = "after-start"

    def __init__(self, started: threading.Event) -> None:
        self.started = started

    def get_monitor(self) -> Awaitable[None]:
        async def watch() -> None:
            while not self.started.is_set():
                await asyncio.sleep(0.01)

        return watch()


def test_a_python_monitor_cancels_the_awaited_coroutine(builder: SandboxBuilder) -> None:
    wait = _Watched()
    loaded = _loaded(builder, CALL_WAIT, wait=wait)
    with pytest.raises(ExecutionCancelled) as info:
        loaded.call_handler("h", monitor=_AfterStart(wait.started))
    assert info.value.monitor == "after-start"
    assert wait.cancelled.wait(EVENTS), "the host coroutine was not cancelled"
    assert loaded.poisoned


def test_cpu_time_does_not_count_the_await(builder: SandboxBuilder) -> None:
    wait = _Watched(seconds=0.3)
    loaded = _loaded(builder, CALL_WAIT, wait=wait)
    assert loaded.call_handler("h", "done", monitor=CpuTimeMonitor(0.05)) == "done"
    assert not wait.cancelled.is_set()
    assert not loaded.poisoned


def test_a_sync_blocking_host_function_still_cannot_be_interrupted(builder: SandboxBuilder) -> None:
    """Documented: the guest's thread is inside Python's call, which no kill
    can end; the call is cancelled once the function returns."""
    seconds = 0.5
    loaded = _loaded(builder, CALL_WAIT, wait=lambda _: time.sleep(seconds))
    started = time.monotonic()
    with pytest.raises(ExecutionCancelled) as info:
        loaded.call_handler("h", wall_clock_timeout=0.05)
    assert info.value.monitor == "wall-clock"
    assert time.monotonic() - started >= seconds


def test_a_kill_as_the_coroutine_finishes_still_ends_the_call(builder: SandboxBuilder) -> None:
    """The kill and the result race (the result may or may not be
    delivered first): either way the call is cancelled, the sandbox is
    poisoned, and a restore brings it back."""
    handle_box: list[Any] = []

    async def kill_then_return() -> int:
        handle_box[0].kill()
        return 42

    loaded = _loaded(
        builder,
        "import { finish } from 'host'; function handler() { const r = finish(); return r }",
        finish=kill_then_return,
    )
    handle_box.append(loaded.interrupt_handle())
    snapshot = loaded.snapshot()
    for _ in range(3):
        with pytest.raises(ExecutionCancelled) as info:
            loaded.call_handler("h")
        assert info.value.monitor is None
        assert loaded.poisoned
        loaded.restore(snapshot)


def test_call_handler_async_awaits_on_the_callers_loop(builder: SandboxBuilder) -> None:
    """From ``call_handler_async`` the coroutine runs on the awaiting loop
    (free meanwhile, so it cannot deadlock); from a synchronous call, on the
    package's loop."""
    loops: list[asyncio.AbstractEventLoop] = []

    async def where() -> str:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0.01)
        return "here"

    loaded = _loaded(builder, "import { where } from 'host'; function handler() { return where() }", where=where)

    async def main() -> asyncio.AbstractEventLoop:
        assert await loaded.call_handler_async("h") == "here"
        return asyncio.get_running_loop()

    caller = asyncio.run(main())
    assert loops == [caller]
    assert loaded.call_handler("h") == "here"
    assert loops[1] is monitor_loop()


def test_call_handler_async_timeout_cancels_the_coroutine_on_the_callers_loop(builder: SandboxBuilder) -> None:
    wait = _Watched()
    loaded = _loaded(builder, CALL_WAIT, wait=wait)

    async def main() -> None:
        with pytest.raises(ExecutionCancelled) as info:
            await loaded.call_handler_async("h", wall_clock_timeout=0.2)
        assert info.value.monitor == "wall-clock"
        # The cancellation was scheduled on this loop: let it run.
        for _ in range(100):
            if wait.cancelled.is_set():
                break
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert wait.cancelled.is_set()
    assert loaded.poisoned



CTRL_C_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, signal, sys, threading, time
    from hyperlight_js import SandboxBuilder

    signal.signal(signal.SIGINT, signal.default_int_handler)
    started, cancelled = threading.Event(), threading.Event()

    async def wait():
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    proto = SandboxBuilder().with_backend(sys.argv[1]).with_host_print_fn(None).build()
    proto.register("host", "wait", wait)
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", "import { wait } from 'host'; function handler() { return wait() }")
    loaded = sandbox.get_loaded_sandbox()

    def press_ctrl_c():
        started.wait(10)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    begun = time.monotonic()
    try:
        loaded.call_handler("h")
    except KeyboardInterrupt:
        print("KeyboardInterrupt after", round(time.monotonic() - begun, 1))
    print("cancelled", cancelled.wait(10))
    print("poisoned", loaded.poisoned)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="the Ctrl-C is sent as a POSIX signal to this process")
def test_ctrl_c_on_the_main_thread_cancels_the_awaited_coroutine(backend: str) -> None:
    """As tests/test_sigint.py, with the guest waiting on a host coroutine."""
    done = subprocess.run([sys.executable, "-c", CTRL_C_SCRIPT, backend], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("KeyboardInterrupt after "), done.stdout
    assert float(lines[0].split()[-1]) < PROMPTLY
    assert lines[2] == "poisoned True"
    assert lines[1] == "cancelled True", done.stdout


def _interrupting_once(loop: asyncio.AbstractEventLoop, before: Callable[[], object]) -> Callable[..., Any]:
    """A ``call_soon_threadsafe`` whose first call queues the callback, runs
    ``before`` and raises KeyboardInterrupt: what a Ctrl-C does when it lands
    while the real one writes to the loop's self-pipe (the GIL is released
    there, and the loop may run the callback meanwhile)."""
    real = loop.call_soon_threadsafe
    interrupted: list[bool] = []

    def call_soon_threadsafe(callback: Callable[..., object], *args: Any, **kwargs: Any) -> asyncio.Handle:
        handle = real(callback, *args, **kwargs)
        if not interrupted:
            interrupted.append(True)
            before()
            raise KeyboardInterrupt
        return handle

    return call_soon_threadsafe


@pytest.mark.parametrize("coroutine_started", [True, False], ids=["started", "not-yet-started"])
def test_a_keyboard_interrupt_while_scheduling_still_cancels_the_coroutine(
    coroutine_started: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Ctrl-C race above, made deterministic: the future the native side
    would have waited on never reaches it, yet the coroutine is cancelled,
    whether it had started or not."""
    from hyperlight_js import sandbox as sandbox_module
    from hyperlight_js._loop import host_function_loop

    loop = host_function_loop()
    started, cancelled, gate = threading.Event(), threading.Event(), threading.Event()

    async def wait() -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def hold_the_loop() -> None:
        gate.wait(5)

    if not coroutine_started:
        loop.call_soon_threadsafe(hold_the_loop)  # the loop cannot start it before the interrupt
    before = (lambda: started.wait(5)) if coroutine_started else (lambda: None)
    monkeypatch.setattr(loop, "call_soon_threadsafe", _interrupting_once(loop, before))
    with pytest.raises(KeyboardInterrupt):
        sandbox_module._schedule(wait())
    gate.set()
    if coroutine_started:
        assert cancelled.wait(5), "the running coroutine was not cancelled"
    else:
        time.sleep(0.2)  # the loop runs the queued start, which must not start it
        assert not started.is_set(), "a coroutine whose future was cancelled still started"


def test_a_host_coroutine_that_cannot_be_scheduled_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop that refuses the work (closed, say) leaves nothing behind that
    warns it was never awaited."""
    import gc
    import warnings

    from hyperlight_js import sandbox as sandbox_module
    from hyperlight_js._loop import host_function_loop

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Event loop is closed")

    async def never() -> None:
        raise AssertionError("ran")

    monkeypatch.setattr(host_function_loop(), "call_soon_threadsafe", refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="closed"):
            sandbox_module._schedule(never())
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]
