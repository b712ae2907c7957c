"""Properties, with hypothesis: JSON values survive a round trip, and any
combination of monitors ends a tight loop with the earliest limit named."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hyperlight_js import (
    CpuTimeMonitor,
    ExecutionCancelled,
    ExecutionMonitor,
    LoadedJSSandbox,
    SandboxBuilder,
    WallClockMonitor,
)
from hyperlight_js.monitor import Monitor

# One echo sandbox per backend, kept across hypothesis' examples: loading
# one per example would make the test mostly about loading.
_echoes: dict[str, LoadedJSSandbox] = {}


def _echo_sandbox(builder: SandboxBuilder, backend: str) -> LoadedJSSandbox:
    if backend not in _echoes:
        sandbox = builder.build().load_runtime()
        sandbox.add_handler("echo", "function handler(e) { return e }")
        _echoes[backend] = sandbox.get_loaded_sandbox()
    return _echoes[backend]


# Every code point, lone surrogates included.
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(any_text, children, max_size=5),
    max_leaves=30,
)


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values. JavaScript numbers are doubles, and it writes an
    integral double without a fraction (3.0 as 3, 3.8e16 as 38000000000000000),
    which Python reads back as an int: numbers compare as doubles."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


# The `builder` fixture is shared by all examples; they only build from it, never change it.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values)
def test_any_json_value_survives_the_echo_handler(builder: SandboxBuilder, backend: str, value: Any) -> None:
    echoed = _echo_sandbox(builder, backend).call_handler("echo", value)
    assert same_json(echoed, value), (echoed, value)


class AfterDelay(ExecutionMonitor):
    name = "python-delay"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def get_monitor(self) -> Awaitable[None]:
        return asyncio.sleep(self.seconds)


def _monitor(kind: str, limit: float) -> Monitor:
    if kind == "wall-clock":
        return WallClockMonitor(limit)
    if kind == "cpu-time":
        return CpuTimeMonitor(limit)
    return AfterDelay(limit)


# Far apart: a CPU-time limit is reached later in wall-clock time when the
# machine is busy (on 2 cores at load 7 a thread gets a quarter of a core),
# and the test is about which limit ends the loop, not about how busy we are.
LIMITS = [0.03, 0.4]
KINDS = ["cpu-time", "python-delay", "wall-clock"]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from(LIMITS)), min_size=1, max_size=5))
def test_the_earliest_limit_ends_a_tight_loop(builder: SandboxBuilder, monitors: list[tuple[str, float]]) -> None:
    earliest = min(limit for _, limit in monitors)
    winners = {kind for kind, limit in monitors if limit == earliest}
    assume(len(winners) == 1)
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("spin", "function handler() { while (true) {} }")
    loaded = sandbox.get_loaded_sandbox()
    spec: tuple[Monitor, ...] = tuple(_monitor(kind, limit) for kind, limit in monitors)
    try:
        loaded.handle_event_with_monitor("spin", "{}", spec)
    except ExecutionCancelled as exc:
        assert exc.monitor == winners.pop()
    else:
        raise AssertionError("while(true) returned")
