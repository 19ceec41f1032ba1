"""Message-queue client managers that outlive their broker, and the readiness check of a broker.

(The URL is checked, and its broker chosen, in router/config/brokers.py; the managers'
private connection helpers are called in router/upstream/pubsub.py.)

python-socketio's RedisManager and KombuManager carry Flask-SocketIO's
``message_queue``; they already deliver emits, room closes and disconnects to every
process. What changes here, and why:

- Publishing never blocks a handler. python-socketio publishes inline: with the
  broker gone, redis-py spends its connect timeout (5 s) per attempt and kombu's
  ``ensure`` retries forever, so the event that emitted (and its ack) stalls.
  Here a message for the other processes goes into a bounded outbox that one
  sender task drains; local clients are served before it is even queued.
- While the broker is unreachable, messages for other processes are dropped and
  counted, not buffered: nothing stale is replayed when it returns (Socket.IO
  delivery is at most once anyway).
- Reconnecting waits at most RECONNECT_MAX_DELAY seconds between attempts
  (python-socketio doubles its wait up to 60 s), so cross-process delivery resumes
  within seconds of the broker's return; each outage is logged once when it starts
  and once when it ends, with the number of messages lost, not once per message.

A write-only manager (the ``emit`` command) publishes at once and raises on failure.

A volatile emit (router/delivery.py) is marked in the message it publishes, so the other
processes deliver it volatile too; a process that does not know the mark ignores it.

``_publish`` and ``_listen`` are python-socketio's declared extension points for a
pub/sub manager (PubSubManager's docstring: subclasses implement them), not overrides.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import socketio

from router.config.brokers import redact
from router.delivery import sends_are_volatile, volatile_sends
from router.upstream import pubsub
from router.upstream.outbound_queues import unbounded_queue

log = logging.getLogger("socketio_router.message_queue")

OUTBOX_LIMIT = 10_000          # messages waiting for the sender; beyond that they are dropped
RECONNECT_MIN_DELAY = 0.5      # seconds before the listener's first reconnection attempt
RECONNECT_MAX_DELAY = 5.0      # and the most it ever waits between two attempts
PUBLISH_RETRY_DELAY = 1.0      # while publishing fails, one attempt per this many seconds
SUBSCRIBE_TIMEOUT = 10.0       # how long a broker may take to confirm a subscription



class LinkStatus:
    """Whether this process can publish to and receive from its broker, and what was lost."""

    def __init__(self, url: str, channel: str):
        self.url = url
        self.channel = channel
        self.publishing = True      # until a publish fails
        self.receiving = False      # until the listener has subscribed
        self.ever_received = False
        self.publish_down_since: float | None = None
        self.receive_down_since: float | None = None
        self.dropped = 0            # messages for other processes lost in the current outage
        self.dropped_total = 0
        self.subscriptions = 0      # successful subscriptions, the first one included

    def drop(self) -> None:
        self.dropped += 1
        self.dropped_total += 1

    def publish_failed(self, exc: BaseException) -> None:
        if self.publishing:
            self.publishing = False
            self.publish_down_since = time.monotonic()
            log.error("message queue %s: cannot publish (%s); messages for other processes are "
                      "dropped until it is back, local clients are still served", self.url, _why(exc))

    def published(self) -> None:
        if not self.publishing:
            self.publishing = True
            down = time.monotonic() - (self.publish_down_since or time.monotonic())
            log.warning("message queue %s: publishing again after %.1f s; %d message(s) for other "
                        "processes were dropped meanwhile", self.url, down, self.dropped)
            self.dropped = 0

    def receive_failed(self, exc: BaseException) -> None:
        if self.receiving or self.receive_down_since is None:
            self.receiving = False
            self.receive_down_since = time.monotonic()
            log.error("message queue %s: cannot receive from channel %r (%s); reconnecting, every "
                      "%g s at most", self.url, self.channel, _why(exc), RECONNECT_MAX_DELAY)
        else:
            log.debug("message queue %s: still unreachable (%s)", self.url, _why(exc))

    def subscribed(self) -> None:
        self.receiving = True
        if self.ever_received:
            down = time.monotonic() - (self.receive_down_since or time.monotonic())
            log.warning("message queue %s: subscribed again to channel %r after %.1f s",
                        self.url, self.channel, down)
        else:
            log.info("message queue %s: subscribed to channel %r", self.url, self.channel)
        self.ever_received = True
        self.subscriptions += 1
        self.receive_down_since = None


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class BrokerLink:
    """Mixin over a python-socketio PubSubManager: outbox, sender task, capped reconnection.

    A subclass provides ``_publish_now(data)`` (raise on failure) and ``_receive()``
    (a generator: subscribe, call ``self._on_subscribed()``, then yield raw messages
    until the connection fails).
    """

    def __init__(self, url: str, *args, **kwargs):
        kwargs.setdefault("logger", log)
        super().__init__(url, *args, **kwargs)
        self.status = LinkStatus(redact(url), self.channel)
        self._outbox = None
        self._outbox_lock = threading.Lock()  # green under eventlet and gevent: they patch threading
        self._overflows = 0
        self._retry_publish_at = 0.0

    def initialize(self):
        super().initialize()
        self._start_sender()

    def _start_sender(self) -> None:
        if self._outbox is not None or self.write_only:
            return
        with self._outbox_lock:  # threading mode: two first publishes must not start two senders
            if self._outbox is None:
                outbox = unbounded_queue(self.server.eio)
                self.server.start_background_task(self._send_loop, outbox)
                self._outbox = outbox

    def _publish(self, data):
        if sends_are_volatile() and isinstance(data, dict) and data.get("method") == "emit":
            data["volatile"] = True  # the other processes drop it for their clients that are behind
        if self.write_only:
            return self._publish_now(data)
        self._start_sender()
        if self._outbox.qsize() >= OUTBOX_LIMIT:
            self.status.drop()
            self._overflows += 1
            if self._overflows % 1000 == 1:
                log.error("message queue %s: %d messages wait to be published; dropping messages "
                          "for other processes (%d so far)", self.status.url, OUTBOX_LIMIT,
                          self._overflows)
            return None
        self._outbox.put(data)
        return None

    def _handle_emit(self, message):
        if message.get("volatile"):
            with volatile_sends():
                return super()._handle_emit(message)
        return super()._handle_emit(message)

    def _send_loop(self, outbox) -> None:
        while True:
            data = outbox.get()
            try:
                self._send(data)
            except Exception:  # the sender must outlive any single message
                log.exception("message queue %s: sender failed on a message", self.status.url)

    def _send(self, data) -> None:
        if not self.status.publishing and time.monotonic() < self._retry_publish_at:
            self.status.drop()
            return
        try:
            self._publish_now(data)
        except Exception as exc:
            self.status.drop()
            self._publisher_failed()
            self._retry_publish_at = time.monotonic() + PUBLISH_RETRY_DELAY
            self.status.publish_failed(exc)
        else:
            self.status.published()

    def _listen(self):
        delay = RECONNECT_MIN_DELAY
        while True:
            subscriptions = self.status.subscriptions
            try:
                yield from self._receive()
            except Exception as exc:
                self.status.receive_failed(exc)
            else:  # a receiver only returns when its connection ended without an error
                self.status.receive_failed(ConnectionError("the broker ended the subscription"))
            if self.status.subscriptions > subscriptions:
                delay = RECONNECT_MIN_DELAY  # it was working: the first retry comes soon
            self.server.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY)

    def _on_subscribed(self) -> None:
        self.status.subscribed()
        self._retry_publish_at = 0.0  # the broker is back: the next message is tried, not dropped

    def _publisher_failed(self) -> None:
        """Forget the publishing connection after a failure; the next attempt makes a new one."""


class RedisQueue(BrokerLink, socketio.RedisManager):
    """Redis pub/sub (``redis://``, ``rediss://``, Sentinel), through python-socketio's RedisManager."""

    shared_rooms = None  # router/server/shared_rooms.py: started with the manager, when the config has one

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._publisher = None
        self.last_receivers: int | None = None  # how many processes got the last publish

    def initialize(self):
        super().initialize()
        if self.shared_rooms is not None and not self.write_only:
            self.shared_rooms.start(self.server)

    def _publish_now(self, data):
        if self._publisher is None:
            self._publisher = pubsub.redis_client(self)
        self.last_receivers = self._publisher.publish(self.channel, self.json.dumps(data))
        return self.last_receivers

    def _publisher_failed(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            try:
                publisher.close()
            except Exception:
                pass

    def _receive(self):
        client = pubsub.redis_client(self)
        subscription = client.pubsub()
        try:
            subscription.subscribe(self.channel)
            # Subscribed once Redis says so: a message published before that would be missed.
            confirmation = subscription.get_message(timeout=SUBSCRIBE_TIMEOUT)
            if not confirmation or confirmation.get("type") != "subscribe":
                raise ConnectionError(f"no subscription confirmation within {SUBSCRIBE_TIMEOUT} s")
            self._on_subscribed()
            channel = self.channel.encode("utf-8")
            for message in subscription.listen():
                if message.get("channel") == channel and message.get("type") == "message":
                    yield message["data"]
        finally:
            try:
                subscription.close()
                client.close()
            except Exception:
                pass

    def close(self) -> None:
        """Close the publishing connection (for the write-only ``emit`` command)."""
        self._publisher_failed()

    @classmethod
    def readiness_check(cls, url: str, timeout: float) -> Callable[[], None]:
        """A call that raises unless Redis at ``url`` answers within ``timeout`` seconds, made
        by a write-only manager of its own (so with the same URL forms the managers accept)."""
        return cls(url, write_only=True,
                   redis_options={"socket_connect_timeout": timeout, "socket_timeout": timeout}).ping

    def ping(self) -> None:
        """Ask the broker whether it answers, on a connection of its own; raise if it does not."""
        client = pubsub.redis_client(self)
        try:
            client.ping()
        finally:
            client.close()


def redis_client_for(url: str, timeout: float):
    """A Redis client for a message queue URL (Sentinel, unix sockets and Valkey included), built
    as python-socketio builds its own, that waits at most ``timeout`` seconds on any call."""
    manager = RedisQueue(url, write_only=True,
                         redis_options={"socket_connect_timeout": timeout, "socket_timeout": timeout})
    return pubsub.redis_client(manager)


class KombuQueue(BrokerLink, socketio.KombuManager):
    """AMQP (RabbitMQ) and kombu's other transports, through python-socketio's KombuManager."""

    def __init__(self, *args, **kwargs):
        # Each process reads its own queue; auto_delete removes it with the process's connection
        # instead of letting it collect the whole cluster's traffic for x-expires (5 min).
        kwargs.setdefault("queue_options", {"auto_delete": True})
        super().__init__(*args, **kwargs)
        self._producer = None

    def _publish_now(self, data):
        if self._producer is None:
            connection = pubsub.publisher_connection(self)
            _connect_once(connection)
            self._producer = pubsub.kombu_producer(self, connection)
        self._producer.publish(self.json.dumps(data))

    def _publisher_failed(self) -> None:
        self._producer = None
        old = pubsub.replace_publisher_connection(self)
        try:
            old.release()
        except Exception:
            pass

    def _receive(self):
        with pubsub.kombu_connection(self) as connection:
            _connect_once(connection)
            with connection.SimpleQueue(pubsub.kombu_queue(self)) as queue:
                self._on_subscribed()
                while True:
                    message = queue.get(block=True)
                    message.ack()
                    yield message.payload

    def close(self) -> None:
        """Close the publishing connection (for the write-only ``emit`` command)."""
        self._producer = None
        pubsub.publisher_connection(self).release()

    @classmethod
    def readiness_check(cls, url: str, timeout: float) -> Callable[[], None]:
        """A call that raises unless the broker at ``url`` accepts a connection within ``timeout``
        seconds, made by a write-only manager of its own."""
        return cls(url, write_only=True, connection_options={"connect_timeout": timeout}).ping

    def ping(self) -> None:
        """Connect to the broker once, on a connection of its own; raise if that fails."""
        with pubsub.kombu_connection(self) as connection:
            _connect_once(connection)


def _connect_once(connection) -> None:
    # One attempt within connect_timeout: kombu's connect() retries after 2 s, ensure() forever.
    connection.ensure_connection(max_retries=0)

