"""Graceful stop on SIGTERM / SIGINT: stop accepting, say goodbye to every client, exit 0.

The sequence, the same in every async mode:

1. ``draining`` turns on: ``/readyz`` answers 503 and new Engine.IO handshakes get
   503, so a load balancer and reconnecting clients go elsewhere.
2. The server stops accepting connections, without touching the ones it has (under
   ``--reload`` the next server, on the same socket, accepts them from then on).
3. Every client is closed with a protocol goodbye, never a TCP reset: with
   ``shutdown_reconnect`` (the default, and always with ``connection_state_recovery``)
   an Engine.IO CLOSE, after which clients reconnect by themselves (socket.io-client
   reports "transport close") and the router's reason is "server shutting down", a drop
   whose session recovery keeps; without it a Socket.IO DISCONNECT first, which
   clients treat as final ("io server disconnect"). The namespaces' on_disconnect
   steps run as usual.
4. Once the goodbyes are flushed, or ``shutdown_timeout`` has passed, the server
   ends its connections and ``serve`` returns.

eventlet's accept loop shuts down the sockets of "idle" connections when it ends,
and an upgraded WebSocket counts as idle there, so under eventlet step 2 parks the
loop and only step 4 ends it (router/upstream/eventlet_accept.py). The Engine.IO
sessions are read and closed through router/upstream/engineio_sockets.py: engine.io
has no public call for "close after the last packet is out".

The work runs in a green thread or a thread started by the signal, never inside
the signal handler itself (router/server/signals.py).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Callable

from router.runtime.recovery import SERVER_SHUTTING_DOWN
from router.server.middleware import direct_call
from router.upstream import engineio_sockets
from router.upstream.client_manager import connected_clients

log = logging.getLogger("socketio_router")

SERVER_STOP_GRACE = 1.0  # seconds the WSGI server gets to end its connections after the goodbyes
POLLING_SETTLE = 1.0     # seconds a long-polling client gets to act on a final disconnect


class GracefulStop:
    """The shutdown of one app: its draining flag and the client goodbyes."""

    def __init__(self, socketio, timeout: float, reconnect: bool, pings=None):
        self.socketio = socketio
        self.timeout = timeout
        self.reconnect = reconnect
        self.pings = pings  # the server-wide PingScheduler, stopped with python-socketio's tasks
        self._started = threading.Event()  # plain Event: under eventlet it is green too
        self.finished = threading.Event()
        # Called once the goodbyes are out, with the seconds left: e.g. the shared rooms retire.
        self.after_goodbyes: list[Callable[[float], None]] = []

    @property
    def longest(self) -> float:
        """The most a stop can take, for ``serve`` to wait for its end."""
        return self.timeout + SERVER_STOP_GRACE + 1.0

    @property
    def draining(self) -> bool:
        return self._started.is_set()

    def run(self, signum: int, stop_accepting: Callable[[], None],
            stop_server: Callable[[float], None]) -> None:
        """The whole sequence; called once per process, in a green thread or a thread.

        ``stop_accepting()`` stops taking new connections and leaves the others alone;
        ``stop_server(grace)`` ends the server and, within ``grace`` seconds, the
        connections left. ``serve`` then waits for :attr:`finished`.
        """
        if self._started.is_set():
            return  # a second signal (Ctrl-C twice, a supervisor's SIGTERM) changes nothing
        self._started.set()
        started = time.monotonic()
        deadline = started + self.timeout
        try:
            clients = engineio_sockets.session_count(self.socketio.server.eio)
            log.info("%s: shutting down, closing %d client connection(s) (timeout %gs)",
                     signal.Signals(signum).name, clients, self.timeout)
            stop_accepting()
            left = self.close_clients(deadline)
            if left:
                log.warning("shutdown: %d client connection(s) did not close within %gs",
                            left, self.timeout)
            for after in self.after_goodbyes:
                try:
                    after(max(0.0, deadline - time.monotonic()))
                except Exception:  # the stop goes on whatever a hook does
                    log.exception("shutdown: %r failed", after)
            self.socketio.server.shutdown()  # python-socketio's own background tasks
            if self.pings is not None:
                self.pings.stop()
            stop_server(SERVER_STOP_GRACE)
            log.info("shutdown complete in %.2fs", time.monotonic() - started)
        finally:
            self.finished.set()

    def close_clients(self, deadline: float) -> int:
        """Send every client its goodbye, wait until they have it, then close the sessions.

        Returns how many clients had not fetched their goodbye by ``deadline``. The
        goodbye is queued first and the session closed only once its queue is
        empty: Engine.IO refuses requests of a closed session, so a long-polling
        client whose session closed first would never receive it.
        """
        server = self.socketio.server
        eio = server.eio
        if not self.reconnect:
            # A Socket.IO DISCONNECT per namespace: clients take it as final.
            for namespace, sid in connected_clients(server.manager):
                try:
                    server.disconnect(sid, namespace=namespace)
                except Exception:
                    log.exception("shutdown: disconnecting %s from %s failed", sid, namespace)
        sessions = engineio_sockets.sessions(eio)
        # Not both goodbyes: socket.io-client acts on an Engine.IO CLOSE at once but on a
        # Socket.IO packet one tick later, so a CLOSE in the same payload would win.
        for session in sessions if self.reconnect else ():
            engineio_sockets.send_close(session)
        waiting = sessions
        while waiting and time.monotonic() < deadline:
            eio.sleep(0.02)
            waiting = engineio_sockets.still_sending(waiting)
        if not self.reconnect:
            # A long-polling client has dequeued its DISCONNECT when the queue is empty, but
            # socket.io-client acts on it one tick after the response arrives; closing the
            # session first fails its next poll ("transport error"). It closes the session
            # itself once it has acted, so give it that moment (bounded, for other clients).
            polling = engineio_sockets.polling(sessions)
            settle = min(deadline, time.monotonic() + POLLING_SETTLE)
            while polling and time.monotonic() < settle:
                eio.sleep(0.02)
                polling = engineio_sockets.still_open(polling)
        # A client told to come back dropped for a moment, as Node's "server shutting down" says:
        # with connection state recovery its session is kept for it.
        reason = SERVER_SHUTTING_DOWN if self.reconnect else None
        for session in sessions:
            # The goodbye is out: this runs the disconnect handlers (on_disconnect steps) and
            # ends the session.
            engineio_sockets.end_session(eio, session, reason)
        return len(waiting)


class RefuseNewSessions:
    """WSGI middleware: while draining, a new Engine.IO handshake (no ``sid``) gets 503.

    Requests of existing sessions pass, so polling clients still receive their goodbye.
    Attributes are the wrapped app's (Flask-SocketIO's middleware keeps ``engineio_path``).
    """

    def __init__(self, wsgi_app, stop: GracefulStop, path: str):
        self.wsgi_app = wsgi_app
        self._forward = direct_call(wsgi_app)  # no C stack level per WebSocket
        self.stop = stop
        self.prefix = "/" + path.strip("/")

    def __call__(self, environ, start_response):
        if self.stop.draining and environ.get("PATH_INFO", "").startswith(self.prefix) \
                and "sid=" not in environ.get("QUERY_STRING", ""):
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"),
                                                       ("Connection", "close")])
            return [b"shutting down\n"]
        return self._forward(environ, start_response)

    def __getattr__(self, name):
        return getattr(self.wsgi_app, name)
