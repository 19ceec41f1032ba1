"""Calls from the router to an application's backend over HTTP, for the ``http`` step and rule.

One pooled client per process (urllib3: pure-Python sockets, so under eventlet and
gevent a call waits in the hub like any other socket and never blocks it; keep-alive
connections are reused). Each configured step or rule has its own :class:`Backend`:
its limit of calls in flight, its counts and latencies for ``/metrics``, and its log,
one warning per failure burst instead of one per message.

The transport can be swapped (:func:`using_transport`): the scenario runner answers
calls from the scenario's ``backend:`` instead of the network.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

log = logging.getLogger("socketio_router")

MAX_ANSWER_BYTES = 10 * 1024 * 1024  # an answer above this is refused, not buffered
POOL_SIZE = 128  # keep-alive connections kept per backend host
OUTCOMES = ("ok", "rejected", "server_error", "bad_answer", "timeout", "connection_error", "busy")
ANSWERED = frozenset({"ok", "rejected"})  # the backend did its job, whatever it said
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BURST_REPORT_SECONDS = 60.0  # during a burst of failures, one warning a minute
TIMESTAMP_HEADER = "X-Router-Timestamp"
SIGNATURE_HEADER = "X-Router-Signature"


@dataclass(frozen=True)
class Answer:
    """What the backend answered: the status, the headers (names in lower case), the body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed, when the answer says it is JSON; None otherwise or if it is not."""
        if "json" not in self.headers.get("content-type", "") or not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Unreachable(Exception):
    """No usable answer. ``outcome`` is one of OUTCOMES; the message is for the log only."""

    def __init__(self, outcome: str, detail: str):
        super().__init__(detail)
        self.outcome = outcome


class Transport(Protocol):
    def send(self, method: str, url: str, headers: dict, body: bytes, timeout: float) -> Answer:
        """The backend's answer, or :class:`Unreachable`."""


class PooledTransport:
    """urllib3's PoolManager, made on first use: after ``serve`` has monkey-patched."""

    def __init__(self):
        self._pool = None

    def send(self, method: str, url: str, headers: dict, body: bytes, timeout: float) -> Answer:
        import urllib3  # on use: `check` of a config without http steps does not load it

        if self._pool is None:
            self._pool = urllib3.PoolManager(num_pools=64, maxsize=POOL_SIZE, block=False)
        try:
            # No retries: a POST that reached the backend must not be sent twice. No redirects:
            # the host is the config's, never one an answer names.
            response = self._pool.request(method, url, body=body or None, headers=headers,
                                          timeout=urllib3.Timeout(total=timeout), retries=False,
                                          redirect=False, preload_content=False)
            try:
                data = response.read(MAX_ANSWER_BYTES + 1)
                if len(data) > MAX_ANSWER_BYTES:
                    response.close()  # the rest stays unread: this connection is not reused
                    raise Unreachable("bad_answer", f"answered more than {MAX_ANSWER_BYTES} bytes")
            finally:
                response.release_conn()
        except urllib3.exceptions.NewConnectionError as exc:  # before TimeoutError: it subclasses it
            raise Unreachable("connection_error", f"cannot connect ({_reason(exc)})") from None
        except urllib3.exceptions.TimeoutError:
            raise Unreachable("timeout", f"no answer (timeout {timeout:g} s)") from None
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable("connection_error", f"{type(exc).__name__}: {exc}") from None
        headers = {name.lower(): value for name, value in response.headers.items()}
        return Answer(response.status, headers, data)


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text  # drop urllib3's "HTTPConnection(...)"


_transport: Transport = PooledTransport()


