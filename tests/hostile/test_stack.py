"""Native stack exhaustion: sandboxes nested 80 deep through host functions
(each guest recursing to its limit first), small Python threads, deep
Python recursion before the call, a huge scratch size on a huge thread.

Each attack runs in its own process (``stack_attacks.py``): a crash must
fail the test, not kill pytest. The process must exit normally, and the
attack must end either with a result or with a typed ``GuestError`` for the
stack — the guest's own ``RangeError``, or the refusal to enter the engine
when too little stack is left.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stack_attacks import ATTACKS

SCRIPT = Path(__file__).resolve().parent / "stack_attacks.py"


def run_attack(name: str, backend: str) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, str(SCRIPT), name, backend], capture_output=True, text=True, timeout=300
    )
    if child.returncode < 0:
        pytest.fail(
            f"attack {name!r} on {backend} killed the process with {signal.Signals(-child.returncode).name}\n"
            f"{child.stderr[-3000:]}",
            pytrace=False,
        )
    assert child.returncode == 0, f"attack {name!r} failed:\n{child.stdout[-2000:]}\n{child.stderr[-3000:]}"
    outcome: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return outcome


@pytest.mark.parametrize("attack", ATTACKS)
def test_stack_attack_ends_cleanly(attack: str, backend: str) -> None:
    outcome = run_attack(attack, backend)
    if "error" in outcome:
        assert outcome["error"] in ("GuestError", "HandlerLoadError"), outcome
        assert "call stack" in outcome["message"] or "stack overflow" in outcome["message"], outcome
    else:
        assert outcome["ok"] is not None
    if attack.startswith("chain") and "ok" in outcome:
        # The chain really nested: at least a few sandboxes deep before the
        # stack ran out (all 80 where each call gets a fresh stack).
        assert outcome["levels"] >= 3, outcome


@pytest.mark.backends("in-process")
@pytest.mark.skipif(
    sys.platform == "win32",
    reason="Windows gives a thread at least its executable's stack reservation (python.exe: 2 MB), "
    "so a 256 KiB thread cannot be made",
)
def test_a_call_without_room_is_refused_before_entering() -> None:
    """In-process, the engine runs on the calling thread's stack: on a
    256 KiB thread there is not room for a guest stack plus the reserve kept
    for host code, so the call is refused with a GuestError before QuickJS
    is entered (the other backends run the guest on a stack of their own).
    The attack loads the sandbox on that thread too, so the refusal comes
    from loading: HandlerLoadError, a GuestError."""
    outcome = run_attack("small-thread", "in-process")
    assert outcome.get("error") in ("GuestError", "HandlerLoadError"), outcome
    assert "the engine was not entered" in outcome["message"], outcome
