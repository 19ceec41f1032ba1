"""Client managers that report when a connection is accepted.

python-socketio sends the CONNECT packet and then calls ``manager.connect``. A hook
there lets on_connect steps emit *after* the client's connect confirmation; a
hand-written app that emits inside its connect handler sends before it.
"""

from __future__ import annotations

import logging
from typing import Callable

import socketio

from router.config.brokers import REDIS_SCHEMES, scheme_of
from router.runtime.rooms import RoomsGuardMixin
from router.server.brokers import KombuQueue, RedisQueue

log = logging.getLogger("socketio_router")


class AfterConnectMixin:
    """Calls ``after_connect(sid, namespace)`` once a client is fully connected."""

    after_connect: Callable[[str, str], None] | None = None

    def connect(self, sid, namespace):
        sid = super().connect(sid, namespace)
        if self.after_connect is not None and sid is not None:
            try:
                self.after_connect(sid, namespace)
            except Exception:  # a hook must never break python-socketio's connect handling
                log.exception("on_connect hook failed for %s on %s", sid, namespace)
        return sid


def _with_hook(base: type) -> type:
    return type(base.__name__, (AfterConnectMixin, RoomsGuardMixin, base), {})


def create_manager(message_queue: str | None, channel: str, write_only: bool = False):
    """The in-process manager, or a message-queue manager chosen by URL scheme as
    Flask-SocketIO does (Redis URLs to Redis, anything else through kombu).

    Redis and kombu get the managers of router/message_queue.py, which keep serving
    local clients while the broker is away."""
    if not message_queue:
        return _with_hook(socketio.Manager)()
    if scheme_of(message_queue) in REDIS_SCHEMES:
        base = RedisQueue
    elif message_queue.startswith("kafka://"):
        base = socketio.KafkaManager
    elif message_queue.startswith("zmq"):
        base = socketio.ZmqManager
    else:
        base = KombuQueue
    return _with_hook(base)(message_queue, channel=channel, write_only=write_only)
