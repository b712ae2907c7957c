"""Cold start: a new Python process that imports the package, loads a
sandbox and calls it once, on wasm with an empty module cache (it compiles
the guest and fills the cache), on wasm with a filled cache (it loads the
compiled guest), and on in-process; and ``hyperlight-js run`` of the
greeting example on wasm with a filled cache. The variants run interleaved,
round by round, in this one test, so that all see the same machine; each
keeps its best round. Figures: the child's own time from before the import
to after the call (``*_ms``), and whole-process wall time including the
interpreter's start (``*_wall_ms``); ratios against in-process."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

ROUNDS, SMOKE_ROUNDS = 5, 1
GREET = Path(__file__).resolve().parent.parent / "examples" / "handlers" / "greet.js"

CHILD = """
import time
start = time.perf_counter()
from hyperlight_js import SandboxBuilder
sandbox = SandboxBuilder().with_backend({backend!r}).build().load_runtime()
sandbox.add_handler("h", "function handler(e) {{ return e }}")
assert sandbox.get_loaded_sandbox().call_handler("h", {{"a": 1}}) == {{"a": 1}}
print(time.perf_counter() - start)
"""


def run(command: list[str], cache_dir: Path) -> tuple[float, str]:
    """Wall seconds of the command in a new process, and its stdout."""
    env = {key: value for key, value in os.environ.items() if key != "HYPERLIGHT_JS_WASM_CACHE"}
    env["HYPERLIGHT_JS_CACHE_DIR"] = str(cache_dir)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=True)
    return time.perf_counter() - start, done.stdout


def first_call(backend: str, cache_dir: Path) -> tuple[float, float]:
    """(in-child seconds to the first call's result, whole-process wall seconds)."""
    wall, stdout = run([sys.executable, "-c", CHILD.format(backend=backend)], cache_dir)
    return float(stdout.strip()), wall


def test_cold_start_ratios(benchmark: BenchmarkFixture, report: Callable[..., None]) -> None:
    rounds = SMOKE_ROUNDS if benchmark.disabled else ROUNDS
    cli = str(Path(sys.executable).parent / "hyperlight-js")

    def measure() -> dict[str, float]:
        best = dict.fromkeys(
            ["in_process", "in_process_wall", "wasm_cold", "wasm_cold_wall", "wasm_warm", "wasm_warm_wall", "cli_warm_wall"],
            math.inf,
        )

        def keep(key: str, seconds: float) -> None:
            best[key] = min(best[key], seconds)

        with tempfile.TemporaryDirectory() as scratch:
            warm = Path(scratch) / "warm"
            first_call("wasm", warm)  # fills it
            for round_number in range(rounds):
                cold = Path(scratch) / f"cold-{round_number}"
                for key, backend, cache in [("in_process", "in-process", warm), ("wasm_cold", "wasm", cold), ("wasm_warm", "wasm", warm)]:
                    inside, wall = first_call(backend, cache)
                    keep(key, inside)
                    keep(f"{key}_wall", wall)
                wall, stdout = run([cli, "run", str(GREET), '{"name": "world"}', "--backend", "wasm"], warm)
                assert "Hello, world!" in stdout
                keep("cli_warm_wall", wall)
        return best

    benchmark.group = "cold-start"
    best: dict[str, float] = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    report(
        ratio_wasm_warm=best["wasm_warm"] / best["in_process"],
        ratio_wasm_cold=best["wasm_cold"] / best["in_process"],
        ratio_wasm_warm_wall=best["wasm_warm_wall"] / best["in_process_wall"],
        **{f"{key}_ms": seconds * 1e3 for key, seconds in best.items()},
    )
