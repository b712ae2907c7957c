from __future__ import annotations

import asyncio
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
