"""Prometheus metrics of one router app, in a registry of its own.

Each app gets its own :class:`~prometheus_client.CollectorRegistry` (never the
global one), so tests can build many apps in one process. Label values come only
from the config (declared namespaces and events, plugin and rule names), never
from what a client sends, so a client cannot grow the number of series.

Other features count into the same object: ``event_dropped(namespace, event,
reason)`` is the counter for rate limits and other abuse controls. Plugins keep
their own counts and declare a ``metrics=`` function in their spec; it is asked for
its series at scrape time (the ``http`` step's backend calls).

Every event is counted and timed, so those two series are kept in plain numbers
(:class:`EventStats`) and turned into Prometheus samples at scrape time. A
prometheus_client Counter and Histogram take three locks per event, and under
gevent and eventlet monkey patching makes each a Python-level lock of the event
loop: together they were the largest part of the router's own cost per message.
"""

from __future__ import annotations

import bisect
import sys
from typing import Any, Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.utils import floatToGoString

PREFIX = "socketio_router"
# Handlers usually take well under a millisecond; the default buckets start at 5 ms.
HANDLER_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _NamespaceGauge:
    """A gauge per namespace read at scrape time: ``connected_clients`` from the client manager,
    ``presence_members`` from the presence tracker.

    Counting at scrape time cannot drift: the manager is the source of truth for
    who is connected, including class namespaces and the admin namespace.
    ``counts()`` gives {namespace: value} for the namespaces that have any; the
    declared ones are shown at 0 otherwise.
    """

    def __init__(self, name: str, documentation: str, counts: Callable[[], Mapping[str, int]],
                 declared: Iterable[str]):
        self.name = name
        self.documentation = documentation
        self.counts = counts
        self.declared = list(declared)

    def collect(self):
        family = GaugeMetricFamily(f"{PREFIX}_{self.name}", self.documentation, labels=["namespace"])
        counts = {name: 0 for name in self.declared}
        counts.update(self.counts())
        for namespace, count in sorted(counts.items()):
            family.add_metric([namespace], count)
        yield family


def os_lock():
    """A lock of the operating system, even in a monkey-patched process.

    Safe for a few additions under gevent and eventlet: no greenlet switch can happen
    while it is held, so a greenlet never waits on it; threads (the threading mode,
    thread pools) still exclude each other. ``gevent.monkey.get_original`` and
    ``eventlet.patcher.original`` are those libraries' documented API for this, not
    an internal.
    """
    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        return monkey.get_original("_thread", "allocate_lock")()
    if "eventlet.patcher" in sys.modules:
        from eventlet import patcher

        return patcher.original("_thread").allocate_lock()
    import _thread

    return _thread.allocate_lock()


_bucket = bisect.bisect_left


class EventStats:
    """One declared event's count and handler-time histogram, as plain numbers."""

    __slots__ = ("labels", "buckets", "total_seconds", "_lock")

    def __init__(self, labels: tuple[str, str], lock):
        self.labels = labels
        self.buckets = [0] * (len(HANDLER_BUCKETS) + 1)  # the last one is +Inf
        self.total_seconds = 0.0
        self._lock = lock

    def observe(self, seconds: float) -> None:
        """Count one event whose steps took ``seconds``."""
        index = _bucket(HANDLER_BUCKETS, seconds)  # buckets are "less or equal"
        lock = self._lock
        lock.acquire()  # not `with`: its two special-method calls were a third of this
        try:
            self.buckets[index] += 1
            self.total_seconds += seconds
        finally:
            lock.release()

    def snapshot(self) -> tuple[list[int], float]:
        with self._lock:
            return list(self.buckets), self.total_seconds


class _EventSeries:
    """``events_received_total`` and ``handler_seconds`` of every declared event, at scrape time."""

    def __init__(self, stats: Mapping[tuple[str, str], EventStats]):
        self.stats = stats  # the live table: events declared by a --reload swap show up too

    def collect(self):
        labels = ["namespace", "event"]
        received = CounterMetricFamily(f"{PREFIX}_events_received",
                                       "Events received, per namespace and event", labels=labels)
        handler = HistogramMetricFamily(f"{PREFIX}_handler_seconds",
                                        "Time to run an event's steps, per namespace and event",
                                        labels=labels)
        bounds = [floatToGoString(bound) for bound in HANDLER_BUCKETS] + ["+Inf"]
        for stats in list(self.stats.values()):
            counts, total_seconds = stats.snapshot()
            cumulative, running = [], 0
            for bound, count in zip(bounds, counts):
                running += count
                cumulative.append((bound, running))
            received.add_metric(stats.labels, running)
            handler.add_metric(stats.labels, cumulative, total_seconds)
        yield received
        yield handler


