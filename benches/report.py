"""Runs the benchmarks and writes the comparison with peers.

    .venv/bin/python benches/report.py [--render-only] [pytest arguments...]

runs ``pytest benches --benchmark-only --benchmark-json=benches/results/raw.json``
(extra arguments are passed on, e.g. ``-k vs_``), then renders
``benches/results/latest.md`` (one table: every figure for us and for each
peer from that same run, with the ratio ours/peer) and the PNG plots next to
it. ``--render-only`` renders the existing ``raw.json`` again. The exit status
is pytest's. Each benchmark first waits up to ``HLJS_BENCH_QUIET`` seconds
(default here 30; 0 to not wait) for other processes to leave the CPUs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# A run on a backend chosen with HLJS_BENCH_BACKEND gets a folder of its own,
# so the default backend's report is never overwritten by another's.
RESULTS = ROOT / "benches" / "results" / os.environ.get("HLJS_BENCH_BACKEND", "")
RAW = RESULTS / "raw.json"
LATEST = RESULTS / "latest.md"

# Peer columns: engine id -> heading.
PEERS = {
    "mini-racer": "mini-racer (V8)",
    "quickjs": "quickjs `Function`",
    "quickjs-context": "quickjs `Context`",
    "wasmtime": "wasmtime (wasm, not JS)",
    "hyperlight-sandbox": "hyperlight-sandbox (micro-VM)",
}
NO_JS = "n/a: no JavaScript engine"
NO_LIMIT = "n/a: no time limit in its Python API"
NO_CPU = "n/a: no CPU-time limit"
NOISY_CORES = 0.3  # other processes' CPU during a benchmark above which its row is flagged


@dataclass(frozen=True)
class Figure:
    """How to read one number out of a benchmark: a stat of its timings
    (seconds, times ``scale``) or an ``extra_info`` entry."""

    key: str
    stat: bool = False
    scale: float = 1.0

    def read(self, benchmark: dict[str, Any]) -> float | None:
        source = benchmark["stats"] if self.stat else benchmark["extra_info"]
        value = source.get(self.key)
        return None if value is None else float(value) * self.scale


MEDIAN_US = Figure("median", stat=True, scale=1e6)
MEDIAN_MS = Figure("median", stat=True, scale=1e3)


@dataclass(frozen=True)
class Row:
    case: str
    figure: str
    ours: str  # benchmark name
    peers: dict[str, str]  # peer -> benchmark name, or "n/a: why"
    read: Figure
    unit: str
    higher_is_better: bool = False
    ratio: bool = True


# The rows the headline tables (docs/performance.md) show, by (case prefix, figure prefix).
HEADLINE = [
    ("Round trip, no-op", "`handle_event` (JSON text)"),
    ("Round trip, no-op", "`handle_event`, `gc=False`"),
    ("Round trip under limits", "`handle_event_with_monitor`, (WallClock"),
    ("Overshoot past 50 ms, quiet", "wall-clock, p99"),
    ("Overshoot past 50 ms, quiet", "CPU time (p99"),
    ("Overshoot past 50 ms, busy", "wall-clock, p99"),
    ("Clean state after a kill", ""),
    ("Creation", ""),
    ("Parallelism", "calls/s, 1 thread"),
    ("Parallelism", "calls/s, 16 threads"),
    ("Parallelism", "16 threads ÷ 1 thread"),
    ("256 concurrent", "overshoot p99"),
    ("256 concurrent", "threads beyond"),
    ("Memory", "RSS per loaded"),
    ("Memory", "RSS growth"),
]


def in_headline(row: Row) -> bool:
    return any(row.case.startswith(case) and row.figure.startswith(figure) for case, figure in HEADLINE)


@dataclass
class Run:
    benchmarks: dict[str, dict[str, Any]]
    info: dict[str, Any]
    machine: dict[str, Any]
    commit: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Run:
        raw = json.loads(path.read_text(encoding="utf-8"))
        info = raw.get("hljs", {})
        return cls(
            benchmarks={benchmark["name"]: benchmark for benchmark in raw["benchmarks"]},
            info=info,
            machine=raw.get("machine_info", {}),
            commit=raw.get("commit_info", {}),
            skipped=info.get("skipped", {}),
        )

    def value(self, name: str, figure: Figure) -> float | None:
        benchmark = self.benchmarks.get(name)
        return None if benchmark is None else figure.read(benchmark)

    def other_load(self, names: Sequence[str]) -> float:
        """The most CPU (cores) other processes used during these benchmarks."""
        benchmarks = [self.benchmarks[name] for name in names if name in self.benchmarks]
        return max((benchmark["extra_info"].get("other_cpu_cores", 0.0) for benchmark in benchmarks), default=0.0)


def each(test: str, engines: Sequence[str], suffix: str = "", **special: str) -> dict[str, str]:
    """Peer -> ``test[engine<suffix>]``, or the ``special`` text (an n/a)."""
    names = {engine: f"{test}[{engine}{suffix}]" for engine in engines}
    return {peer: special.get(peer.replace("-", "_"), names.get(peer, "")) for peer in PEERS}


def rows() -> list[Row]:
    js = ["mini-racer", "quickjs", "quickjs-context", "hyperlight-sandbox"]
    result: list[Row] = []
    round_trip = each("test_round_trip_vs", js, wasmtime=NO_JS)
    for variant, label in [
        ("handle_event", "`handle_event` (JSON text)"),
        ("handle_event-no-gc", "`handle_event`, `gc=False`"),
        ("call_handler", "`call_handler` (dict)"),
    ]:
        result.append(
            Row("Round trip, no-op handler", label, f"test_round_trip_vs[ours-{variant}]", round_trip, MEDIAN_US, "µs")
        )
    limited = each("test_round_trip_limited_vs", js, wasmtime=NO_JS, hyperlight_sandbox=NO_LIMIT)
    for variant, label in [
        ("native-pair", "`handle_event_with_monitor`, (WallClock 5 s, CpuTime 5 s)"),
        ("call_handler-native-pair", "`call_handler`, (WallClock 5 s, CpuTime 5 s)"),
        ("python-monitor", "`handle_event_with_monitor`, one Python monitor"),
    ]:
        result.append(
            Row(
                "Round trip under limits (peers: their 5 s limit)",
                label,
                f"test_round_trip_limited_vs[ours-{variant}]",
                limited,
                MEDIAN_US,
                "µs",
            )
        )
    spinners = ["mini-racer", "quickjs", "quickjs-context", "wasmtime"]
    for host, title in [("quiet", "quiet host"), ("busy", "busy host (a Python thread spinning)")]:
        wall = each("test_overshoot_vs", spinners, f"-{host}", hyperlight_sandbox=NO_LIMIT)
        cpu = {peer: NO_CPU for peer in PEERS}
        cpu["quickjs-context"] = f"test_overshoot_vs[quickjs-context-process-cpu-{host}]"
        cpu["hyperlight-sandbox"] = NO_LIMIT
        for percentile in ("p50", "p99", "max"):
            result.append(
                Row(
                    f"Overshoot past 50 ms, {title}",
                    f"wall-clock, {percentile}",
                    f"test_overshoot_vs[ours-wall-clock-{host}]",
                    wall,
                    Figure(f"{percentile}_ms"),
                    "ms",
                )
            )
        for percentile in ("p50", "p99", "max"):
            result.append(
                Row(
                    f"Overshoot past 50 ms, {title}",
                    f"CPU time ({percentile}; quickjs: process CPU)",
                    f"test_overshoot_vs[ours-cpu-time-{host}]",
                    cpu,
                    Figure(f"{percentile}_ms"),
                    "ms",
                )
            )
    create = each("test_create_vs", js, wasmtime=NO_JS)
    result.append(
        Row(
            "Clean state after a kill",
            "ours `restore(snapshot)`; peers: new context + handler",
            "test_restore_after_kill",
            create,
            MEDIAN_MS,
            "ms",
        )
    )
    result.append(
        Row(
            "Creation",
            "ours build → load → add handler → loaded; peers: new context + handler",
            "test_create_vs[ours]",
            create,
            MEDIAN_MS,
            "ms",
        )
    )
    threaded = ["mini-racer", "quickjs", "quickjs-context", "hyperlight-sandbox"]

    def parallel(threads: int, figure: str, read: Figure, unit: str) -> Row:
        return Row(
            "Parallelism, handler doing ~50 µs of work",
            figure,
            f"test_parallel_vs[hyperlight-js-{threads}]",
            each("test_parallel_vs", threaded, f"-{threads}", wasmtime=NO_JS),
            read,
            unit,
            higher_is_better=True,
        )

    rate, scaling = Figure("calls_per_second"), Figure("scaling")
    result += [parallel(n, f"calls/s, {n} thread{'s' if n > 1 else ''}", rate, "/s") for n in (1, 2, 4, 16)]
    result += [parallel(n, f"{n} threads ÷ 1 thread (measured around it)", scaling, "×") for n in (2, 16)]
    scale = each(
        "test_scale_vs",
        ["mini-racer", "quickjs-context"],
        quickjs="n/a: calls serialise on one shared thread",
        wasmtime=NO_JS,
        hyperlight_sandbox=NO_LIMIT,
    )
    for key, label, unit in [
        ("p50_ms", "overshoot p50", "ms"),
        ("p99_ms", "overshoot p99", "ms"),
        ("peak_threads", "process threads, peak", ""),
        ("extra_threads", "threads beyond callers + main", ""),
    ]:
        result.append(
            Row(
                "256 concurrent limited calls (0.2 s wall clock)",
                label,
                "test_scale_vs[hyperlight-js]",
                scale,
                Figure(key),
                unit,
            )
        )
    result.append(
        Row(
            "Memory",
            "RSS per loaded context (after one call)",
            "test_rss_per_context_vs[hyperlight-js]",
            each("test_rss_per_context_vs", js, wasmtime=NO_JS),
            Figure("kib_per_context"),
            "KiB",
        )
    )
    cycles = each("test_kill_cycles_vs", spinners, hyperlight_sandbox=NO_LIMIT)
    result.append(
        Row(
            "Memory",
            "RSS growth over the kill → recover cycles",
            "test_kill_cycles_vs[hyperlight-js]",
            cycles,
            Figure("growth_mib"),
            "MiB",
            ratio=False,
        )
    )
    result.append(
        Row(
            "Memory",
            "time per kill → recover cycle (1 ms limit)",
            "test_kill_cycles_vs[hyperlight-js]",
            cycles,
            Figure("ms_per_cycle"),
            "ms",
        )
    )
    return result


def number(value: float, unit: str) -> str:
    if unit == "×":
        return f"×{value:.3g}"
    magnitude = abs(value)
    text = f"{value:,.0f}" if magnitude >= 100 else f"{value:.3g}" if magnitude >= 0.01 else f"{value:.2g}"
    return f"{text} {unit}".rstrip()


def short_reason(reason: str) -> str:
    """A reason short enough for a cell (the whole one is under the table):
    ``missing: <package>``, or ``cannot run here:`` with the outer and inner
    ends of a chain of nested error messages, each said once."""
    if reason.startswith("missing:"):
        return reason.partition(" (")[0]
    parts: list[str] = []
    for part in reason.split(": "):
        if part not in parts:
            parts.append(part)
    if len(parts) > 6:
        parts = [*parts[:3], "…", *parts[-2:]]
    return ": ".join(parts).replace(": …:", " …")


def cell(run: Run, row: Row, reference: str, ours: float | None) -> str:
    if not reference:
        return "—"
    if reference.startswith("n/a"):
        return reference
    if reference in run.skipped:
        return short_reason(run.skipped[reference])
    value = run.value(reference, row.read)
    if value is None:
        return "not run"
    text = number(value, row.unit)
    if row.ratio and ours is not None and ours > 0 and value > 0:
        text += f" · ×{ours / value:.2g}"
    return text


def table(run: Run, headline: bool = False) -> list[str]:
    """The whole table, or (``headline``) the headline page's rows, without the
    columns of peers that ran none of them."""
    selected = [row for row in rows() if in_headline(row)] if headline else rows()
    peers = [
        peer
        for peer in PEERS
        if not headline or any(run.value(row.peers[peer], row.read) is not None for row in selected)
    ]
    heading = ["Case", "Figure", "better", f"hyperlight-js (ours, {run.info.get('ours_backend', '?')})"]
    heading += [PEERS[peer] for peer in peers]
    lines = ["| " + " | ".join(heading) + " |", "|" + "---|" * len(heading)]
    previous = ""
    for row in selected:
        ours = run.value(row.ours, row.read)
        ours_text = number(ours, row.unit) if ours is not None else run.skipped.get(row.ours, "not run")
        load = run.other_load([row.ours, *row.peers.values()])
        cells = [
            row.case if row.case != previous else "″",
            row.figure + (f" ⚠ {load:.1f}" if load > NOISY_CORES else ""),
            "higher" if row.higher_is_better else "lower",
            ours_text,
            *(cell(run, row, row.peers[peer], ours) for peer in peers),
        ]
        previous = row.case
        lines.append("| " + " | ".join(cells) + " |")
    return lines


HEADLINE_PAGE = ROOT / "docs" / "performance.md"


def update_headline(run: Run) -> bool:
    """Replaces the headline block of docs/performance.md for the backend that
    ran (between ``<!-- headline:<backend> -->`` and
    ``<!-- /headline:<backend> -->``), if the page has one."""
    backend = run.info.get("ours_backend", "?")
    start, end = f"<!-- headline:{backend} -->", f"<!-- /headline:{backend} -->"
    text = HEADLINE_PAGE.read_text(encoding="utf-8")
    if start not in text or end not in text:
        return False
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    commit = str(run.commit.get("id", "?"))[:7] + (" with uncommitted changes" if run.commit.get("dirty") else "")
    report = LATEST.relative_to(ROOT).as_posix()
    # The link is read from the page's folder, the text names the file from the root.
    link = Path(os.path.relpath(LATEST, HEADLINE_PAGE.parent)).as_posix()
    missing = [PEERS[peer] for peer in PEERS if not any(run.value(row.peers[peer], row.read) is not None for row in rows())]
    block = [
        start,
        f"From one run on `{backend}`, {str(run.info.get('date', '?'))[:10]}"
        f" (commit {commit}; {run.info.get('cores', '?')} cores); full table, machine and versions: [{report}]({link})."
        " Peer cells: their figure · ours/theirs.",
        "",
        *table(run, headline=True),
        "",
        *([f"Not shown, could not run a case here: {', '.join(missing)} (the report says why)."] if missing else []),
        end,
    ]
    HEADLINE_PAGE.write_text(before + "\n".join(block) + after, encoding="utf-8")
    return True


def header(run: Run) -> list[str]:
    info, machine, commit = run.info, run.machine, run.commit
    versions = ", ".join(f"{name} {version or 'not installed'}" for name, version in info.get("versions", {}).items())
    load = "Load average (1, 5, 15 min) {} at the start, {} at the end (including this run's own 256 threads)".format(
        *(
            "/".join(f"{value:.2f}" for value in info.get(key, ()))
            for key in ("load_average_start", "load_average_end")
        )
    )
    others = sorted(
        benchmark["extra_info"]["other_cpu_cores"]
        for benchmark in run.benchmarks.values()
        if "other_cpu_cores" in benchmark["extra_info"]
    )
    noisy = sum(1 for value in others if value > NOISY_CORES)
    if others:
        load += (
            f"; CPU used by other processes during a benchmark: median {others[len(others) // 2]:.2f} cores,"
            f" max {others[-1]:.2f}, above {NOISY_CORES} cores for {noisy} of {len(others)} benchmarks"
            " (rows marked ⚠ with the highest value)"
        )
    waits = [benchmark["extra_info"].get("quiet_wait_s") for benchmark in run.benchmarks.values()]
    waited = [wait for wait in waits if wait is not None]
    if waited:
        load += f"; before each benchmark the run waited for a quiet machine, {sum(waited):.0f} s in all"
    dirty = " (with uncommitted changes)" if commit.get("dirty") else ""
    return [
        "# hyperlight-js against peers",
        "",
        "Generated by `.venv/bin/python benches/report.py` from one run of `pytest benches --benchmark-only`;"
        " every figure below comes from that run.",
        "",
        f"- Date: {info.get('date', 'unknown')}; commit {str(commit.get('id', 'unknown'))[:12]}{dirty}",
        f"- Machine: {info.get('cores', '?')} cores, {info.get('cpu_model', '?')}; kernel {info.get('kernel', '?')};"
        f" Python {info.get('python', machine.get('python_version', '?'))}",
        f"- {load}",
        f"- Ours ran on the `{info.get('ours_backend', '?')}` backend (`HLJS_BENCH_BACKEND`:"
        f" {info.get('ours_backend_asked', '?')}; set it to `in-process`, `wasm` or `hyperlight` to choose)",
        f"- Versions: {versions}",
    ]


LEGEND = [
    "",
    "Each peer cell is the peer's figure and, after ·, the ratio ours/peer (below 1 is better for us when"
    " lower is better, above 1 when higher is better). n/a: the peer has nothing comparable;"
    " missing / cannot run here: see below. Overshoot is how long after the limit the caller gets the"
    " exception; negative means the call was ended early. ⚠ n: while one of the row's benchmarks ran, other"
    " processes on this shared machine used n cores (of the CPU count above): treat the row as noisy.",
    "",
]


def notes(run: Run) -> list[str]:
    lines = ["", "## Peers that are missing or could not run", ""]
    reasons: dict[str, str] = {}
    for name, reason in run.skipped.items():
        param = name.partition("[")[2]
        engine = max((peer for peer in PEERS if peer in param), key=len, default=param.rstrip("]"))
        reasons.setdefault(engine, reason)
    if not reasons:
        lines.append("None: every installed peer ran.")
    for engine, reason in sorted(reasons.items()):
        lines.append(f"- **{engine}**: {reason}")
    lines += ["", *NOTES]
    return lines


NOTES = [
    "## How each peer was driven",
    "",
    "- **mini-racer** (`py_mini_racer`): `MiniRacer().eval(source)`, then `call('handler', event)`;"
    " the limit is `timeout_sec` (the `timeout` in ms is deprecated). It is an `asyncio.wait_for` on the"
    " instance's own event-loop thread (one Python thread per instance); on expiry it asks V8 to terminate"
    " and raises `JSTimeoutException` at once, before V8 has stopped — the benchmark waits for the context"
    " (`eval('0')`) before the next sample. Every call goes through that loop thread, so it needs the GIL"
    " several times.",
    "- **quickjs** (`quickjs.Function`): the package's thread-safe class; every call is submitted to one"
    " executor thread shared by all Functions. **quickjs `Context`**: the raw context, called on the"
    " caller's thread, objects passed as JSON. Both limit with `set_time_limit(seconds)`, which QuickJS"
    " checks against `clock()`: CPU time of the whole process, so other busy threads end calls early and a"
    " loaded machine ends them late.",
    "- **wasmtime**: there is no JavaScript in it. It appears only where a comparable case exists: a wasm"
    " `(loop (br 0))` written in WAT, ended by epoch interruption (`set_epoch_deadline(1)`, a"
    " `threading.Timer` calling `engine.increment_epoch()` when the limit expires), and repeated kills.",
    "- **hyperlight-sandbox** 0.8 with the hyperlight-js backend: a JavaScript guest in a Hyperlight"
    " micro-VM (KVM). Its Python API has `run(code)` and snapshot/restore but no time limit. It is tried"
    " once per process; where `/dev/kvm` is a nested PVM hypervisor (this project's CI VM), the guest's"
    " initialisation dies in the kernel (`kvm-pvm: INTERNAL_ERROR in batch emul` in the kernel log) and the"
    " package raises the error quoted above.",
    "- **Ours**: the installed build of this package, on the backend named in the header (`in-process`:"
    " QuickJS in the host process; `wasm`: QuickJS compiled to wasm32-wasi, run by wasmtime; `auto`, the"
    " default, takes the strongest isolation that runs here). `ExecutionCancelled` ends every limited call,"
    " and the sandbox is restored from the snapshot taken after loading before the next sample.",
]


def render(run: Run) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [*header(run), *LEGEND, *table(run), *notes(run)]
    plots: list[str] = []
    try:
        import plots as plotting
    except ImportError as error:  # matplotlib missing
        lines += ["", f"No plots: {error}."]
    else:
        plots = plotting.render(run.benchmarks, RESULTS)
        lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in plots]
    LATEST.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {LATEST.relative_to(ROOT)}" + "".join(f", {name}" for name in plots))
    if update_headline(run):
        print(f"updated the headline in {HEADLINE_PAGE.relative_to(ROOT)}")


def main(argv: Sequence[str]) -> int:
    arguments = list(argv)
    status = 0
    if "--render-only" in arguments:
        arguments.remove("--render-only")
    else:
        RESULTS.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "benches",
            "--benchmark-only",
            f"--benchmark-json={RAW.relative_to(ROOT)}",
            "--timeout=900",
            *arguments,
        ]
        environment = {"HLJS_BENCH_QUIET": "30", **os.environ}
        print(f"$ HLJS_BENCH_QUIET={environment['HLJS_BENCH_QUIET']} " + " ".join(command[1:]), flush=True)
        status = subprocess.run(command, cwd=ROOT, env=environment, check=False).returncode
    if not RAW.exists():
        print(f"no {RAW.relative_to(ROOT)} to render", file=sys.stderr)
        return status or 1
    render(Run.load(RAW))
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
