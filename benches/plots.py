"""The PNG plots of ``report.py``, from the benchmarks of one run (by name, as
in pytest-benchmark's JSON). Each plot is skipped when none of its
benchmarks ran."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib  # type: ignore[import-not-found,unused-ignore]

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]  # noqa: E402

Benchmarks = dict[str, dict[str, Any]]

OURS_COLOUR, PEER_COLOUR = "tab:blue", "tab:orange"
DPI = 90

OVERSHOOT = {
    "ours-wall-clock": "ours, WallClockMonitor",
    "ours-cpu-time": "ours, CpuTimeMonitor (thread CPU)",
    "mini-racer": "mini-racer",
    "quickjs": "quickjs Function",
    "quickjs-context": "quickjs Context",
    "quickjs-context-process-cpu": "quickjs Context (process CPU)",
    "wasmtime": "wasmtime epoch (wasm)",
}
SCALE = {"hyperlight-js": "ours, WallClockMonitor", "mini-racer": "mini-racer", "quickjs-context": "quickjs Context"}
ROUND_TRIP = {
    "test_round_trip_vs": {
        "ours-handle_event": "ours handle_event",
        "ours-handle_event-no-gc": "ours handle_event, gc=False",
        "ours-call_handler": "ours call_handler",
        "mini-racer": "mini-racer call",
        "quickjs": "quickjs Function",
        "quickjs-context": "quickjs Context",
        "hyperlight-sandbox": "hyperlight-sandbox run",
    },
    "test_round_trip_limited_vs": {
        "ours-native-pair": "ours handle_event_with_monitor, native pair",
        "ours-call_handler-native-pair": "ours call_handler, native pair",
        "ours-python-monitor": "ours, one Python monitor",
        "mini-racer": "mini-racer, timeout_sec",
        "quickjs": "quickjs Function, set_time_limit",
        "quickjs-context": "quickjs Context, set_time_limit",
    },
}
ENGINES = {
    "hyperlight-js": "ours",
    "mini-racer": "mini-racer",
    "quickjs": "quickjs Function",
    "quickjs-context": "quickjs Context",
    "wasmtime": "wasmtime (wasm)",
    "hyperlight-sandbox": "hyperlight-sandbox",
}


def colour(engine: str) -> str:
    return OURS_COLOUR if engine.startswith(("ours", "hyperlight-js")) else PEER_COLOUR


def render(benchmarks: Benchmarks, out: Path) -> list[str]:
    written = []
    for name, draw in [
        ("overshoot.png", overshoot),
        ("round_trip.png", round_trip),
        ("parallel.png", parallel),
        ("memory.png", memory),
    ]:
        figure = draw(benchmarks)
        if figure is not None:
            figure.savefig(out / name, dpi=DPI)
            plt.close(figure)
            written.append(name)
    return written


def distributions(axes: Any, title: str, series: Sequence[tuple[str, str, list[float]]]) -> None:
    """Horizontal box plots with every sample as a dot; symlog in ms."""
    labels = [label for _, label, _ in series]
    data = [samples for _, _, samples in series]
    positions = range(len(series), 0, -1)
    boxes = axes.boxplot(data, positions=list(positions), vert=False, widths=0.6, showfliers=False, patch_artist=True)
    for box, (engine, _, _) in zip(boxes["boxes"], series, strict=True):
        box.set_facecolor(colour(engine))
        box.set_alpha(0.35)
    for position, (engine, _, samples) in zip(positions, series, strict=True):
        axes.plot(samples, [position] * len(samples), "|", color=colour(engine), alpha=0.6, markersize=8)
    axes.set_yticks(list(positions), labels)
    axes.set_xscale("symlog", linthresh=1.0)
    axes.axvline(0, color="grey", linewidth=0.8)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("overshoot (ms, symlog; < 0: ended early)")
    axes.grid(axis="x", alpha=0.3)


def overshoot(benchmarks: Benchmarks) -> Any:
    panels = []
    for host, title in [("quiet", "past a 50 ms limit, quiet host"), ("busy", "past 50 ms, busy Python thread")]:
        series = [
            (engine, label, benchmarks[name]["extra_info"]["samples_ms"])
            for engine, label in OVERSHOOT.items()
            if (name := f"test_overshoot_vs[{engine}-{host}]") in benchmarks
        ]
        panels.append((title, series))
    scale = [
        (engine, label, benchmarks[name]["extra_info"]["samples_ms"])
        for engine, label in SCALE.items()
        if (name := f"test_scale_vs[{engine}]") in benchmarks
    ]
    threads = next((benchmarks[f"test_scale_vs[{engine}]"]["extra_info"].get("threads") for engine, _, _ in scale), 0)
    panels.append((f"past 0.2 s, {threads:.0f} concurrent calls", scale))
    panels = [(title, series) for title, series in panels if series]
    if not panels:
        return None
    heights = [max(2, len(series)) for _, series in panels]
    figure, axes = plt.subplots(len(panels), 1, figsize=(9, 1.2 + 0.45 * sum(heights)), height_ratios=heights)
    for panel, (title, series) in zip(axes if len(panels) > 1 else [axes], panels, strict=True):
        distributions(panel, title, series)
    figure.suptitle("Overshoot of while (true) {} past its limit (blue: ours)", fontsize=11)
    figure.tight_layout()
    return figure


def round_trip(benchmarks: Benchmarks) -> Any:
    bars = [
        (engine, label, benchmarks[name]["stats"]["median"] * 1e6)
        for test, variants in ROUND_TRIP.items()
        for engine, label in variants.items()
        if (name := f"{test}[{engine}]") in benchmarks
    ]
    if not bars:
        return None
    figure, axes = plt.subplots(figsize=(9, 1 + 0.35 * len(bars)))
    positions = list(range(len(bars), 0, -1))
    axes.barh(positions, [value for _, _, value in bars], color=[colour(engine) for engine, _, _ in bars])
    for position, (_, _, value) in zip(positions, bars, strict=True):
        axes.text(value, position, f" {value:.1f}", va="center", fontsize=8)
    axes.set_yticks(positions, [label for _, label, _ in bars])
    axes.set_xscale("log")
    axes.set_xlabel("median µs per call (log); top: no limit, bottom: under a 5 s limit")
    axes.set_title("Round trip of a no-op handler with {\"a\": 1} (blue: ours)", fontsize=11)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def parallel(benchmarks: Benchmarks) -> Any:
    figure, axes = plt.subplots(figsize=(7, 4))
    drawn = False
    for engine, label in ENGINES.items():
        points = [
            (threads, benchmarks[name]["extra_info"]["calls_per_second"])
            for threads in (1, 2, 4, 16)
            if (name := f"test_parallel_vs[{engine}-{threads}]") in benchmarks
        ]
        if points:
            drawn = True
            ours = engine == "hyperlight-js"
            axes.plot(*zip(*points, strict=True), "-o" if ours else "--o", label=label, linewidth=2.5 if ours else 1.5)
    if not drawn:
        plt.close(figure)
        return None
    axes.set_xscale("log", base=2)
    axes.set_xticks([1, 2, 4, 16], ["1", "2", "4", "16"])
    axes.set_xlabel("threads (one context each)")
    axes.set_ylabel("calls per second")
    axes.set_title("Throughput, handler doing ~50 µs of QuickJS work", fontsize=11)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def memory(benchmarks: Benchmarks) -> Any:
    per_context = [
        (engine, label, benchmarks[name]["extra_info"]["kib_per_context"])
        for engine, label in ENGINES.items()
        if (name := f"test_rss_per_context_vs[{engine}]") in benchmarks
    ]
    curves = [
        (engine, label, benchmarks[name]["extra_info"]["rss_mib"])
        for engine, label in ENGINES.items()
        if (name := f"test_kill_cycles_vs[{engine}]") in benchmarks
    ]
    if not per_context and not curves:
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar(
        [label for _, label, _ in per_context],
        [value for _, _, value in per_context],
        color=[colour(engine) for engine, _, _ in per_context],
    )
    left.set_ylabel("KiB of RSS per loaded context")
    left.set_title("RSS per context (100 created)", fontsize=10)
    left.tick_params(axis="x", labelrotation=20, labelsize=8)
    for engine, label, curve in curves:
        cycles = [point[0] for point in curve]
        growth = [point[1] - curve[0][1] for point in curve]
        right.plot(cycles, growth, "-" if engine == "hyperlight-js" else "--", label=label)
    right.set_xlabel("kill → recover cycles (after warm-up)")
    right.set_ylabel("RSS growth (MiB)")
    right.set_title("RSS over repeated kills", fontsize=10)
    right.grid(alpha=0.3)
    if curves:
        right.legend(fontsize=8)
    figure.tight_layout()
    return figure