class _PluginSeries:
    """The series of the plugins that declare ``metrics=``, asked for at scrape time.

    Each declared function is called once, with the options of every configured step
    and rule that declares it: a step and an auth rule may share one metric family.
    """

    def __init__(self, groups: dict[Callable, list]):
        self.groups = groups

    def collect(self):
        for metrics, options in self.groups.items():
            yield from metrics(options)


class RouterMetrics:
    """The counters and histogram the dispatcher and other features report to."""

    def __init__(self, namespaces: Iterable[str] = (),
                 client_counts: Callable[[], Mapping[str, int]] | None = None,
                 events: Iterable[tuple[str, str]] = (), plugins: Iterable[tuple[Any, Any]] = (),
                 presence_counts: Callable[[], Mapping[str, int]] | None = None):
        """``client_counts()`` gives the clients connected per namespace; ``events`` are the
        declared (namespace, event) pairs: each has its series from the start, at 0, so a rate
        over them is right from the first event. ``plugins`` are the (PluginSpec, options) of
        every configured step and rule. ``presence_counts()`` gives the members of tracked rooms
        per namespace, when the config tracks presence."""
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = os_lock()
        self._events: dict[tuple[str, str], EventStats] = {}
        self.registry.register(_EventSeries(self._events))
        self.steps_failed = Counter(
            f"{PREFIX}_steps_failed", "Steps that raised, per namespace and plugin",
            ["namespace", "plugin"], registry=self.registry)
        self.connects_refused = Counter(
            f"{PREFIX}_connects_refused", "Connection attempts refused, per namespace and rule",
            ["namespace", "rule"], registry=self.registry)
        self.events_dropped = Counter(
            f"{PREFIX}_events_dropped", "Events dropped before their steps ran (rate limits, "
            "payload limits, unknown events), per namespace, event and reason",
            ["namespace", "event", "reason"], registry=self.registry)
        self.slow_consumers = Counter(
            f"{PREFIX}_slow_consumers_disconnected", "Clients disconnected because more waited to "
            "be sent to them than server.max_queued_bytes_per_client or "
            "max_queued_messages_per_client allow", registry=self.registry)
        self.volatile_dropped = Counter(
            f"{PREFIX}_volatile_dropped", "Volatile messages not sent to a client that had "
            "others waiting", registry=self.registry)
        self.recoveries = Counter(
            f"{PREFIX}_recoveries", "Clients that asked for their session back (connection state "
            "recovery), per namespace and outcome", ["namespace", "outcome"], registry=self.registry)
        self._clients = self._presence = None
        if client_counts is not None:
            self._clients = _NamespaceGauge("connected_clients", "Clients connected, per namespace",
                                            client_counts, namespaces)
            self.registry.register(self._clients)
        self._plugins = _PluginSeries({})
        self.registry.register(self._plugins)
        self.declare(namespaces, events, plugins, presence_counts)

    def declare(self, namespaces: Iterable[str], events: Iterable[tuple[str, str]],
                plugins: Iterable[tuple[Any, Any]] = (),
                presence_counts: Callable[[], Mapping[str, int]] | None = None) -> None:
        """What the config in force declares (the constructor's arguments of the same names); a
        --reload swap calls it again: events new to it start at 0, the others keep counting."""
        namespaces = list(namespaces)
        for labels in events:
            if labels not in self._events:
                self._events[labels] = EventStats(labels, self._lock)
        if self._clients is not None:
            self._clients.declared = namespaces
        if presence_counts is not None and self._presence is None:
            self._presence = _NamespaceGauge(
                "presence_members", "Members of presence-tracked rooms connected to this process, "
                "summed over rooms, per namespace", presence_counts, namespaces)
            self.registry.register(self._presence)
        elif self._presence is not None:
            self._presence.declared = namespaces
        groups: dict[Callable, list] = {}
        for spec, options in plugins:
            if spec.metrics is not None:
                groups.setdefault(spec.metrics, []).append(options)
        self._plugins.groups = groups

    def refused(self, namespace: str, rule: str | None) -> None:
        self.connects_refused.labels(namespace, rule or "unknown").inc()

    def recovery(self, namespace: str, outcome: str) -> None:
        """Count a client that asked for its session back: ``recovered``, or why not."""
        self.recoveries.labels(namespace, outcome).inc()

    def step_failed(self, namespace: str, plugin: str) -> None:
        self.steps_failed.labels(namespace, plugin).inc()

    def event_dropped(self, namespace: str, event: str, reason: str = "rate") -> None:
        """Count an event a limit refused; ``event`` must be a declared name (or ``"*"``)."""
        self.events_dropped.labels(namespace, event, reason).inc()

    def event_stats(self, namespace: str, event: str) -> EventStats:
        """The series of a declared event: ``observe(seconds)`` once per event received."""
        return self._events[(namespace, event)]

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)

