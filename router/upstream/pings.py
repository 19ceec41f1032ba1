"""One server-wide task sends Engine.IO's heartbeat PINGs, instead of one sleeping task per socket.

python-engineio schedules each socket's next PING by starting a background task
that sleeps ``ping_interval`` and then sends it (``Socket.schedule_ping``, called
at the handshake and on every PONG). Under eventlet and gevent that is a greenlet,
its stack and a hub timer per connection, all the time: 8-10 KB of the resident
memory per WebSocket connection. Because ``ping_interval`` is the same for every
socket, the sockets waiting for their next PING form a FIFO queue already ordered
by due time, and one task can wake when the head is due and serve every socket
that is due.

The scheduler takes over through a seam python-engineio offers rather than a
patch: its ``connect`` event fires after a socket is created and before the
handshake's first ``schedule_ping()``, so the connect handler gives that socket an
instance-level ``schedule_ping`` that queues it here. Everything else is Engine.IO's
own: the PING is sent exactly as ``Socket._send_ping`` sends it, PONGs still arrive
through ``Socket.receive``, and the server's service task still closes a socket
whose PONG is late (``ping_timeout``), so long-polling and WebSocket clients are
treated alike.

The queue holds weak references: a socket that closes is freed as usual, and its
entry is dropped when it comes due.

| module | name | why |
|---|---|---|
| engineio.socket | ``Socket.schedule_ping`` (replaced per socket) | queue the socket here instead of a sleeping task |
| engineio.socket | ``Socket._send_ping`` (mirrored) | send the PING as it does: ``last_ping``, then ``send`` |
| engineio.base_socket | ``BaseSocket.last_ping``, ``.closing``, ``.closed`` | once per PING; skip closed sockets |
| engineio.base_server | ``BaseServer.handlers["connect"]`` (wrapped), ``.sockets`` | adopt a socket before its handshake schedules the first PING |
| socketio.admin | ``InstrumentedServer._eio_send_ping`` | the Admin UI's development mode reports sockets from ``_send_ping``, which the scheduler does not call: :func:`works_with_admin_ui` |

tested with: python-engineio 4.15.1, python-socketio 5.18.1
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
import weakref
from typing import Callable

from engineio import packet as eio_packet

from router.upstream._contract import Needs, Seam

SEAM = Seam("engine.io pings", {"python-engineio": "4.15.1", "python-socketio": "5.18.1"}, requires=[
    Needs("engineio.socket", "Socket.schedule_ping", ("self",), exact=True),
    Needs("engineio.socket", "Socket._send_ping", ("self",), exact=True),
    Needs("engineio.socket", "Socket.send", ("pkt",)),
    Needs("engineio.base_socket", "BaseSocket", attributes=("sid", "last_ping", "closing", "closed")),
    Needs("engineio.base_server", "BaseServer", attributes=("handlers", "sockets", "ping_interval")),
    Needs("engineio.server", "Server.create_event"),
    Needs("engineio.server", "Server.start_background_task", ("target",)),
    Needs("engineio.server", "Server.sleep", ("seconds",)),
    Needs("engineio.packet", "Packet", ("packet_type",)),
    Needs("engineio.packet", "PING"),
    Needs("socketio.admin", "InstrumentedServer._eio_send_ping"),
])

log = logging.getLogger("socketio_router")

PINGS_PER_TURN = 256  # PINGs sent before the task yields to the other green threads


def works_with_admin_ui(mode: str | None) -> bool:
    """Whether the scheduler may serve a server whose Admin UI runs in ``mode`` (None: no UI).

    In development mode the Admin UI reports each socket from ``Socket._send_ping``,
    which the scheduler never calls: sockets keep their own ping task then.
    """
    return mode != "development"


class PingScheduler:
    """The heartbeat of every socket of one Engine.IO server, in one background task.

    :meth:`install` hooks it into the server; the task starts with the first
    connection and ends on :meth:`stop`, after which nothing is queued any more (the
    server is going away). ``clock`` is monotonic seconds (tests pass their own).
    """

    def __init__(self, eio, clock: Callable[[], float] = time.monotonic):
        self.eio = eio
        self.clock = clock
        # (due time, weak reference to the socket), appended in due order: the interval is constant
        self._due: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._stopping = None  # the task's stop event, once started
        self._done = None
        self._stopped = False

    @property
    def interval(self) -> float:
        return self.eio.ping_interval

    @property
    def running(self) -> bool:
        return self._stopping is not None and not self._stopped

    @property
    def waiting(self) -> int:
        """How many sockets wait for a PING (closed ones included until they come due)."""
        return len(self._due)

    def install(self) -> None:
        """Route the server's sockets here, through its ``connect`` event.

        Call it after anything else that sets the Engine.IO connect handler (the
        Admin UI's instrumentation does): it wraps whatever handler is there.
        """
        connect = self.eio.handlers.get("connect")
        sockets = self.eio.sockets

        def on_connect(sid, environ, *args):
            socket = sockets.get(sid)
            if socket is not None:
                self.adopt(socket)  # the handshake calls schedule_ping() right after this event
            return connect(sid, environ, *args) if connect is not None else True

        self.eio.handlers["connect"] = on_connect

    def adopt(self, socket) -> None:
        """Make ``socket.schedule_ping()`` queue the socket here instead of starting a task.

        The socket keeps only a weak reference to itself in the callable, so no
        reference cycle delays freeing it, and the queue reuses that reference.
        """
        socket.schedule_ping = functools.partial(self._schedule, weakref.ref(socket))

    def _schedule(self, ref: weakref.ref) -> None:
        """``schedule_ping()`` of an adopted socket: its next PING, ``ping_interval`` from now.

        As in python-engineio, once per PING: ``last_ping`` is cleared here and set
        again when the PING goes out, so a second PONG to one PING changes nothing.
        """
        socket = ref()
        if socket is None or not socket.last_ping or self._stopped:
            return
        socket.last_ping = None
        self._due.append((self.clock() + self.interval, ref))
        if self._stopping is None:
            self._start()

    def send_due(self, now: float) -> float:
        """Send a PING to every socket due by ``now``; the seconds until the next one is due.

        Sockets that closed meanwhile are dropped. With nothing queued the answer is a
        whole interval: whatever is queued meanwhile is due no sooner than that.
        """
        due = self._due
        sent = 0
        while due and due[0][0] <= now:
            _, ref = due.popleft()
            socket = ref()
            if socket is None or socket.closing or socket.closed:
                continue
            try:
                # What Socket._send_ping does once its sleep is over.
                socket.last_ping = time.time()
                socket.send(eio_packet.Packet(eio_packet.PING))
            except Exception:  # closed by its client between the check and the send
                log.debug("ping to %s failed", socket.sid, exc_info=True)
            sent += 1
            if sent % PINGS_PER_TURN == 0:
                # Thousands of clients that connected together come due together: let the
                # other green threads run between batches rather than after all of them.
                self.eio.sleep(0)
        return due[0][0] - now if due else self.interval

    def stop(self, timeout: float = 5.0) -> bool:
        """End the task and forget every socket; True once the task has ended within ``timeout``."""
        with self._lock:
            self._stopped = True
            stopping, done = self._stopping, self._done
        self._due.clear()
        if stopping is None:
            return True
        stopping.set()
        return done.wait(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._stopping is not None or self._stopped:
                return
            self._stopping = self.eio.create_event()
            self._done = self.eio.create_event()
        self.eio.start_background_task(self._run, self._stopping, self._done)

    def _run(self, stopping, done) -> None:
        try:
            wait = 0.0
            while not stopping.wait(wait):
                try:
                    wait = max(0.0, self.send_due(self.clock()))
                except Exception:  # one bad socket must not end every socket's heartbeat
                    log.exception("ping scheduler: sending pings failed")
                    wait = self.interval
        finally:
            self._due.clear()
            done.set()
