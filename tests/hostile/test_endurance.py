"""Endurance: many kill/restore cycles, and many threads running random
hostile cases at once. CI runs the short mode; HLJS_ENDURANCE=long runs the
full one (10,000 cycles; 60 s of random load)."""

from __future__ import annotations

import collections
import json
import os
import random
import threading
import time

import psutil

from corpus import CASES, Case, load_case
from hyperlight_js import CpuTimeMonitor, LoadedJSSandbox, SandboxBuilder, Snapshot, WallClockMonitor

LONG = os.environ.get("HLJS_ENDURANCE") == "long"
CYCLES = 10_000 if LONG else 1_000
LOAD_SECONDS = 60.0 if LONG else 4.0
# Cases slow by design (a million host calls, a blocking host call, 40 MB of host data).
SLOW = {"host-called-a-million-times", "host-blocks", "host-returns-huge", "stringify-huge"}


def _rss_mib() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def test_kill_restore_cycles_keep_memory_bounded(builder: SandboxBuilder) -> None:
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("spin", "let junk = []; function handler() { for (;;) junk.push({}) }")
    loaded = sandbox.get_loaded_sandbox()
    snapshot = loaded.snapshot()
    limit = CpuTimeMonitor(0.001)

    def cycle() -> None:
        try:
            loaded.handle_event_with_monitor("spin", "{}", limit)
        except Exception as exc:  # noqa: BLE001
            assert type(exc).__name__ in ("ExecutionCancelled", "GuestOutOfMemoryError"), exc
        assert loaded.poisoned
        loaded.restore(snapshot)

    for _ in range(200):
        cycle()
    baseline = _rss_mib()
    started = time.monotonic()
    for _ in range(CYCLES):
        cycle()
    growth = _rss_mib() - baseline
    elapsed = time.monotonic() - started
    print(f"\n{CYCLES} kill/restore cycles in {elapsed:.1f} s; RSS growth {growth:.1f} MiB")
    assert growth < 32, f"RSS grew by {growth:.1f} MiB over {CYCLES} kill/restore cycles"


def _load(case: Case, backend: str) -> tuple[LoadedJSSandbox, Snapshot]:
    loaded = load_case(case, backend)
    return loaded, loaded.snapshot()


def test_eight_threads_of_random_hostile_load(backend: str) -> None:
    cases = [c for c in CASES if c.name not in SLOW and backend not in c.differs_on]
    deadline = time.monotonic() + LOAD_SECONDS
    tallies: list[collections.Counter[str]] = [collections.Counter() for _ in range(8)]
    failures: list[str] = []

    def worker(index: int) -> None:
        rng = random.Random(index)
        sandboxes: dict[str, tuple[LoadedJSSandbox, Snapshot]] = {}
        tally = tallies[index]
        while time.monotonic() < deadline:
            case = rng.choice(cases)
            loaded, snapshot = sandboxes.get(case.name) or sandboxes.setdefault(case.name, _load(case, backend))
            tally["started"] += 1
            try:
                wall, cpu = case.limits
                loaded.handle_event_with_monitor("case", json.dumps(case.event), (WallClockMonitor(wall), CpuTimeMonitor(cpu)))
                outcome = "ok"
            except Exception as exc:  # noqa: BLE001 - every outcome is checked below
                outcome = type(exc).__name__
                if case.expect is None or not isinstance(exc, case.expect):
                    failures.append(f"{case.name}: unexpected {exc!r}")
            else:
                if case.expect is not None:
                    failures.append(f"{case.name}: expected {case.expect}, it returned")
            tally[outcome] += 1
            tally["finished"] += 1
            if loaded.poisoned:
                loaded.restore(snapshot)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(LOAD_SECONDS + 30)
    assert not any(t.is_alive() for t in threads), "a worker is stuck: deadlock or unkillable guest"
    total: collections.Counter[str] = sum(tallies, collections.Counter())
    assert total["started"] == total["finished"] > 0, "every call is accounted for"
    assert sum(v for k, v in total.items() if k not in ("started", "finished")) == total["finished"]
    assert failures == []
    print(f"\nrandom hostile load: {total['finished']} calls in {LOAD_SECONDS:.0f} s on 8 threads "
          f"({total['finished'] / LOAD_SECONDS:.0f} calls/s): {dict(total)}")

