"""python-socketio's Redis and kombu managers: the private helpers that build their broker clients.

router/server/brokers.py subclasses RedisManager and KombuManager to publish
from an outbox and reconnect on its own schedule. It implements ``_publish`` and
``_listen``, which PubSubManager declares as the methods a subclass provides (an
extension point, not an override: listed below so an update that reshapes them
fails here too), and it builds its connections with the managers' own helpers,
so a URL means the same to the router as to python-socketio: Sentinel, unix
sockets, Valkey, ``redis_options``, kombu's ``connection_options``. Those helpers
are private; this module is where they are called.

| module | name | why |
|---|---|---|
| socketio.pubsub_manager | ``PubSubManager._publish``, ``._listen`` (declared extension points) | the outbox and the capped reconnection |
| socketio.pubsub_manager | ``PubSubManager._handle_emit(message)`` | a message marked volatile by a process is delivered volatile by the others (router/delivery.py) |
| socketio.pubsub_manager | ``PubSubManager.channel``, ``.write_only``, ``.json``, ``.server`` | what every pub/sub subclass reads |
| socketio.redis_manager | ``RedisManager._redis_connect``, ``.redis``, ``.pubsub`` | a Redis client per connection, built as python-socketio builds it |
| socketio.kombu_manager | ``KombuManager._connection``, ``._exchange``, ``._queue`` | kombu connections, exchange and queue as python-socketio declares them |
| socketio.kombu_manager | ``KombuManager.publisher_connection``, ``.producer_options`` | replace the publishing connection after a failure |

tested with: python-socketio 5.18.1
"""

from __future__ import annotations

from router.upstream._contract import Needs, Seam

SEAM = Seam("pub/sub managers", {"python-socketio": "5.18.1"}, requires=[
    Needs("socketio.pubsub_manager", "PubSubManager._publish", ("self", "data"), exact=True),
    Needs("socketio.pubsub_manager", "PubSubManager._listen", ("self",), exact=True),
    Needs("socketio.pubsub_manager", "PubSubManager.initialize", ("self",), exact=True),
    Needs("socketio.pubsub_manager", "PubSubManager._handle_emit", ("self", "message"), exact=True),
    Needs("socketio.pubsub_manager", "PubSubManager", ("channel", "write_only", "logger"),
          attributes=("channel", "write_only", "json", "server")),
    Needs("socketio.redis_manager", "RedisManager", ("url", "channel", "write_only", "logger", "redis_options"),
          attributes=("redis", "pubsub")),
    Needs("socketio.redis_manager", "RedisManager._redis_connect", ("self",), exact=True),
    Needs("socketio.kombu_manager", "KombuManager", ("url", "channel", "write_only", "logger",
                                                     "connection_options", "queue_options", "producer_options"),
          attributes=("publisher_connection", "producer_options")),
    *(Needs("socketio.kombu_manager", f"KombuManager.{name}", ("self",), exact=True)
      for name in ("_connection", "_exchange", "_queue")),
])


def redis_client(manager):
    """A new Redis client for a RedisManager's URL, built by python-socketio; the caller owns it.

    The manager keeps no reference: a Redis client closes its connections when
    collected, and python-socketio's one shared ``manager.redis`` let a publisher's
    reconnect close the listener's subscription.
    """
    manager._redis_connect()
    client, manager.redis, manager.pubsub = manager.redis, None, None
    return client


def kombu_connection(manager):
    """A new (not yet connected) kombu connection to a KombuManager's URL, with its options."""
    return manager._connection()


def kombu_queue(manager):
    """This process's queue on the manager's exchange, declared as python-socketio declares it."""
    return manager._queue()


def kombu_producer(manager, connection):
    """A producer on the manager's exchange, over ``connection``."""
    return connection.Producer(exchange=manager._exchange(), **manager.producer_options)


def publisher_connection(manager):
    return manager.publisher_connection


def replace_publisher_connection(manager):
    """Give the manager a new publishing connection; returns the old one, for the caller to release."""
    old, manager.publisher_connection = manager.publisher_connection, manager._connection()
    return old
