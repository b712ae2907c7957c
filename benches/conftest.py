"""Shared fixtures for the hyperlight-js benchmarks.

``loaded`` builds a ready-to-call sandbox; ``samples`` is how many samples a
percentile benchmark collects; ``record_percentiles`` and ``report`` put
results into ``benchmark.extra_info`` and into a summary printed at the end
of the run (pytest-benchmark's table only shows timings of the benchmarked
function itself).

For the comparisons with peers (``test_vs_*.py``): ``engine_factory`` opens a
context of an engine (see ``peers.py``), skipping with ``missing: <package>``
or ``cannot run here: <error>`` when it cannot; ``require`` only checks;
``busy_host`` runs a pure-Python loop on another thread; ``smoke`` is true
with ``--benchmark-disable``. Skip reasons, machine facts and package versions
go into the ``--benchmark-json`` output under ``"hljs"``, for ``report.py``.
Every benchmark also records ``other_cpu_cores``: the CPU that other
processes used while it ran, in cores (on a shared machine, what makes a
figure noisy).
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from importlib import metadata
from typing import Any, NamedTuple

import psutil  # type: ignore[import-untyped,unused-ignore]
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import peers
from hyperlight_js import LoadedJSSandbox

SMOKE_SAMPLES = 3
DEFAULT_SAMPLES = 100

_SUMMARY = pytest.StashKey[list[str]]()
# Test name -> why its peer was missing or could not run; one run per process.
_SKIPPED: dict[str, str] = {}
_LOAD_AT_START = pytest.StashKey[tuple[float, float, float]]()


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
    config.stash[_LOAD_AT_START] = os.getloadavg()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Turns pytest's log capture off for benchmarks.

    It hangs two handlers on the root logger around every test, and each
    formats every record into memory. A kill logs one warning, so with
    capture on, each kill paid for two formatted records that no user's
    process makes: 0.15-0.2 ms of a 0.3 ms overshoot in one run. What a real
    logging set-up costs is its own case (``test_overshoot[wall-clock-logged]``).
    """
    plugin = session.config.pluginmanager.get_plugin("logging-plugin")
    if plugin is not None:
        session.config.pluginmanager.unregister(plugin)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keeps the reason of every peer that was missing or could not run."""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2].removeprefix("Skipped: ")
        if reason.startswith(("missing:", "cannot run here:")):
            _SKIPPED[report.nodeid.rpartition("::")[2]] = reason


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: object, output_json: dict[str, Any]) -> None:
    output_json["hljs"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": f"{platform.system()} {platform.release()} {platform.version()}",
        "python": platform.python_version(),
        "load_average_start": config.stash[_LOAD_AT_START],
        "load_average_end": os.getloadavg(),
        "versions": {name: _version(name) for name in peers.DISTRIBUTIONS},
        "ours_backend": peers.ours_backend(),
        "ours_backend_asked": os.environ.get(peers.BACKEND_VARIABLE, "default"),
        "skipped": dict(_SKIPPED),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(_SUMMARY, [])
    if lines:
        terminalreporter.section("hyperlight-js measurements")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def loaded() -> Callable[..., LoadedJSSandbox]:
    """``loaded(name=source, ...)``: a loaded sandbox with those handlers,
    guest output discarded, on the ``HLJS_BENCH_BACKEND`` backend if set."""

    def build(**handlers: str) -> LoadedJSSandbox:
        sandbox = peers.ours_builder().build().load_runtime()
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


@pytest.fixture
def smoke(benchmark: BenchmarkFixture) -> bool:
    """True in smoke mode (``--benchmark-disable``): run each body once, small."""
    return bool(benchmark.disabled)


@pytest.fixture
def require() -> Callable[[str], None]:
    """``require(engine)``: skip the test, naming the reason, unless
    ``engine`` is installed and runs here."""

    def check(engine: str) -> None:
        reason = peers.unavailable(engine)
        if reason is not None:
            pytest.skip(reason)

    return check


@pytest.fixture
def engine_factory(require: Callable[[str], None]) -> Iterator[Callable[[str, str], peers.Engine]]:
    """``engine_factory(name, source)``: a context of engine ``name`` with
    ``source`` loaded, closed after the test."""
    opened: list[peers.Engine] = []

    def open_engine(name: str, source: str) -> peers.Engine:
        require(name)
        opened.append(peers.make(name, source))
        return opened[-1]

    yield open_engine
    for context in opened:
        context.close()


class _BusyLoop:
    def __init__(self) -> None:
        self.stop = False
        self.thread = threading.Thread(target=self.spin, name="hljs-bench-busy-host", daemon=True)

    def spin(self) -> None:
        x = 0
        while not self.stop:
            x += 1


@pytest.fixture
def busy_host() -> Callable[[], AbstractContextManager[None]]:
    """``with busy_host():`` another Python thread runs ``while not stop: x += 1``."""

    @contextmanager
    def running() -> Iterator[None]:
        loop = _BusyLoop()
        loop.thread.start()
        try:
            yield
        finally:
            loop.stop = True
            loop.thread.join()

    return running


def _cpu_clocks() -> tuple[float, float, float]:
    """Wall time, CPU time of the whole machine and of this process (its
    threads and its finished children), in seconds."""
    machine = psutil.cpu_times()
    busy = sum(getattr(machine, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
    own = psutil.Process().cpu_times()
    return time.perf_counter(), busy, own.user + own.system + own.children_user + own.children_system


def _other_cores(start: tuple[float, float, float], end: tuple[float, float, float]) -> float:
    (wall, busy, own), (wall_end, busy_end, own_end) = start, end
    return max(0.0, (busy_end - busy) - (own_end - own)) / max(wall_end - wall, 1e-9)


QUIET_CORES = 0.3


@pytest.fixture(autouse=True)
def other_load(benchmark: BenchmarkFixture) -> Iterator[None]:
    """Records ``other_cpu_cores`` for every benchmark (see the module doc).
    With ``HLJS_BENCH_QUIET=<seconds>`` (``report.py`` sets 30), each
    benchmark first waits up to that long for other processes to use less
    than 0.3 cores (measured over half a second), and records the wait."""
    patience = 0.0 if benchmark.disabled else float(os.environ.get("HLJS_BENCH_QUIET", "0"))
    waited_from = time.perf_counter()
    while time.perf_counter() - waited_from < patience:
        before = _cpu_clocks()
        time.sleep(0.5)
        if _other_cores(before, _cpu_clocks()) < QUIET_CORES:
            break
    if patience:
        benchmark.extra_info["quiet_wait_s"] = time.perf_counter() - waited_from
    start = _cpu_clocks()
    yield
    benchmark.extra_info["other_cpu_cores"] = _other_cores(start, _cpu_clocks())
