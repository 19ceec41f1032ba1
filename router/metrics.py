"""Prometheus metrics of one router app, in a registry of its own.

Each app gets its own :class:`~prometheus_client.CollectorRegistry` (never the
global one), so tests can build many apps in one process. Label values come only
from the config (declared namespaces and events, plugin and rule names), never
from what a client sends, so a client cannot grow the number of series.

Other features count into the same object: ``event_dropped(namespace, event,
reason)`` is the counter for rate limits and other abuse controls.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

PREFIX = "socketio_router"
# Handlers usually take well under a millisecond; the default buckets start at 5 ms.
HANDLER_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _ConnectedClients:
    """``connected_clients{namespace}``, read from the client manager at scrape time.

    Counting at scrape time cannot drift: the manager is the source of truth for
    who is connected, including class namespaces and the admin namespace.
    """

    def __init__(self, rooms: Callable[[], dict], declared: Iterable[str]):
        self.rooms = rooms
        self.declared = list(declared)

    def collect(self):
        family = GaugeMetricFamily(f"{PREFIX}_connected_clients",
                                   "Clients connected, per namespace", labels=["namespace"])
        counts = {name: 0 for name in self.declared}
        for namespace, rooms in list(self.rooms().items()):
            counts[namespace] = len(rooms.get(None) or ())
        for namespace, count in sorted(counts.items()):
            family.add_metric([namespace], count)
        yield family


class RouterMetrics:
    """The counters and histogram the dispatcher and other features report to."""

    def __init__(self, namespaces: Iterable[str] = (), rooms: Callable[[], dict] | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        self.events_received = Counter(
            f"{PREFIX}_events_received", "Events received, per namespace and event",
            ["namespace", "event"], registry=self.registry)
        self.steps_failed = Counter(
            f"{PREFIX}_steps_failed", "Steps that raised, per namespace and plugin",
            ["namespace", "plugin"], registry=self.registry)
        self.connects_refused = Counter(
            f"{PREFIX}_connects_refused", "Connection attempts refused, per namespace and rule",
            ["namespace", "rule"], registry=self.registry)
        self.events_dropped = Counter(
            f"{PREFIX}_events_dropped", "Events dropped before their steps ran (rate limits, "
            "payload limits), per namespace, event and reason",
            ["namespace", "event", "reason"], registry=self.registry)
        self.handler_seconds = Histogram(
            f"{PREFIX}_handler_seconds", "Time to run an event's steps, per namespace and event",
            ["namespace", "event"], buckets=HANDLER_BUCKETS, registry=self.registry)
        if rooms is not None:
            self.registry.register(_ConnectedClients(rooms, namespaces))
        # labels() validates and locks on every call; an event's children are looked up once.
        self._event_children: dict[tuple[str, str], tuple] = {}

    def refused(self, namespace: str, rule: str | None) -> None:
        self.connects_refused.labels(namespace, rule or "unknown").inc()

    def step_failed(self, namespace: str, plugin: str) -> None:
        self.steps_failed.labels(namespace, plugin).inc()

    def event_dropped(self, namespace: str, event: str, reason: str = "rate") -> None:
        """Count an event a limit refused; ``event`` must be a declared name (or ``"*"``)."""
        self.events_dropped.labels(namespace, event, reason).inc()

    def timed_event(self, namespace: str, event: str) -> "_Timer":
        """``with metrics.timed_event(ns, ev): ...`` counts the event and times its steps."""
        children = self._event_children.get((namespace, event))
        if children is None:
            children = self._event_children[(namespace, event)] = (
                self.events_received.labels(namespace, event),
                self.handler_seconds.labels(namespace, event))
        children[0].inc()
        return _Timer(children[1])

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class _Timer:
    __slots__ = ("histogram", "started")

    def __init__(self, histogram):
        self.histogram = histogram

    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.histogram.observe(time.perf_counter() - self.started)
        return False
