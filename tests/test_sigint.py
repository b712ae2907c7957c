"""Ctrl-C while a handler spins on the main thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from hyperlight_js import SandboxBuilder, SandboxPoisonedError

    # A process started in the background inherits SIGINT as ignored, and
    # Python then keeps it ignored; a terminal's Ctrl-C has the default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if sys.platform == "win32":
        # This process leads a console process group of its own (so the
        # Ctrl-C reaches nothing else), and such a group starts with Ctrl-C
        # disabled: enable it, as a console program normally has it.
        import ctypes
        ctypes.windll.kernel32.SetConsoleCtrlHandler(None, False)

    sandbox = SandboxBuilder().with_backend(sys.argv[1]).build().load_runtime()
    sandbox.add_handler("spin", "function handler() { while (true) {} }")
    sandbox.add_handler("ok", "function handler() { return 'ok' }")
    loaded = sandbox.get_loaded_sandbox()
    snapshot = loaded.snapshot()
    handle = loaded.interrupt_handle()

    def press_ctrl_c():
        while not handle.running:
            time.sleep(0.001)
        time.sleep(0.05)
        if sys.platform == "win32":
            # A real console Ctrl-C to this process group.
            os.kill(os.getpid(), signal.CTRL_C_EVENT)
        else:
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    started = time.monotonic()
    try:
        loaded.handle_event("spin", "{}")
    except KeyboardInterrupt:
        print("KeyboardInterrupt after", round(time.monotonic() - started, 1))
    print("poisoned", loaded.poisoned)
    try:
        loaded.handle_event("ok", "{}")
    except SandboxPoisonedError:
        print("refused while poisoned")
    loaded.restore(snapshot)
    print("after restore", loaded.handle_event("ok", "{}"))
    """
)


def _own_console_group() -> dict[str, Any]:
    """How to start the child so a Ctrl-C reaches it alone (on Windows, a
    console process group of its own; elsewhere a signal to one pid)."""
    if sys.platform == "win32":
        import ctypes

        processes = (ctypes.c_uint32 * 8)()
        if ctypes.windll.kernel32.GetConsoleProcessList(processes, 8) == 0:
            pytest.skip("no console is attached to this process, and a Ctrl-C is a console event on Windows")
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {}


def test_ctrl_c_ends_the_handler_and_raises_keyboard_interrupt(backend: str) -> None:
    flags = _own_console_group()
    done = subprocess.run([sys.executable, "-c", SCRIPT, backend], capture_output=True, text=True, timeout=30, **flags)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("KeyboardInterrupt after ")
    assert float(lines[0].split()[-1]) < 2
    assert lines[1:] == ["poisoned True", "refused while poisoned", 'after restore "ok"']


def test_ctrl_c_is_not_watched_off_the_main_thread_or_when_the_host_handles_it() -> None:
    from hyperlight_js import sandbox

    assert sandbox._watch_sigint() is (signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        assert sandbox._watch_sigint() is False
    finally:
        signal.signal(signal.SIGINT, previous)
    assert os.getpid() > 0
