"""No crash from Python through the public API: every other test module in
``tests/hostile`` (the hostile corpus, the size properties, the stack
attacks, whatever is added here later) runs again in a child Python
process, and the child must *exit* — with pytest's own status, whether its
tests passed or failed — not die of a signal. A segfault, an abort from a
panic that could not unwind, or a stack overflow in any test there fails
this test, naming the test that was running.

Failing tests are not this test's business (the same tests report them in
the main run); only how the child ended is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# Set in the child so that, if this module is ever collected there, it
# skips instead of recursing.
CHILD_ENV = "HLJS_NO_CRASH_CHILD"
# pytest's exit statuses for "ran, all passed" and "ran, some failed".
PYTEST_FINISHED = (0, 1)
# The whole hostile suite, once per runnable backend, on 2 shared cores.
CHILD_TIMEOUT = 1500
# Modules that already run every case in a child process of their own and
# fail when that child dies of a signal: running them again here would only
# double the suite's time (the built-in loops alone start ~300 processes).
OWN_PROCESS_MODULES = ("test_builtins.py", "test_stack.py")

# Imported by the child as a pytest plugin (-p): writes each test's id to a
# file before the test runs, unbuffered, so the last line names the test a
# crash killed.
TRACKER = '''
import os

def pytest_runtest_logstart(nodeid, location):
    with open(os.environ["HLJS_NO_CRASH_TRACE"], "a", encoding="utf-8") as trace:
        trace.write(nodeid + "\\n")
'''


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


@pytest.mark.skipif(os.environ.get(CHILD_ENV) == "1", reason="already inside the no-crash child run")
@pytest.mark.backends("in-process")  # the child runs every backend itself; once is enough
@pytest.mark.timeout(CHILD_TIMEOUT + 60)
def test_the_hostile_suite_cannot_crash_the_interpreter(tmp_path: Path) -> None:
    (tmp_path / "hljs_no_crash_tracker.py").write_text(TRACKER, encoding="utf-8")
    trace = tmp_path / "trace.txt"
    env = dict(os.environ)
    env[CHILD_ENV] = "1"
    env["HLJS_NO_CRASH_TRACE"] = str(trace)
    # The tracker plugin is found through sys.path set by the child itself:
    # an embeddable CPython (the Windows job's) ignores PYTHONPATH.
    command = [
        sys.executable,
        "-c",
        "import sys; sys.path.insert(0, sys.argv.pop(1)); import pytest; sys.exit(pytest.main(sys.argv[1:]))",
        str(tmp_path),
        str(HERE),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "hljs_no_crash_tracker",
        f"--ignore={Path(__file__).resolve()}",
        *(f"--ignore={HERE / name}" for name in OWN_PROCESS_MODULES),
    ]
    child = subprocess.run(
        command, cwd=HERE.parent.parent, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT
    )
    started = trace.read_text(encoding="utf-8").splitlines() if trace.exists() else []
    assert started, f"the child ran no test ({_describe(child.returncode)}):\n{child.stdout[-3000:]}\n{child.stderr[-3000:]}"
    if child.returncode not in PYTEST_FINISHED:
        running = started[-1]
        pytest.fail(
            f"the hostile suite {_describe(child.returncode)} while running {running}\n"
            f"--- child stderr (faulthandler's traceback, if any) ---\n{child.stderr[-4000:]}\n"
            f"--- child stdout ---\n{child.stdout[-2000:]}",
            pytrace=False,
        )
