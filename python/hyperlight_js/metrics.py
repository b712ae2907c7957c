"""``monitor_terminations_total{monitor_type=...}``: handlers ended by each
kind of monitor, counted in the Rust kill path.

With ``prometheus_client`` installed, importing ``hyperlight_js`` registers
a collector on its default registry, so the counter appears on any
``/metrics`` endpoint the host already serves. Use
:func:`register_prometheus_collector` for another registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import _native

__all__ = ["monitor_terminations", "MonitorTerminationsCollector", "register_prometheus_collector"]


def monitor_terminations() -> dict[str, int]:
    """Terminations so far in this process, by monitor name."""
    return dict(_native.monitor_terminations())


class MonitorTerminationsCollector:
    """A prometheus_client collector for the termination counter."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

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


def _register_default() -> None:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return
    register_prometheus_collector()


_register_default()
