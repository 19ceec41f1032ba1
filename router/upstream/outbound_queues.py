"""Engine.IO's outgoing queue per client, bounded: a client that stops reading is disconnected as
a slow consumer, and a volatile send skips a client that is behind.

python-engineio queues every packet for a client in ``Socket.queue`` and never bounds it: a
client in a busy room that stops reading keeps everything sent to it in the server's memory
until its ping timeout, 45 s later by default, and a fast room fills gigabytes by then. Here
each server's queues count the bytes and packets waiting in them. A put that would go past
``max_bytes`` or ``max_messages`` while packets are waiting refuses the packet and, once per
client, closes its session with the reason ``slow consumer``: its queue is emptied, its
WebSocket shut (a writer blocked on the full TCP window wakes up) and its memory released.
A packet that finds its queue empty is always taken, so one message larger than the cap
still reaches a client that keeps up. A volatile send (router/delivery.py) is dropped for a
client whose queue is not empty, as Node socket.io drops it for a transport that is not
writable.

Packets are counted by ``len(packet.data)``: bytes for binary, characters for text (the same
for the ASCII of JSON; a message of other scripts weighs up to 4 times more on the wire).
Engine.IO's writer takes every waiting packet out of the queue at once before it writes them,
so a client blocked mid-write holds at most one such batch besides its queue: at most twice
the cap.

| module | name | why |
|---|---|---|
| engineio.base_server | ``BaseServer._async["queue"]`` | the class ``create_queue()`` builds; :func:`install` puts ours there, per server |
| engineio.base_socket | ``BaseSocket.queue`` (made by ``server.create_queue()``) | a socket's outgoing queue |
| engineio.socket | ``Socket.send`` -> ``queue.put(pkt)``; ``Socket.poll`` -> ``queue.get``, ``task_done`` | the only producer and consumer: both through ``put`` and ``get`` |
| engineio.socket | ``Socket.close(wait, abort, reason)`` | end a slow consumer's session without a CLOSE it would never read |
| engineio.base_server | ``BaseServer.sockets``; ``start_background_task``, ``get_queue_empty_exception`` (documented) | find the session of a queue; close it outside the sender's call; empty it |
| engineio.packet | ``Packet.data`` | what a packet weighs |

tested with: python-engineio 4.15.1
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from router.delivery import sends_are_volatile
from router.upstream._contract import Needs, Seam

SEAM = Seam("outbound queues", {"python-engineio": "4.15.1"}, requires=[
    Needs("engineio.base_server", "BaseServer", attributes=("_async", "sockets", "async_mode")),
    Needs("engineio.base_server", "BaseServer.create_queue"),
    Needs("engineio.base_server", "BaseServer.get_queue_empty_exception"),
    Needs("engineio.server", "Server.start_background_task", ("target",)),
    Needs("engineio.base_socket", "BaseSocket", attributes=("queue", "sid", "closed")),
    Needs("engineio.socket", "Socket.send", ("pkt",)),
    Needs("engineio.socket", "Socket.poll", ("self",), exact=True),
    Needs("engineio.socket", "Socket.close", ("wait", "abort", "reason")),
    Needs("engineio.packet", "Packet", ("packet_type", "data"), attributes=("data",)),
])

log = logging.getLogger("socketio_router")

SLOW_CONSUMER = "slow consumer"


class OutboundLimits:
    """The caps of one server's queues (None: no cap), and what to do about a client past them.

    ``on_slow(sid, queued_bytes, queued_messages)`` and ``on_volatile_dropped()`` report to the
    router (its log and /metrics)."""

    def __init__(self, max_bytes: int | None, max_messages: int | None,
                 on_slow: Callable[[str, int, int], None] = lambda sid, nbytes, count: None,
                 on_volatile_dropped: Callable[[], None] = lambda: None):
        self.max_bytes = max_bytes if max_bytes else float("inf")
        self.max_messages = max_messages if max_messages else float("inf")
        self.on_slow = on_slow
        self.on_volatile_dropped = on_volatile_dropped


def install(eio, limits: OutboundLimits) -> None:
    """Bound the outgoing queue of every session of Engine.IO server ``eio`` by ``limits``. Only
    this server's table changes: Engine.IO's module-wide one is shared."""
    base = eio._async["queue"]
    # Green threads switch only where they wait, so a count updated between two waits needs no
    # lock; threads do.
    locked = eio.async_mode == "threading"
    # A put and a get are on the path of every packet to every client: what they read is bound
    # here, on the class, rather than looked up per packet.
    bounded = type(f"Bounded{base.__name__}", (LockedCounts if locked else Counts, base), {
        "limits": limits, "max_bytes": limits.max_bytes, "max_messages": limits.max_messages,
        "server": eio, "unbounded": base, "_base_put": base.put, "_base_get": base.get})
    eio._async = {**eio._async, "queue": bounded}


def unbounded_queue(eio):
    """A queue of the server's async mode that no cap applies to (``create_queue()`` builds the
    bounded ones once :func:`install` ran): for the router's own queues, such as a broker's outbox."""
    cls = eio._async["queue"]
    return getattr(cls, "unbounded", cls)()


def _weight(item) -> int:
    try:
        return len(item.data)  # str or bytes; an OPEN packet's dict counts its keys, harmlessly
    except (TypeError, AttributeError):  # no data (PING, NOOP, CLOSE), or not a packet
        return 0


class Counts:
    """Mixed in before the async mode's queue class: counts what waits, refuses what overflows.

    ``None`` (Engine.IO's "stop the writer") is never counted or refused.
    """

    limits: OutboundLimits
    max_bytes: float
    max_messages: float
    server = None
    _base_put: Callable
    _base_get: Callable

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.queued_bytes = 0
        self.queued_messages = 0
        self.slow = False  # past a cap once: refuse everything until the session is closed
        self.abort_transport: Callable[[], None] | None = None  # set by the WebSocket transport

    def put(self, item, block=True, timeout=None):
        if item is not None:
            if self.slow:
                return
            weight = _weight(item)
            if self.queued_messages:
                if sends_are_volatile():
                    self.limits.on_volatile_dropped()
                    return
                if (self.queued_bytes + weight > self.max_bytes
                        or self.queued_messages >= self.max_messages):
                    self._overflow()
                    return
            self.queued_bytes += weight
            self.queued_messages += 1
        self._base_put(item, block, timeout)

    def get(self, block=True, timeout=None):
        item = self._base_get(block, timeout)
        if item is not None:
            self.queued_bytes -= _weight(item)
            self.queued_messages -= 1
        return item

    def _overflow(self) -> None:
        self.slow = True
        session = next((s for s in list(self.server.sockets.values()) if s.queue is self), None)
        sid = session.sid if session is not None else "?"
        self.limits.on_slow(sid, self.queued_bytes, self.queued_messages)
        # The sender is another client's handler, or a broadcast: it must not wait for this.
        self.server.start_background_task(self._close, session)

    def _close(self, session) -> None:
        if session is not None and not session.closed:
            session.close(wait=False, abort=True, reason=SLOW_CONSUMER)
        self._release()
        if self.abort_transport is not None:
            self.abort_transport()

    def _release(self) -> None:
        """Drop what waits (the writer sees its ``None`` again afterwards, if it was there)."""
        empty = self.server.get_queue_empty_exception()
        stop = False
        while True:
            try:
                item = self.get(block=False)
            except empty:
                break
            stop = stop or item is None
            self.task_done()
        if stop:
            self._base_put(None)


class LockedCounts(Counts):
    """:class:`Counts` for the threading mode, where two threads may count at once. A put never
    waits (the queues have no size limit), so it runs under the lock whole; a get waits outside it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._counts_lock = threading.Lock()

    def put(self, item, block=True, timeout=None):
        with self._counts_lock:
            Counts.put(self, item, block, timeout)

    def get(self, block=True, timeout=None):
        item = self._base_get(block, timeout)
        if item is not None:
            with self._counts_lock:
                self.queued_bytes -= _weight(item)
                self.queued_messages -= 1
        return item


def attach_transport(engineio_socket, abort: Callable[[], None]) -> None:
    """Let a slow consumer's close also shut its WebSocket (``abort``), whose writer may be
    blocked on a full TCP window and would never see the close otherwise."""
    queue = getattr(engineio_socket, "queue", None)
    if isinstance(queue, Counts):
        queue.abort_transport = abort
