"""Shared fixtures for the hyperlight-js benchmarks.

``loaded`` builds a ready-to-call sandbox; ``samples`` is how many samples a
percentile benchmark collects; ``record_percentiles`` and ``report`` put
results into ``benchmark.extra_info`` and into a summary printed at the end
of the run (pytest-benchmark's table only shows timings of the benchmarked
function itself).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import NamedTuple

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hyperlight_js import LoadedJSSandbox, SandboxBuilder

SMOKE_SAMPLES = 3
DEFAULT_SAMPLES = 100

_SUMMARY = pytest.StashKey[list[str]]()


class Percentiles(NamedTuple):
    p50_ms: float
    p99_ms: float
    max_ms: float


def percentiles(samples_s: Sequence[float]) -> Percentiles:
    """Nearest-rank p50/p99/max of samples in seconds, returned in ms."""
    if not samples_s:
        raise ValueError("no samples")
    ordered = sorted(samples_s)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1e3

    return Percentiles(rank(50), rank(99), ordered[-1] * 1e3)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SUMMARY] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(_SUMMARY, [])
    if lines:
        terminalreporter.section("hyperlight-js measurements")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def loaded() -> Callable[..., LoadedJSSandbox]:
    """``loaded(name=source, ...)``: a loaded sandbox with those handlers,
    guest output discarded."""

    def build(**handlers: str) -> LoadedJSSandbox:
        sandbox = SandboxBuilder().with_host_print_fn(None).build().load_runtime()
        for name, source in handlers.items():
            sandbox.add_handler(name, source)
        return sandbox.get_loaded_sandbox()

    return build


@pytest.fixture
def samples(benchmark: BenchmarkFixture) -> int:
    """Samples per percentile benchmark: ``HLJS_BENCH_SAMPLES`` (default 100),
    or 3 in smoke mode (``--benchmark-disable``)."""
    if benchmark.disabled:
        return SMOKE_SAMPLES
    return int(os.environ.get("HLJS_BENCH_SAMPLES", DEFAULT_SAMPLES))


@pytest.fixture
def report(request: pytest.FixtureRequest, benchmark: BenchmarkFixture) -> Callable[..., None]:
    """``report(key=value, ...)``: store floats in ``extra_info``, print them
    and add them to the end-of-run summary."""

    def add(**values: float) -> None:
        benchmark.extra_info.update(values)
        line = f"{request.node.name}: " + ", ".join(f"{key}={value:.3f}" for key, value in values.items())
        print(line)
        request.config.stash[_SUMMARY].append(line)

    return add


@pytest.fixture
def record_percentiles(
    benchmark: BenchmarkFixture, report: Callable[..., None]
) -> Callable[[Sequence[float]], Percentiles]:
    """``record_percentiles(samples_s)``: p50/p99/max in ms into ``extra_info``."""

    def record(samples_s: Sequence[float]) -> Percentiles:
        result = percentiles(samples_s)
        benchmark.extra_info["samples"] = len(samples_s)
        report(**result._asdict())
        return result

    return record