@contextmanager
def using_transport(transport: Transport) -> Iterator[None]:
    """Send every backend call of this process through ``transport`` while the block runs."""
    global _transport
    saved, _transport = _transport, transport
    try:
        yield
    finally:
        _transport = saved


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``timestamp + "." + body`` under ``secret``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def json_body(value: Any) -> bytes:
    """``value`` as compact JSON; a ValueError or TypeError for what JSON cannot hold."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


class Backend:
    """The calls of one configured step or rule: their limit, counts, latencies and log.

    ``where`` names the step in the log (its YAML path); ``labels`` are its metric labels.
    The counters are process-wide for this step, whatever client or thread calls.
    """

    def __init__(self, where: str, labels: tuple[str, ...], timeout: float,
                 secret: str | None = None, max_in_flight: int | None = None):
        self.where = where
        self.labels = labels
        self.timeout = timeout
        self.secret = secret
        self.max_in_flight = max_in_flight
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total_seconds = 0.0
        self._in_flight = 0
        self._lock = threading.Lock()  # held for a few additions: no switch happens under it
        self._failures = 0             # in the current burst
        self._reported = 0             # failures of the burst already in the log
        self._reported_at = 0.0

    def call(self, method: str, url: str, headers: dict, body: bytes) -> tuple[Answer, float]:
        """Send one request (signed if the step has a secret); the answer and its seconds.

        Raises :class:`Unreachable` (counted and logged) when there is no answer, and
        ``busy`` at once when ``max_in_flight`` calls of this step are under way.
        The caller judges the answer and reports it with :meth:`record`.
        """
        headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
        if self.secret is not None:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(self.secret, timestamp, body)
        if self.max_in_flight is not None and not self._enter():
            self.record("busy", None, f"{self.max_in_flight} calls already in flight (max_in_flight), "
                                      f"refused at once", method, url)
            raise Unreachable("busy", "max_in_flight reached")
        started = time.perf_counter()
        try:
            answer = _transport.send(method, url, headers, body, self.timeout)
        except Unreachable as exc:
            self.record(exc.outcome, time.perf_counter() - started, str(exc), method, url)
            raise
        finally:
            if self.max_in_flight is not None:
                with self._lock:
                    self._in_flight -= 1
        return answer, time.perf_counter() - started

    def _enter(self) -> bool:
        with self._lock:
            if self._in_flight >= self.max_in_flight:
                return False
            self._in_flight += 1
            return True

    def record(self, outcome: str, seconds: float | None, detail: str = "", method: str = "",
               url: str = "") -> None:
        """Count one call; log it if it starts (or, a minute on, continues) a failure burst.

        ``ok`` and ``rejected`` (the backend said no, as it may) are answers, not failures:
        the first of them after a burst logs that the backend is back.
        """
        answered = outcome in ANSWERED
        with self._lock:
            self.counts[outcome] += 1
            if seconds is not None:
                self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
                self.total_seconds += seconds
            if answered:
                recovered, self._failures, self._reported = self._failures, 0, 0
            else:
                self._failures += 1
                now = time.monotonic()
                unreported = self._failures - self._reported - 1  # since the last report
                due = self._failures == 1 or now - self._reported_at >= BURST_REPORT_SECONDS
                if due:
                    self._reported, self._reported_at = self._failures, now
        if answered:
            if recovered:
                log.info("backend of %s answers again, after %d failed call(s)", self.where, recovered)
            return
        took = f" after {seconds * 1000:.0f} ms" if seconds is not None else ""
        more = f" ({unreported} more failed call(s) since the last report)" if due and unreported else ""
        (log.warning if due else log.debug)("backend of %s: %s %s: %s%s%s", self.where, method, url,
                                            detail, took, more)

    def snapshot(self) -> tuple[dict[str, int], list[int], float]:
        with self._lock:
            return dict(self.counts), list(self.buckets), self.total_seconds


def backend_metrics(backends: list[Backend]) -> Iterator[Any]:
    """``backend_calls_total{namespace, step, outcome}`` and ``backend_seconds{namespace, step}``."""
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
    from prometheus_client.utils import floatToGoString

    calls = CounterMetricFamily("socketio_router_backend_calls",
                                "Calls of http steps and rules to their backend, per step and "
                                "outcome", labels=["namespace", "step", "outcome"])
    latency = HistogramMetricFamily("socketio_router_backend_seconds",
                                    "Time until the backend answered, per step",
                                    labels=["namespace", "step"])
    bounds = [floatToGoString(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]
    for backend in backends:
        counts, buckets, total_seconds = backend.snapshot()
        for outcome in OUTCOMES:
            calls.add_metric([*backend.labels, outcome], counts[outcome])
        cumulative, running = [], 0
        for bound, count in zip(bounds, buckets):
            running += count
            cumulative.append((bound, running))
        latency.add_metric(list(backend.labels), cumulative, total_seconds)
    yield calls
    yield latency
