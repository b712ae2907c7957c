"""The engines we compare against, behind one small interface.

Each engine runs one JavaScript function, ``handler(event)``, in a context of
its own: ``call(event)`` passes a Python object in and returns one,
``call_limited(event, limit_s)`` does the same under the engine's own time
limit and raises one of ``killed`` when the limit ends the call, and
``recover()`` makes the context usable again after such a kill.

Peers are imported only when used, so that a missing one costs a skip, not
the run: ``unavailable(engine)`` says why an engine cannot be used (``None``
when it can), and is computed once per process. Call it on the main thread
before making contexts on others: it also initialises V8 for mini-racer,
which crashes (SIGSEGV in ``mr_init_context``) when V8 was initialised on a
thread that has since exited and contexts are then created concurrently.

- ``hyperlight-js`` is us: ``call_handler`` in, ``handle_event_with_monitor``
  with a ``WallClockMonitor`` for limits, ``restore(snapshot)`` to recover; on
  the backend named by ``HLJS_BENCH_BACKEND`` (``in-process``, ``wasm``,
  ``hyperlight``), else the default one (``ours_builder``).
- ``mini-racer`` (V8): ``MiniRacer.call``; its time limit (``timeout_sec``;
  the older ``timeout`` in ms is deprecated) is an ``asyncio.wait_for`` on the
  instance's own event-loop thread, whose cancellation asks V8 to terminate.
- ``quickjs`` is the ``quickjs.Function`` class, the package's thread-safe
  API: every call hops to one executor thread shared by all Functions.
  ``quickjs-context`` is the raw ``quickjs.Context`` called on the caller's
  thread. Both limits are ``set_time_limit(seconds)``, which QuickJS's
  interrupt handler compares with ``clock()``: the CPU time of the whole
  process, not of the call.
- ``wasmtime`` has no JavaScript engine; only a wasm infinite loop (WAT) is
  comparable, ended by epoch interruption: a ``threading.Timer`` increments
  the engine's epoch when the limit expires.
- ``hyperlight-sandbox`` runs a JavaScript micro-VM guest (Hyperlight, KVM);
  it has no time limit in its Python API, and ``call`` runs a script that
  prints the handler's result as JSON.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

if TYPE_CHECKING:
    from hyperlight_js import SandboxBuilder

OURS = "hyperlight-js"


class Peer(NamedTuple):
    package: str  # on PyPI
    module: str  # to import


PEERS: dict[str, Peer] = {
    "mini-racer": Peer("mini-racer", "py_mini_racer"),
    "quickjs": Peer("quickjs", "quickjs"),
    "quickjs-context": Peer("quickjs", "quickjs"),
    "wasmtime": Peer("wasmtime", "wasmtime"),
    "hyperlight-sandbox": Peer("hyperlight-sandbox[hyperlight-js]", "hyperlight_sandbox_backend_hyperlight_js"),
}

# The distributions whose versions the report shows.
DISTRIBUTIONS = (
    "hyperlight-js",
    "mini-racer",
    "quickjs",
    "wasmtime",
    "hyperlight-sandbox",
    "hyperlight-sandbox-backend-hyperlight-js",
    "pytest-benchmark",
    "psutil",
    "matplotlib",
)

SPIN_WAT = '(module (func (export "spin") (loop $forever (br $forever))))'


BACKEND_VARIABLE = "HLJS_BENCH_BACKEND"


def ours_builder() -> SandboxBuilder:
    """Our builder, guest output discarded, on the ``HLJS_BENCH_BACKEND`` backend if set."""
    from hyperlight_js import SandboxBuilder

    builder = SandboxBuilder().with_host_print_fn(None)
    backend = os.environ.get(BACKEND_VARIABLE)
    if backend:
        builder = builder.with_backend(cast(Any, backend))
    return builder


def ours_backend() -> str:
    """The backend our sandboxes run on in this configuration."""
    sandbox = ours_builder().build().load_runtime()
    sandbox.add_handler("h", "function handler(e) { return e }")
    return str(sandbox.get_loaded_sandbox().backend)


class Engine(Protocol):
    killed: tuple[type[BaseException], ...]

    def call(self, event: Any) -> Any: ...

    def call_limited(self, event: Any, limit_s: float) -> Any: ...

    def recover(self) -> None: ...

    def close(self) -> None: ...


@functools.cache
def unavailable(engine: str) -> str | None:
    """Why ``engine`` cannot be used here: ``"missing: ..."`` (not
    installed) or ``"cannot run here: ..."`` (installed, fails to run)."""
    if engine == OURS:
        return None
    peer = PEERS[engine]
    try:
        importlib.import_module(peer.module)
    except ImportError as error:
        return f"missing: {peer.package} ({type(error).__name__}: {error})"
    if engine == "hyperlight-sandbox":
        return _hyperlight_sandbox_runs()
    if engine == "mini-racer":
        from py_mini_racer import init_mini_racer  # type: ignore[import-not-found,unused-ignore]

        init_mini_racer(ignore_duplicate_init=True)
    return None


def _hyperlight_sandbox_runs() -> str | None:
    """Starts one micro-VM guest: the only way to know whether it runs."""
    try:
        from hyperlight_sandbox import Sandbox  # type: ignore[import-not-found,unused-ignore]
    except ImportError as error:
        return f"missing: hyperlight-sandbox ({type(error).__name__}: {error})"
    try:
        Sandbox(backend="hyperlight-js").run("void 0")
    except Exception as error:
        return f"cannot run here: hyperlight-sandbox (hyperlight-js backend): {type(error).__name__}: {error}"
    return None


def make(engine: str, source: str) -> Engine:
    """A context of ``engine`` with ``source`` (defining ``handler``) loaded."""
    factories: dict[str, Callable[[str], Engine]] = {
        OURS: Ours,
        "mini-racer": MiniRacerEngine,
        "quickjs": QuickjsFunction,
        "quickjs-context": QuickjsContext,
        "wasmtime": WasmtimeSpin,
        "hyperlight-sandbox": HyperlightSandbox,
    }
    return factories[engine](source)


class Ours:
    def __init__(self, source: str) -> None:
        from hyperlight_js import ExecutionCancelled

        sandbox = ours_builder().build().load_runtime()
        sandbox.add_handler("h", source)
        self.loaded = sandbox.get_loaded_sandbox()
        self.snapshot = self.loaded.snapshot()
        self.killed: tuple[type[BaseException], ...] = (ExecutionCancelled,)

    def call(self, event: Any) -> Any:
        return self.loaded.call_handler("h", event)

    def call_limited(self, event: Any, limit_s: float) -> Any:
        from hyperlight_js import WallClockMonitor

        return json.loads(self.loaded.handle_event_with_monitor("h", json.dumps(event), WallClockMonitor(limit_s)))

    def recover(self) -> None:
        self.loaded.restore(self.snapshot)

    def close(self) -> None:
        pass


class MiniRacerEngine:
    def __init__(self, source: str) -> None:
        from py_mini_racer import JSTimeoutException, MiniRacer  # type: ignore[import-not-found,unused-ignore]

        self.racer = MiniRacer()
        self.racer.eval(source)
        self.killed: tuple[type[BaseException], ...] = (JSTimeoutException,)

    def call(self, event: Any) -> Any:
        return self.racer.call("handler", event)

    def call_limited(self, event: Any, limit_s: float) -> Any:
        return self.racer.call("handler", event, timeout_sec=limit_s)

    def recover(self) -> None:
        # The context survives a termination, but JSTimeoutException is raised
        # as soon as the timeout expires, before V8 has stopped: wait for it.
        self.racer.eval("0")

    def close(self) -> None:
        self.racer.close()


class QuickjsFunction:
    def __init__(self, source: str) -> None:
        import quickjs  # type: ignore[import-untyped,import-not-found,unused-ignore]

        self.function = quickjs.Function("handler", source)
        self.limit_s: float | None = None
        self.killed: tuple[type[BaseException], ...] = (quickjs.JSException,)

    def call(self, event: Any) -> Any:
        return self.function(event)

    def call_limited(self, event: Any, limit_s: float) -> Any:
        if limit_s != self.limit_s:
            self.function.set_time_limit(limit_s)
            self.limit_s = limit_s
        return self.function(event)

    def recover(self) -> None:
        pass

    def close(self) -> None:
        pass


class QuickjsContext:
    """``quickjs.Context`` used from the thread that created it (a context
    must not be shared between threads). Objects cross as JSON, as in
    ``quickjs.Function``, and no GC runs after the call."""

    def __init__(self, source: str) -> None:
        import quickjs  # type: ignore[import-untyped,import-not-found,unused-ignore]

        self.context = quickjs.Context()
        self.context.eval(source)
        self.handler = self.context.get("handler")
        self.limit_s: float | None = None
        self.killed: tuple[type[BaseException], ...] = (quickjs.JSException,)

    def call(self, event: Any) -> Any:
        return json.loads(self.handler(self.context.parse_json(json.dumps(event))).json())

    def call_limited(self, event: Any, limit_s: float) -> Any:
        if limit_s != self.limit_s:
            self.context.set_time_limit(limit_s)
            self.limit_s = limit_s
        return self.call(event)

    def recover(self) -> None:
        pass

    def close(self) -> None:
        pass


class WasmtimeSpin:
    """Not JavaScript: ``call_limited`` runs a wasm infinite loop (``source``
    is ignored) until a timer thread bumps the epoch."""

    def __init__(self, source: str) -> None:
        import wasmtime  # type: ignore[import-not-found,unused-ignore]

        config = wasmtime.Config()
        config.epoch_interruption = True
        self.engine = wasmtime.Engine(config)
        self.store = wasmtime.Store(self.engine)
        instance = wasmtime.Instance(self.store, wasmtime.Module(self.engine, SPIN_WAT), [])
        spin = instance.exports(self.store)["spin"]
        assert isinstance(spin, wasmtime.Func)
        self.spin = spin
        self.killed: tuple[type[BaseException], ...] = (wasmtime.Trap,)

    def call(self, event: Any) -> Any:
        raise NotImplementedError("wasmtime runs no JavaScript")

    def call_limited(self, event: Any, limit_s: float) -> Any:
        self.store.set_epoch_deadline(1)
        timer = threading.Timer(limit_s, self.engine.increment_epoch)
        timer.start()
        try:
            return self.spin(self.store)
        finally:
            timer.cancel()
            timer.join()

    def recover(self) -> None:
        pass  # the store is usable after a trap

    def close(self) -> None:
        pass


class HyperlightSandbox:
    def __init__(self, source: str) -> None:
        from hyperlight_sandbox import Sandbox  # type: ignore[import-not-found,unused-ignore]

        self.sandbox = Sandbox(backend="hyperlight-js")
        self.source = source
        self.sandbox.run(source)  # starts the guest
        self.killed: tuple[type[BaseException], ...] = ()

    def call(self, event: Any) -> Any:
        result = self.sandbox.run(f"{self.source}\nconsole.log(JSON.stringify(handler({json.dumps(event)})))")
        return json.loads(result.stdout)

    def call_limited(self, event: Any, limit_s: float) -> Any:
        raise NotImplementedError("hyperlight-sandbox has no time limit in its Python API")

    def recover(self) -> None:
        pass

    def close(self) -> None:
        pass
