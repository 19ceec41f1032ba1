"""The loader: a compiled config becomes a Flask app with a SocketIO server and its handlers.

Every YAML event is registered with ``socketio.on_event``, a class namespace with
``socketio.on_namespace`` (router/server/live.py, which a --reload swap uses too), the error
handler with ``on_error_default``: the same calls a hand-written Flask-SocketIO app makes. An
event whose steps need no Flask request context is then called without one
(router/upstream/lean_events.py).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from functools import partial

import socketio as python_socketio
from flask import Flask

from router.compile.compiler import CompiledRouter
from router.http.pages import register_pages
from router.http.publish_api import publish_api
from router.runtime.dispatch import Dispatcher
from router.runtime.library_hooks import LibraryHooks
from router.runtime.timers import TimerRunner
from router.server.flask_app import RouterFlask
from router.server.live import Registered, register_handlers
from router.server.managers import create_manager
from router.server.middleware import DeclineWebSocketCompression
from router.server.operations import install_operations
from router.server.recovery_store import install_recovery
from router.server.shared_rooms import shared_room_store
from router.upstream import handler_calls
from router.upstream.client_manager import client_counts, is_client_sid
from router.upstream.engineio_cors import allow_own_origin
from router.upstream.lean_events import LeanSocketIO
from router.upstream.packets import CheckedPacket, guard_packets
from router.upstream.outbound_queues import OutboundLimits
from router.upstream.outbound_queues import install as bound_outbound_queues
from router.upstream.pings import PingScheduler, works_with_admin_ui
from router.upstream.websocket_frames import Intake
from router.upstream.websocket_frames import install as install_websocket

log = logging.getLogger("socketio_router")


class UnknownNamespace(python_socketio.Namespace):
    """Refuses namespaces the YAML does not declare, as the reference Node server does.

    ``trigger_event`` is python-socketio's documented override point of a class namespace.
    """

    def trigger_event(self, event, *args):
        if event == "connect":
            raise python_socketio.exceptions.ConnectionRefusedError("Invalid namespace")
        return handler_calls.not_handled(self.server)


@dataclass
class RouterApp:
    """What a config serves: the Flask app, its SocketIO object and the dispatcher.

    ``compiled`` and ``timers`` are those in force: a --reload swap (router/server/live.py)
    replaces them."""

    app: Flask
    socketio: LeanSocketIO
    dispatcher: Dispatcher
    compiled: CompiledRouter
    timers: TimerRunner | None = None  # started by the CLI with the server, not by create_app
    pings: PingScheduler | None = None  # None: python-engineio's own ping task per socket
    room_store: object | None = None  # router/server/shared_rooms.py RedisRooms, in a Redis cluster
    registered: Registered | None = None  # the handlers registered, for a --reload swap (live.py)


def create_app(compiled: CompiledRouter) -> RouterApp:
    server = compiled.config.server
    app = RouterFlask("socketio_router")
    # A random key per process is fine for Socket.IO sessions; set one to share Flask sessions.
    app.config["SECRET_KEY"] = server.secret_key or secrets.token_hex(32)
    manager = create_manager(server.message_queue, server.channel,
                             recovery=server.connection_state_recovery is not None)
    options = dict(
        async_mode=server.async_mode,
        cors_allowed_origins=server.cors_allowed_origins,
        cors_credentials=server.cors_credentials,
        ping_interval=server.ping_interval,
        ping_timeout=server.ping_timeout,
        max_http_buffer_size=server.max_http_buffer_size,
        logger=server.logger,
        engineio_logger=server.engineio_logger,
        async_handlers=server.async_handlers,
        path=server.path,
        namespaces="*",  # undeclared namespaces reach UnknownNamespace and are refused by name
        client_manager=manager,
        serializer=CheckedPacket,  # malformed packets close their connection (router/upstream/packets.py)
    )
    if server.transports:
        options["transports"] = server.transports
    socketio = LeanSocketIO(app, **options)
    guard_packets(socketio.server)
    # Frames at C speed, oversized ones refused on their header, each client's reads metered.
    install_websocket(socketio.server.eio, Intake(server.max_client_bytes_per_second,
                                                  server.client_burst_bytes))
    if not server.websocket_compression:  # outermost, so the WebSocket server never sees the offer
        app.wsgi_app = DeclineWebSocketCompression(app.wsgi_app)
    hooks = LibraryHooks(
        client_counts=partial(client_counts, manager),
        event_context=handler_calls.event_context,
        is_handshake_connect=handler_calls.is_handshake_connect,
        client_is_leaving=partial(handler_calls.client_is_leaving, manager),
        is_client_sid=partial(is_client_sid, manager))
    # Presence and history of the whole cluster in Redis, with a Redis message queue.
    room_store = shared_room_store(compiled, manager, socketio.server)
    dispatcher = Dispatcher(compiled, socketio, hooks, room_store)
    bound_outbound_queues(socketio.server.eio, outbound_limits(server, dispatcher.metrics))
    install_recovery(compiled, socketio.server, dispatcher)  # connection state recovery, if on
    manager.after_connect = dispatcher.after_connect
    manager.rooms_guard.rooms_policy = dispatcher.rooms_policy
    manager.room_watch = dispatcher.presence  # None: no room is tracked, nothing to tell
    if room_store is not None:
        room_store.presence = dispatcher.presence

    registered = Registered()
    register_handlers(socketio, dispatcher, compiled, registered)  # router/server/live.py
    socketio.on_error_default(dispatcher.error_handler())
    socketio.server.register_namespace(UnknownNamespace("*"))
    # The pages and the publish API read the config in force from the dispatcher.
    if register_pages(app, socketio, dispatcher):  # the demo page and the console, if the config asks
        allow_own_origin(socketio.server.eio)
    app.register_blueprint(publish_api(socketio, dispatcher))
    router = RouterApp(app, socketio, dispatcher, compiled, timers=TimerRunner(compiled.timers, socketio),
                       room_store=room_store, registered=registered)
    if works_with_admin_ui(server.admin_ui.mode if server.admin_ui is not None else None):
        router.pings = PingScheduler(socketio.server.eio)
    install_operations(router)  # /healthz, /readyz, /metrics, Admin UI, graceful stop
    if router.pings is not None:
        router.pings.install()  # after the Admin UI, which replaces the Engine.IO connect handler
    return router


def outbound_limits(server, metrics) -> OutboundLimits:
    """The caps of every client's outgoing queue; a slow consumer is logged and counted."""

    def on_slow(eio_sid: str, queued_bytes: int, queued_messages: int) -> None:
        metrics.slow_consumers.inc()
        # The disconnect lines that follow name its Socket.IO sids, with the reason "slow consumer".
        log.warning("disconnecting a slow consumer (Engine.IO session %s): %s bytes in %s messages "
                    "wait to be sent to it (server.max_queued_bytes_per_client: %s, "
                    "max_queued_messages_per_client: %s)",
                    eio_sid, f"{queued_bytes:,}", f"{queued_messages:,}",
                    server.max_queued_bytes_per_client, server.max_queued_messages_per_client)

    return OutboundLimits(server.max_queued_bytes_per_client, server.max_queued_messages_per_client,
                          on_slow=on_slow, on_volatile_dropped=metrics.volatile_dropped.inc)
