"""Graceful stop on SIGTERM / SIGINT: stop accepting, say goodbye to every client, exit 0.

The sequence, the same in every async mode:

1. ``draining`` turns on: ``/readyz`` answers 503 and new Engine.IO handshakes get
   503, so a load balancer and reconnecting clients go elsewhere.
2. The server stops accepting connections (eventlet and gevent close the accept
   loop; threading relies on the 503).
3. Every client is closed with a protocol goodbye, never a TCP reset: with
   ``shutdown_reconnect`` (the default) an Engine.IO CLOSE, after which clients
   reconnect by themselves (socket.io-client reports "transport close"); without
   it a Socket.IO DISCONNECT first, which clients treat as final ("io server
   disconnect"). The namespaces' on_disconnect steps run as usual.
4. Once the goodbyes are flushed, or ``shutdown_timeout`` has passed, the server
   stops and ``serve`` returns.

The work runs in a green thread or a thread started by the signal, never inside
the signal handler itself: under eventlet a handler runs in whatever greenlet the
signal interrupted, where blocking is not allowed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Callable

log = logging.getLogger("socketio_router")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
SERVER_STOP_GRACE = 1.0  # seconds the WSGI server gets to end its connections after the goodbyes


class GracefulStop:
    """The shutdown of one app: its draining flag and the client goodbyes."""

    def __init__(self, socketio, timeout: float, reconnect: bool):
        self.socketio = socketio
        self.timeout = timeout
        self.reconnect = reconnect
        self._started = threading.Event()  # plain Event: under eventlet it is green too

    @property
    def draining(self) -> bool:
        return self._started.is_set()

    def run(self, signum: int, stop_accepting: Callable[[], None],
            stop_server: Callable[[float], None]) -> None:
        """The whole sequence; called once per process, in a green thread or a thread."""
        if self._started.is_set():
            return
        self._started.set()
        started = time.monotonic()
        deadline = started + self.timeout
        clients = len(self.socketio.server.eio.sockets)
        log.info("%s: shutting down, closing %d client connection(s) (timeout %gs)",
                 signal.Signals(signum).name, clients, self.timeout)
        try:
            stop_accepting()
        except Exception:  # the goodbyes still matter more than a clean accept loop
            log.exception("stopping the accept loop failed")
        left = self.close_clients(deadline)
        if left:
            log.warning("shutdown: %d client connection(s) did not close within %gs", left, self.timeout)
        stop_server(max(deadline - time.monotonic(), 0) + SERVER_STOP_GRACE)
        log.info("shutdown complete in %.2fs", time.monotonic() - started)

    def close_clients(self, deadline: float) -> int:
        """Close every Engine.IO connection in parallel; how many were still closing at ``deadline``."""
        server = self.socketio.server
        eio = server.eio
        if not self.reconnect:
            # A Socket.IO DISCONNECT per namespace first: clients take it as final.
            for namespace in list(server.manager.get_namespaces()):
                for sid, _ in list(server.manager.get_participants(namespace, None)):
                    try:
                        server.disconnect(sid, namespace=namespace)
                    except Exception:
                        log.exception("shutdown: disconnecting %s from %s failed", sid, namespace)
        sockets = list(eio.sockets.values())
        eio.sockets = {}
        pending = [len(sockets)]
        lock = threading.Lock()

        def close(socket) -> None:
            try:
                # wait=True returns once the CLOSE packet has left the send queue.
                socket.close(reason=eio.reason.SERVER_DISCONNECT)
            except Exception:
                log.exception("shutdown: closing %s failed", socket.sid)
            finally:
                with lock:
                    pending[0] -= 1

        for socket in sockets:
            eio.start_background_task(close, socket)
        while pending[0] > 0 and time.monotonic() < deadline:
            eio.sleep(0.02)
        return pending[0]


def refuse_new_sessions(wsgi_app, stop: GracefulStop, path: str):
    """WSGI middleware: while draining, a new Engine.IO handshake (no ``sid``) gets 503.

    Requests of existing sessions pass, so polling clients still receive their goodbye.
    """
    prefix = "/" + path.strip("/")

    def middleware(environ, start_response):
        if stop.draining and environ.get("PATH_INFO", "").startswith(prefix) \
                and "sid=" not in environ.get("QUERY_STRING", ""):
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"),
                                                       ("Connection", "close")])
            return [b"shutting down\n"]
        return wsgi_app(environ, start_response)

    return middleware


# -- signal wiring, one per async mode ----------------------------------------------------------

def on_stop_signal_eventlet(callback: Callable[[int], None]) -> None:
    """Run ``callback(signum)`` in a new green thread when SIGTERM or SIGINT arrives.

    ``signal.set_wakeup_fd`` wakes the hub from its poll at once; a Python handler alone
    would run only when the hub next woke up, up to a ping interval later.
    """
    import eventlet
    from eventlet.hubs import trampoline

    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd)
    for signum in STOP_SIGNALS:
        signal.signal(signum, _noop)

    def watch() -> None:
        while True:
            trampoline(read_fd, read=True)
            try:
                received = os.read(read_fd, 64)
            except BlockingIOError:
                continue
            for signum in received:
                if signum in STOP_SIGNALS:
                    eventlet.spawn_n(callback, signum)

    eventlet.spawn_n(watch)


def on_stop_signal_gevent(callback: Callable[[int], None]) -> None:
    import gevent

    for signum in STOP_SIGNALS:
        gevent.signal_handler(signum, callback, signum)


def on_stop_signal_threading(callback: Callable[[int], None]) -> None:
    def handler(signum, frame) -> None:
        threading.Thread(target=callback, args=(signum,), name="graceful-stop", daemon=True).start()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)


def _noop(signum, frame) -> None:
    """Replaces the default action (exit at once); the wakeup fd does the work."""
