from __future__ import annotations

import pickle
import threading

import pytest

from conftest import SPIN, LoadFn
from hyperlight_js import ExecutionCancelled, GuestError, SandboxBuilder, errors

ALL = [getattr(errors, name) for name in errors.__all__]


@pytest.mark.backends("in-process")
@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.__name__)
def test_every_exception_pickles_with_its_attributes(cls: type[errors.HyperlightError]) -> None:
    error = cls("what happened")
    for attribute, value in (("monitor", "cpu-time"), ("stack", "at handler"), ("timeout", 1.5), ("actor", 3)):
        if hasattr(error, attribute):
            setattr(error, attribute, value)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert copy.args == error.args and str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


def test_a_real_termination_pickles_with_its_monitor(load: LoadFn) -> None:
    loaded = load(spin=SPIN)
    with pytest.raises(ExecutionCancelled) as info:
        loaded.call_handler("spin", {}, wall_clock_timeout=0.05)
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, ExecutionCancelled) and copy.monitor == "wall-clock"
    assert copy.message == info.value.message


def test_a_host_exception_travels_as_the_cause(builder: SandboxBuilder) -> None:
    def fails(x: int) -> int:
        raise KeyError(f"no {x}")

    def unpicklable(x: int) -> int:
        error = ValueError("holds a lock")
        error.lock = threading.Lock()  # type: ignore[attr-defined]
        raise error

    sandbox = builder.build()
    sandbox.register("host", "fails", fails)
    sandbox.register("host", "unpicklable", unpicklable)
    js = sandbox.load_runtime()
    js.add_handler("a", 'import * as host from "host"; function handler(e) { return host.fails(e) }')
    js.add_handler("b", 'import * as host from "host"; function handler(e) { return host.unpicklable(e) }')
    loaded = js.get_loaded_sandbox()
    with pytest.raises(GuestError) as info:
        loaded.call_handler("a", 7)
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy.__cause__, KeyError) and copy.__cause__.args == ("no 7",)
    assert copy.stack == info.value.stack
    with pytest.raises(GuestError) as info:
        loaded.call_handler("b", 7)
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy.__cause__, RuntimeError) and "ValueError: holds a lock" in str(copy.__cause__)
