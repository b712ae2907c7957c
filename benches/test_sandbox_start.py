"""Sandbox start in a warm process: builder → ``load_runtime`` →
``add_handler`` → ``get_loaded_sandbox`` → the first call, on in-process and
wasm, after the process has already started sandboxes of the same kind (the
module is compiled and loaded). On wasm, ``wasm`` starts from the start image
the first sandbox of its configuration left
(``rust/core/src/backend/wasm/start_image.rs``), and ``wasm_first`` is a
sandbox whose configuration (its scratch size) is new to the process, so it
starts QuickJS, runs the built-ins and keeps its image: what every wasm start
cost before images. The three alternate sample by sample; p50 per variant
(``*_p50_ms``) and the ratios to in-process."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from itertools import count
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hyperlight_js import SandboxBuilder, doctor

NOOP = "function handler(e) { return e }"


def start(backend: Any, scratch: int | None = None) -> float:
    """Seconds from a new builder to the first call's result."""
    began = time.perf_counter()
    builder = SandboxBuilder().with_backend(backend).with_host_print_fn(None)
    if scratch is not None:
        builder = builder.with_guest_scratch_size(scratch)
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("h", NOOP)
    loaded = sandbox.get_loaded_sandbox()
    assert loaded.handle_event("h", "1", gc=False) == "1"
    return time.perf_counter() - began


def test_sandbox_start(benchmark: BenchmarkFixture, samples: int, report: Callable[..., None]) -> None:
    for status in doctor.backends():
        if status.name in ("in-process", "wasm") and not status.runs_here:
            pytest.skip(f"cannot run here: {status.name}: {status.problem}")
    # A scratch size per sample that no other sandbox of this process has
    # (small ones: past the guest's shadow stack, sizes share one image).
    fresh_scratch = count(24 * 1024, 256)

    def measure() -> dict[str, float]:
        start("in-process")
        start("wasm")
        taken: dict[str, list[float]] = {"in_process": [], "wasm": [], "wasm_first": []}
        for _ in range(samples):
            taken["in_process"].append(start("in-process"))
            taken["wasm"].append(start("wasm"))
            taken["wasm_first"].append(start("wasm", next(fresh_scratch)))
        return {key: statistics.median(values) for key, values in taken.items()}

    benchmark.group = "sandbox-start"
    medians: dict[str, float] = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    report(
        ratio_wasm=medians["wasm"] / medians["in_process"],
        ratio_wasm_first=medians["wasm_first"] / medians["in_process"],
        **{f"{key}_p50_ms": seconds * 1e3 for key, seconds in medians.items()},
    )
