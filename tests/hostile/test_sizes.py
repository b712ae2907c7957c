"""Heap and scratch sizes: any size from 1 byte to 64 MiB, on every backend,
gives either a working sandbox or a ``ValueError`` from ``build()`` naming
the backend's minimum — never a crash, never an engine that half starts.

A crash here would take pytest down with it; ``test_no_crash.py`` runs this
file (with the rest of ``tests/hostile``) in a child process and checks that
it exits normally.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import new_builder
from hyperlight_js import GuestError, GuestOutOfMemoryError, SandboxBuilder

KiB = 1024
MiB = 1024 * KiB

REFUSAL = re.compile(
    r"a guest (heap|scratch) size of (\d+) bytes is too small for the ([\w-]+) backend: the minimum is (\d+) bytes"
)
ADD_ONE = "function handler(e) { return e.x + 1 }"
RECURSE = "function handler() { const f = n => f(n + 1) + 1; return f(0) }"


def _builder(backend: str, heap: int, scratch: int) -> SandboxBuilder:
    # A new builder for each size: the sizes tried within one test differ.
    return new_builder(backend).with_host_print_fn(None).with_guest_heap_size(heap).with_guest_scratch_size(scratch)


def _refusal(exc: ValueError) -> tuple[str, int, str, int]:
    found = REFUSAL.search(str(exc))
    assert found, f"a size refusal names the minimum: {exc}"
    what, asked, backend, minimum = found.groups()
    return what, int(asked), backend, int(minimum)


def outcome(backend: str, heap: int, scratch: int) -> str:
    """"refused" (with the checks on the message) or "works" (with a call
    that returns and a recursion that ends in a typed error)."""
    try:
        proto = _builder(backend, heap, scratch).build()
    except ValueError as exc:
        what, asked, named, minimum = _refusal(exc)
        assert named == backend
        assert asked == (heap if what == "heap" else scratch)
        assert asked < minimum
        return "refused"
    sandbox = proto.load_runtime()
    sandbox.add_handler("add", ADD_ONE)
    sandbox.add_handler("recurse", RECURSE)
    loaded = sandbox.get_loaded_sandbox()
    assert loaded.call_handler("add", {"x": 1}) == 2
    # Deep recursion on the smallest stack: QuickJS's own error, or the
    # heap running out first on the smallest heaps; either way typed.
    with pytest.raises((GuestError, GuestOutOfMemoryError)):
        loaded.call_handler("recurse")
    return "works"


def floors(backend: str) -> tuple[int, int]:
    """The backend's minimum heap and scratch sizes, as its refusals of a
    1-byte size name them."""
    minimums = {}
    for heap, scratch in ((1, 1 * MiB), (64 * MiB, 1)):
        try:
            _builder(backend, heap, scratch).build()
        except ValueError as exc:
            what, _, _, minimum = _refusal(exc)
            minimums[what] = minimum
        else:
            minimums["heap" if heap == 1 else "scratch"] = 1
    return minimums["heap"], minimums["scratch"]


sizes = st.integers(min_value=1, max_value=64 * MiB)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(heap=sizes)
@example(heap=1)
@example(heap=32 * KiB)
@example(heap=64 * MiB)
def test_any_heap_size_works_or_is_refused(backend: str, heap: int) -> None:
    heap_floor, scratch_floor = floors(backend)
    expected = "works" if heap >= heap_floor else "refused"
    assert outcome(backend, heap, max(scratch_floor, 1 * MiB)) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scratch=sizes)
@example(scratch=1)
@example(scratch=16 * KiB)
@example(scratch=64 * MiB)
def test_any_scratch_size_works_or_is_refused(backend: str, scratch: int) -> None:
    heap_floor, scratch_floor = floors(backend)
    expected = "works" if scratch >= scratch_floor else "refused"
    assert outcome(backend, max(heap_floor, 16 * MiB), scratch) == expected


def test_the_floors_are_exact(backend: str) -> None:
    heap_floor, scratch_floor = floors(backend)
    assert outcome(backend, heap_floor, max(scratch_floor, 1 * MiB)) == "works"
    assert outcome(backend, heap_floor - 1, 1 * MiB) == "refused" or heap_floor == 1
    assert outcome(backend, 16 * MiB, scratch_floor) == "works"
    if scratch_floor > 1:
        assert outcome(backend, 16 * MiB, scratch_floor - 1) == "refused"
    # Both at their floors at once.
    assert outcome(backend, heap_floor, scratch_floor) == "works"


@pytest.mark.parametrize("size", [2**40, 2**62, 2**64 - 1])
def test_huge_sizes_are_capped_not_crashed(backend: str, size: int) -> None:
    """A limit larger than the machine is still a limit the backend can keep
    (the heap is capped by what wasm32 addresses or the host has, the stack
    by what the thread has); the micro-VM refuses what it cannot map."""
    heap_floor, scratch_floor = floors(backend)
    for heap, scratch in ((size, 1 * MiB), (16 * MiB, size)):
        try:
            assert outcome(backend, heap, scratch) == "works"
        except ValueError as exc:
            assert backend == "hyperlight", f"only the micro-VM has a maximum: {exc}"


@pytest.mark.parametrize("size", [2**64, 2**100, -1, 0])
def test_sizes_outside_a_machine_word_are_value_errors(builder: SandboxBuilder, size: int) -> None:
    with pytest.raises(ValueError):
        builder.with_guest_heap_size(size)
    with pytest.raises(ValueError):
        builder.with_guest_scratch_size(size)
