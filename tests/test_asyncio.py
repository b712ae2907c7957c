from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
import time

import pytest

from conftest import SPIN, LoadFn
from hyperlight_js import ExecutionCancelled


def test_call_handler_async_keeps_the_loop_responsive(load: LoadFn) -> None:
    loaded = load(h="function handler(e) { const end = Date.now() + e.ms; while (Date.now() < end) {} return 'done' }")

    async def main() -> tuple[str, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        result = await loaded.call_handler_async("h", {"ms": 300}, wall_clock_timeout=5)
        task.cancel()
        return result, ticks

    result, ticks = asyncio.run(main())
    assert result == "done"
    assert ticks >= 10, f"the loop was blocked: only {ticks} ticks in 300 ms"


def test_call_handler_async_limits_and_cancellation(load: LoadFn) -> None:
    loaded = load(spin=SPIN)
    snapshot = loaded.snapshot()

    async def limited() -> None:
        await loaded.call_handler_async("spin", {}, cpu_timeout=0.05)

    with pytest.raises(ExecutionCancelled) as info:
        asyncio.run(limited())
    assert info.value.monitor == "cpu-time"
    loaded.restore(snapshot)

    async def cancelled() -> float:
        task = asyncio.create_task(loaded.call_handler_async("spin", {}))
        await asyncio.sleep(0.1)
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The handler itself was killed, not left spinning in the executor.
        while loaded.interrupt_handle().running:
            await asyncio.sleep(0.01)
            assert time.monotonic() - started < 2
        return time.monotonic() - started

    assert asyncio.run(cancelled()) < 2
    assert loaded.poisoned


def test_a_cancelled_call_never_keeps_running_whenever_the_cancel_lands(load: LoadFn) -> None:
    """Cancels at moments from "still queued" to "running", so some land
    between the executor picking the call up and the guest starting: the
    handler must end every time, and no outcome is reported as lost."""
    loaded = load(spin=SPIN)
    snapshot = loaded.snapshot()
    lost: list[dict[str, object]] = []

    async def cancel_after(delay: float) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: lost.append(context))
        # One worker: a job queued after the call runs only once the call is over.
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=1))
        task = asyncio.create_task(loaded.call_handler_async("spin", {}))
        await asyncio.sleep(delay)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        call_over = loop.run_in_executor(None, lambda: None)
        ended, _ = await asyncio.wait({call_over}, timeout=2)
        if not ended:  # end it anyway, so the executor can shut down, then fail
            while not ended:
                loaded.interrupt_handle().kill()
                ended, _ = await asyncio.wait({call_over}, timeout=0.1)
            pytest.fail(f"the handler still ran 2 s after a cancel at {delay * 1e3:.2f} ms")

    for attempt in range(200):
        asyncio.run(cancel_after(attempt * 0.00001))
        loaded.restore(snapshot)
    gc.collect()
    assert lost == []


def test_a_call_cancelled_while_queued_never_starts(load: LoadFn) -> None:
    loaded = load(spin=SPIN)
    release = threading.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
            loop.set_default_executor(executor)
            blocker = loop.run_in_executor(None, release.wait)
            task = asyncio.create_task(loaded.call_handler_async("spin", {}))
            await asyncio.sleep(0.05)  # the call is queued behind the blocker
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            release.set()
            await blocker

    asyncio.run(main())
    # A call that had started would have been terminated, poisoning the sandbox.
    assert not loaded.poisoned
    with pytest.raises(ExecutionCancelled) as info:
        loaded.call_handler("spin", {}, wall_clock_timeout=0.01)
    assert info.value.monitor == "wall-clock"
