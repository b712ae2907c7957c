from __future__ import annotations

import threading
from typing import Any

import pytest

from hyperlight_js import GuestError, LoadedJSSandbox, SandboxBuilder, SandboxBusyError


def _loaded(builder: SandboxBuilder, handler: str, **functions: Any) -> LoadedJSSandbox:
    proto = builder.build()
    for qualified, fn in functions.items():
        module, name = qualified.split("__")
        proto.register(module, name, fn)
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", handler)
    return sandbox.get_loaded_sandbox()


def test_host_functions_take_and_return_json_values(builder: SandboxBuilder) -> None:
    seen: list[tuple[Any, ...]] = []

    def record(*args: Any) -> dict[str, Any]:
        seen.append(args)
        return {"got": list(args)}

    loaded = _loaded(
        builder,
        "import * as host from 'host'; import { add } from 'math'; function handler(e) { return [add(e.a, 2), host.record(1, 'two', [3], {four: 4}, null)] }",
        math__add=lambda a, b: a + b,
        host__record=record,
    )
    assert loaded.call_handler("h", {"a": 40}) == [42, {"got": [1, "two", [3], {"four": 4}, None]}]
    assert seen == [(1, "two", [3], {"four": 4}, None)]


def test_a_raising_host_function_is_a_catchable_js_exception(builder: SandboxBuilder) -> None:
    """In the micro-VM, hyperlight-js throws its own InternalError, whose
    message ends with the host's (README: Backends); elsewhere a HostError."""

    def fail() -> None:
        raise KeyError("no such key")

    loaded = _loaded(
        builder,
        "import { fail } from 'host'; function handler(e) { try { fail() } catch (err) { return [err.name, err.message] } }",
        host__fail=fail,
    )
    name, message = loaded.call_handler("h")
    assert name == ("InternalError" if loaded.backend == "hyperlight" else "HostError")
    assert "KeyError" in message and "no such key" in message


def test_an_uncaught_host_exception_is_the_cause_of_the_guest_error(builder: SandboxBuilder) -> None:
    class Boom(Exception):
        pass

    def fail() -> None:
        raise Boom("kaboom")

    loaded = _loaded(builder, "import { fail } from 'host'; function handler() { fail() }", host__fail=fail)
    with pytest.raises(GuestError, match="kaboom") as info:
        loaded.call_handler("h")
    assert isinstance(info.value.__cause__, Boom)
    assert not loaded.poisoned


def test_results_json_cannot_hold_become_js_exceptions(backend: str, builder: SandboxBuilder) -> None:
    loaded = _loaded(
        builder,
        "import { bad, nan } from 'host'; function handler() { const out = []; for (const f of [bad, nan]) { try { f() } catch (e) { out.push(e.name) } } return out }",
        host__bad=lambda: object(),
        host__nan=lambda: float("nan"),
    )
    name = "InternalError" if backend == "hyperlight" else "HostError"
    assert loaded.call_handler("h") == [name, name]


def test_host_function_runs_on_the_calling_thread_with_the_gil(builder: SandboxBuilder) -> None:
    threads: list[int] = []
    loaded = _loaded(
        builder,
        "import { where } from 'host'; function handler() { where(); return 1 }",
        host__where=lambda: threads.append(threading.get_ident()),
    )
    loaded.call_handler("h")
    assert threads == [threading.get_ident()]


def test_a_host_function_calling_back_into_its_own_sandbox_gets_a_clear_error(builder: SandboxBuilder) -> None:
    holder: list[LoadedJSSandbox] = []
    errors: list[BaseException] = []

    def reenter() -> str:
        try:
            holder[0].call_handler("h", {"inner": True})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            raise
        return "unreachable"

    loaded = _loaded(
        builder,
        "import { reenter } from 'host'; function handler(e) { if (e.inner) return 'inner'; try { return reenter() } catch (err) { return 'refused' } }",
        host__reenter=reenter,
    )
    holder.append(loaded)
    assert loaded.call_handler("h", {}) == "refused"
    assert len(errors) == 1 and isinstance(errors[0], SandboxBusyError)


def test_registration_is_validated(builder: SandboxBuilder) -> None:
    proto = builder.build()
    proto.register("m", "f", lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        proto.register("m", "f", lambda: 2)
    for module, name in [("", "f"), ("./rel", "f"), ("m", ""), ("m", "nul\0")]:
        with pytest.raises(ValueError):
            proto.register(module, name, lambda: 1)
    with pytest.raises(TypeError):
        proto.register("m", "g", "not callable")  # type: ignore[arg-type]


def test_unknown_host_module_fails_the_load(builder: SandboxBuilder) -> None:
    from hyperlight_js import HandlerLoadError

    sandbox = builder.build().load_runtime()
    sandbox.add_handler("h", "import { x } from 'nope'; function handler() { return x }")
    with pytest.raises(HandlerLoadError, match="nope"):
        sandbox.get_loaded_sandbox()
