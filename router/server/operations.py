"""Attach the operations features to a built app: health and metrics endpoints, Admin UI, graceful stop."""

from __future__ import annotations

from dataclasses import dataclass

from router.config.brokers import scheme_of
from router.http.health import BROKER_TIMEOUT, BrokerProbe, health_blueprint
from router.runtime.metrics import RouterMetrics
from router.server.admin_ui import attach_admin_ui
from router.server.managers import readiness_check
from router.server.shutdown import GracefulStop, RefuseNewSessions

EXTENSION = "socketio_router.operations"


@dataclass
class Operations:
    """What the operations features keep for one app (``operations_of(router)``)."""

    metrics: RouterMetrics
    stop: GracefulStop
    admin_ui: object | None = None  # python-socketio's InstrumentedServer


def install_operations(router) -> Operations:
    """Called once by the loader for each app it builds."""
    server = router.compiled.config.server
    metrics = router.dispatcher.metrics
    # With connection state recovery, clients are told to come back (and recover), never to leave.
    reconnect = server.shutdown_reconnect or server.connection_state_recovery is not None
    stop = GracefulStop(router.socketio, server.shutdown_timeout, reconnect, pings=router.pings)
    broker = None
    if server.message_queue:
        broker = BrokerProbe(scheme_of(server.message_queue),
                             readiness_check(server.message_queue, BROKER_TIMEOUT))
    router.app.register_blueprint(health_blueprint(
        metrics, router.compiled.source.file, lambda: list(router.dispatcher.compiled.namespaces),
        broker, lambda: stop.draining))
    if router.room_store is not None:  # its members leave the cluster's lists now, not after a ttl
        stop.after_goodbyes.append(router.room_store.close)
    router.app.wsgi_app = RefuseNewSessions(router.app.wsgi_app, stop, server.path)
    operations = Operations(metrics, stop)
    if server.admin_ui is not None:
        operations.admin_ui = attach_admin_ui(router.socketio, server.admin_ui)
    router.app.extensions[EXTENSION] = operations
    return operations


def operations_of(router) -> Operations:
    return router.app.extensions[EXTENSION]
