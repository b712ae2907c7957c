"""The shared monitor runtime: one per process, sized by
HYPERLIGHT_MONITOR_THREADS, read once. Each case runs in a fresh interpreter
because the runtime is created once per process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys, threading, time
    from hyperlight_js import SandboxBuilder, WallClockMonitor, CpuTimeMonitor, MonitorStartError, _native

    def monitor_threads():
        if sys.platform != "linux":
            return None  # thread names are read from Linux's /proc
        names = []
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/comm") as f:
                    names.append(f.read().strip())
            except (FileNotFoundError, ProcessLookupError):
                # A thread that ended after the listing (never a monitor thread: those live on).
                # Linux answers ENOENT or ESRCH depending on how far the exit had got.
                pass
        return sum(1 for n in names if n == "hl-monitor")

    sandbox = SandboxBuilder().with_backend(sys.argv[1]).build().load_runtime()
    sandbox.add_handler("h", "function handler(e) { return e }")
    loaded = sandbox.get_loaded_sandbox()
    assert monitor_threads() in (0, None), "the runtime is created lazily"
    try:
        for i in range(200):
            loaded.handle_event_with_monitor("h", "1", (WallClockMonitor(5), CpuTimeMonitor(5)))
    except MonitorStartError as exc:
        print("START-ERROR", exc)
    else:
        os.environ["HYPERLIGHT_MONITOR_THREADS"] = "7"  # read once: ignored now
        loaded.handle_event_with_monitor("h", "1", WallClockMonitor(5))
        # A new thread names itself once it runs: give the workers a moment.
        for _ in range(100):
            if monitor_threads() == _native.monitor_thread_count():
                break
            time.sleep(0.01)
        print("THREADS", monitor_threads(), _native.monitor_thread_count())
    """
)


def _run(env_value: str | None, backend: str) -> str:
    env = dict(os.environ)
    env.pop("HYPERLIGHT_MONITOR_THREADS", None)
    if env_value is not None:
        env["HYPERLIGHT_MONITOR_THREADS"] = env_value
    done = subprocess.run([sys.executable, "-c", SCRIPT, backend], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# Not by looking for /proc: Wine shows Linux's through drive Z:.
@pytest.mark.skipif(sys.platform != "linux", reason="thread names are read from /proc (Linux only)")
@pytest.mark.parametrize(("value", "threads"), [(None, 2), ("1", 1), ("4", 4)])
def test_thread_count_is_honoured_and_no_thread_is_spawned_per_call(value: str | None, threads: int, backend: str) -> None:
    assert _run(value, backend) == f"THREADS {threads} {threads}"


@pytest.mark.parametrize("value", ["0", "-2", "many", ""])
def test_a_bad_thread_count_fails_monitored_calls_closed(value: str, backend: str) -> None:
    out = _run(value, backend)
    assert out.startswith("START-ERROR") and "HYPERLIGHT_MONITOR_THREADS" in out, out
