"""``monitor_terminations_total{monitor_type=...}``: handlers ended by each
kind of monitor, counted in the Rust kill path; hyperlight-js's lifecycle
metrics (``active_*_js_sandboxes`` gauges, ``*_js_sandboxes_total``,
``sandbox_loads_total`` and ``sandbox_unloads_total`` counters), kept by
the Rust core; and each live ``SandboxPool``'s ``stats()`` as
``sandbox_pool_*{pool=<name>}``.

With ``prometheus_client`` installed, importing ``hyperlight_js`` registers
a collector on its default registry, so the counter appears on any
``/metrics`` endpoint the host already serves. (When the host has not
imported prometheus_client yet, that happens as it does: hyperlight_js
never imports it itself, so processes that serve no metrics start faster.) Use
:func:`register_prometheus_collector` for another registry.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, cast

from . import _native

if TYPE_CHECKING:
    import importlib.abc

__all__ = [
    "monitor_terminations",
    "lifecycle_metrics",
    "MonitorTerminationsCollector",
    "register_prometheus_collector",
    "PoolCollector",
    "register_pool_collector",
    "track_pool",
]


def monitor_terminations() -> dict[str, int]:
    """Terminations so far in this process, by monitor name."""
    return dict(_native.monitor_terminations())


# hyperlight-js's observability guide, in its words.
_LIFECYCLE_HELP = {
    "active_proto_js_sandboxes": "Proto JS sandboxes alive in this process.",
    "active_js_sandboxes": "JS sandboxes alive in this process.",
    "active_loaded_js_sandboxes": "Loaded JS sandboxes alive in this process.",
    "proto_js_sandboxes_total": "Proto JS sandboxes created by this process.",
    "js_sandboxes_total": "JS sandboxes created by this process (load_runtime and unload).",
    "loaded_js_sandboxes_total": "Loaded JS sandboxes created by this process.",
    "sandbox_loads_total": "Successful loads (get_loaded_sandbox and load_snapshot).",
    "sandbox_unloads_total": "Calls of LoadedJSSandbox.unload.",
}


def lifecycle_metrics() -> dict[str, int]:
    """hyperlight-js's lifecycle metrics now, by name. A stage object
    counts in its ``active_*`` gauge from its creation until it is consumed
    by the next stage (``load_runtime()``, a successful load, ``unload()``)
    or garbage collected; the ``*_total`` counters only grow."""
    return {name: value for name, value, _gauge in _native.lifecycle_metrics()}


class MonitorTerminationsCollector:
    """A prometheus_client collector for the termination counter and the
    lifecycle metrics, under hyperlight-js's names."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        for name, value, gauge in _native.lifecycle_metrics():
            if gauge:
                yield GaugeMetricFamily(name, _LIFECYCLE_HELP[name], value=value)
            else:
                # prometheus_client adds the _total suffix itself.
                yield CounterMetricFamily(name.removesuffix("_total"), _LIFECYCLE_HELP[name], value=value)

        family = CounterMetricFamily(
            "monitor_terminations",
            "Handlers terminated by an execution monitor, by the monitor that fired.",
            labels=["monitor_type"],
        )
        for monitor_type, count in sorted(monitor_terminations().items()):
            family.add_metric([monitor_type], count)
        yield family

    def describe(self) -> Iterator[Any]:
        return self.collect()


def register_prometheus_collector(registry: Any = None) -> MonitorTerminationsCollector:
    """Register the collector on ``registry`` (default: prometheus_client's
    global ``REGISTRY``) and return it."""
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    collector = MonitorTerminationsCollector()
    registry.register(collector)
    return collector


class _Pool(Protocol):
    name: str

    def stats(self) -> dict[str, int]: ...


_pools_lock = threading.Lock()
_pools: weakref.WeakSet[_Pool] = weakref.WeakSet()

# stats() key -> (metric name, help, is a counter)
_POOL_METRICS = {
    "size": ("sandbox_pool_size", "Sandboxes in the pool (idle and busy).", False),
    "idle": ("sandbox_pool_idle", "Sandboxes ready for a call.", False),
    "busy": ("sandbox_pool_busy", "Sandboxes checked out.", False),
    "waiting": ("sandbox_pool_waiting", "Callers waiting for a sandbox.", False),
    "created": ("sandbox_pool_created", "Sandboxes made by the pool's factory.", True),
    "restores": ("sandbox_pool_restores", "Sandboxes restored to their clean snapshot.", True),
    "replaced": ("sandbox_pool_replaced", "Sandboxes replaced because their restore failed.", True),
    "terminations": ("sandbox_pool_terminations", "Calls ended by a monitor or a kill.", True),
    "calls": ("sandbox_pool_calls", "Checkouts returned to the pool.", True),
}


def track_pool(pool: _Pool) -> None:
    """Report ``pool`` (anything with ``name`` and ``stats()``) while it lives."""
    with _pools_lock:
        _pools.add(pool)


class PoolCollector:
    """A prometheus_client collector for every live pool, labelled ``pool``."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with _pools_lock:
            pools = sorted(_pools, key=lambda pool: pool.name)
        samples = [(pool.name, pool.stats()) for pool in pools]
        for key, (name, documentation, counter) in _POOL_METRICS.items():
            family = (CounterMetricFamily if counter else GaugeMetricFamily)(name, documentation, labels=["pool"])
            for pool_name, stats in samples:
                family.add_metric([pool_name], stats[key])
            yield family

    def describe(self) -> Iterator[Any]:
        return iter(())


def register_pool_collector(registry: Any = None) -> PoolCollector:
    """Register the pool collector on ``registry`` (default: the global one)."""
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    collector = PoolCollector()
    registry.register(collector)
    return collector


def _register_default_collectors() -> None:
    register_prometheus_collector()
    register_pool_collector()


class _RegisterAfterImport:
    """A finder placed first on ``sys.meta_path`` that lets
    ``prometheus_client`` import as usual and then registers the default
    collectors on its ``REGISTRY``.

    Importing prometheus_client costs ~40 ms (its HTTP exposition pulls in
    ``http.server``, ``email`` and ``ssl``): too much for every start of a
    process that never serves metrics (``hyperlight-js run``, a pool
    worker). The standard library has no post-import hook, and wrapt's
    (which has one) would be a dependency for these lines."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "prometheus_client":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            # Duck-typed rather than an importlib.abc.Loader subclass:
            # importlib.abc is one more import on every start.
            spec.loader = cast("importlib.abc.Loader", _ThenRegister(spec.loader))
        return spec


class _ThenRegister:
    """prometheus_client's own loader, which registers the collectors once
    the package has run."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        try:
            _register_default_collectors()
        except Exception:  # noqa: BLE001 - the host's import must not fail for our metrics
            logging.getLogger("hyperlight_js").warning(
                "could not register hyperlight-js's metrics on prometheus_client's REGISTRY", exc_info=True
            )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


def _register_default() -> None:
    """The collectors go on prometheus_client's default registry: now if the
    host imported it already, else when it first does (never, if it is not
    installed)."""
    if "prometheus_client" in sys.modules:
        _register_default_collectors()
    elif importlib.util.find_spec("prometheus_client") is not None:
        sys.meta_path.insert(0, _RegisterAfterImport())


_register_default()
