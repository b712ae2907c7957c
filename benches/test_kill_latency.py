"""Manual kill latency: from ``InterruptHandle.kill()`` on another thread to
``ExecutionCancelled`` on the calling thread, for a spinning handler."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hyperlight_js import ExecutionCancelled, LoadedJSSandbox

SPIN = "function handler(e) { while (true) {} }"
SPIN_BEFORE_KILL_S = 0.005
START_TIMEOUT_S = 5.0


def test_kill_latency(
    benchmark: BenchmarkFixture,
    loaded: Callable[..., LoadedJSSandbox],
    samples: int,
    record_percentiles: Callable[[Sequence[float]], object],
) -> None:
    sandbox = loaded(spin=SPIN)
    snapshot = sandbox.snapshot()
    handle = sandbox.interrupt_handle()

    def kill_once() -> float:
        """One call, killed 5 ms after it starts spinning; returns the latency."""
        killed_at: list[float] = []
        killed: list[bool] = []

        def killer() -> None:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not handle.running:
                if time.monotonic() > deadline:
                    return
                time.sleep(0)
            time.sleep(SPIN_BEFORE_KILL_S)
            killed_at.append(time.perf_counter())
            killed.append(handle.kill())

        thread = threading.Thread(target=killer, name="hljs-bench-killer")
        thread.start()
        try:
            sandbox.handle_event("spin", "{}")
        except ExecutionCancelled:
            cancelled_at = time.perf_counter()
        else:
            pytest.fail("the spinning handler returned")
        finally:
            thread.join()
        assert killed == [True], "the handler never started running"
        sandbox.restore(snapshot)
        return cancelled_at - killed_at[0]

    def collect() -> list[float]:
        return [kill_once() for _ in range(samples)]

    benchmark.group = "kill-latency"
    latencies: list[float] = benchmark.pedantic(collect, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    record_percentiles(latencies)
