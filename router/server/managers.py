"""The client manager of an app (in-process, or the message-queue manager its URL's broker needs),
and the readiness check /readyz runs on that broker.

Every manager carries the router's hooks (router/upstream/client_manager.py): the
on_connect steps run after the client's connect confirmation, and the rooms guard
(router/runtime/rooms.py) is asked wherever a client enters a room.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import socketio

from router.config.brokers import broker_of
from router.runtime.rooms import RoomsGuard
from router.server.brokers import KombuQueue, RedisQueue
from router.upstream.client_manager import is_client_sid, with_hooks
from router.upstream.connection_recovery import with_recovery

# A broker family of router/config/brokers.py -> its manager. Redis and kombu get the managers of
# router/server/brokers.py, which keep serving local clients while the broker is away.
MANAGERS = {
    "redis": RedisQueue,
    "kafka": socketio.KafkaManager,
    "zmq": socketio.ZmqManager,
    "kombu": KombuQueue,
}


def create_manager(message_queue: str | None, channel: str, write_only: bool = False,
                   recovery: bool = False):
    """The in-process manager, or the manager of ``message_queue``'s broker (as Flask-SocketIO
    chooses: Redis URLs to Redis, anything else through kombu), with the router's hooks and a
    rooms guard that refuses sid rooms; the loader adds the config's rooms policy to the guard.
    With ``recovery``, it can also keep sids and number packets (router/upstream/connection_recovery.py):
    only then, so a config without recovery pays nothing for it."""
    base = socketio.Manager if not message_queue else MANAGERS[broker_of(message_queue).family]
    manager_class = with_hooks(base)
    if recovery:
        manager_class = with_recovery(manager_class)
    if not message_queue:
        manager = manager_class()
    else:
        manager = manager_class(message_queue, channel=channel, write_only=write_only)
    manager.rooms_guard = RoomsGuard(partial(is_client_sid, manager), manager.get_rooms)
    return manager


def readiness_check(message_queue: str, timeout: float) -> Callable[[], None] | None:
    """A call that raises unless ``message_queue``'s broker answers within ``timeout`` seconds,
    made by the same manager class (so with the same URL forms) as :func:`create_manager`'s.
    None for brokers /readyz does not probe (Kafka, ZeroMQ)."""
    broker = broker_of(message_queue)
    if not broker.probed:
        return None
    return MANAGERS[broker.family].readiness_check(message_queue, timeout)
