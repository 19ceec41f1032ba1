"""The operations endpoints: ``GET /healthz``, ``GET /readyz`` and ``GET /metrics``, as a Flask blueprint.

``/healthz`` answers while the process serves HTTP at all. ``/readyz`` answers
200 once the config is loaded, the server is not shutting down and, when
``server.message_queue`` is set, the broker answers; otherwise 503 with the
reason, so a load balancer stops sending clients before they would fail.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from flask import Blueprint, Response, jsonify

from router.runtime.metrics import RouterMetrics

BROKER_TIMEOUT = 1.0  # seconds; a probe must answer faster than the load balancer gives up
BROKER_CACHE = 1.0    # seconds; /readyz is public, so a flood of probes cannot flood the broker


class BrokerProbe:
    """Whether the message queue answers, cached for :data:`BROKER_CACHE` seconds.

    ``check()`` raises unless the broker answers; the server builds it with the
    managers' own client construction (router/server/managers.py), so /readyz probes
    every URL form the managers accept. None: a broker that is not probed.
    """

    def __init__(self, scheme: str, check: Callable[[], None] | None):
        self.scheme = scheme or "?"
        self.check_broker = check
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._result: tuple[bool, str] = (False, "not checked yet")

    def check(self) -> tuple[bool, str]:
        with self._lock:
            if time.monotonic() - self._checked_at > BROKER_CACHE:
                self._result = self._probe()
                self._checked_at = time.monotonic()
            return self._result

    def _probe(self) -> tuple[bool, str]:
        if self.check_broker is None:
            return True, f"{self.scheme} (not probed)"
        try:
            self.check_broker()
        except Exception as exc:  # any failure means "not ready"; the reason goes to the probe
            return False, f"{self.scheme} unreachable: {type(exc).__name__}: {exc}"
        return True, f"{self.scheme} reachable"


def health_blueprint(metrics: RouterMetrics, config_file: str, namespaces: Callable[[], list[str]],
                     broker: BrokerProbe | None, draining: Callable[[], bool]) -> Blueprint:
    """The three endpoints for one app; ``namespaces()`` names those served now (a --reload swap
    changes them), ``draining()`` says whether a shutdown has begun, and ``broker`` is the
    message queue's probe (None without one)."""
    blueprint = Blueprint("socketio_router_health", __name__)

    @blueprint.get("/healthz")
    def healthz():
        return jsonify(status="alive")

    @blueprint.get("/readyz")
    def readyz():
        body = {"config": config_file, "namespaces": namespaces()}
        ready = True
        if draining():
            ready = False
            body["shutdown"] = "in progress"
        if broker is not None:
            reachable, detail = broker.check()
            body["broker"] = detail
            ready = ready and reachable
        body["status"] = "ready" if ready else "not ready"
        return jsonify(body), 200 if ready else 503

    @blueprint.get("/metrics")
    def prometheus():
        from prometheus_client import exposition

        # The 0.0.4 text format is read by every Prometheus version; with our ASCII names
        # its body is the same as 1.0.0's, which older servers do not know.
        content_type = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", exposition.CONTENT_TYPE_LATEST)
        return Response(metrics.exposition(), content_type=content_type)

    return blueprint
