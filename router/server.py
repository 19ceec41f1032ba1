"""Listen and serve in the configured async mode.

Two defaults differ from ``socketio.run``: sockets get TCP_NODELAY (a reply
followed by an ack otherwise waits ~40 ms on delayed ACKs), and eventlet is not
capped at 1,024 concurrent connections.
"""

from __future__ import annotations

import logging
import socket
from typing import Callable

from .loader import RouterApp

log = logging.getLogger("socketio_router")

# eventlet.wsgi.server's max_size bounds its green pool; this is "no cap" in practice.
UNCAPPED = 1_000_000

Ready = Callable[[str, int], None]


def listen_socket(host: str, port: int, nodelay: bool) -> socket.socket:
    """A listening TCP socket; Linux copies TCP_NODELAY from it to every accepted socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def serve(router: RouterApp, host: str, port: int, ready: Ready | None = None) -> None:
    """Serve until interrupted. ``ready(host, port)`` is called once the socket listens."""
    server = router.compiled.config.server
    mode = router.socketio.async_mode
    if mode == "eventlet":
        _serve_eventlet(router, host, port, server.tcp_nodelay, server.max_connections, ready)
    elif mode == "gevent":
        _serve_gevent(router, host, port, server.tcp_nodelay, server.max_connections, ready)
    else:
        _serve_threading(router, host, port, server.tcp_nodelay, ready)


def _announce(ready: Ready | None, sock: socket.socket, host: str) -> None:
    port = sock.getsockname()[1]
    if ready is not None:
        ready(host, port)


def _serve_eventlet(router, host, port, nodelay, max_connections, ready) -> None:
    import eventlet
    import eventlet.wsgi

    sock = listen_socket(host, port, nodelay)
    green = eventlet.greenio.GreenSocket(sock)
    _announce(ready, sock, host)
    eventlet.wsgi.server(green, router.app, log_output=False, debug=False,
                         max_size=max_connections or UNCAPPED)


def _serve_gevent(router, host, port, nodelay, max_connections, ready) -> None:
    from gevent import pywsgi
    from gevent.pool import Pool

    try:
        from geventwebsocket.handler import WebSocketHandler
        handler = {"handler_class": WebSocketHandler}
    except ImportError:  # WebSocket then comes from simple-websocket
        handler = {}
    sock = listen_socket(host, port, nodelay)
    spawn = Pool(max_connections) if max_connections else "default"
    server = pywsgi.WSGIServer(sock, router.app, log=None, spawn=spawn, **handler)
    _announce(ready, sock, host)
    server.serve_forever()


def _serve_threading(router, host, port, nodelay, ready) -> None:
    from werkzeug.serving import make_server

    sock = listen_socket(host, port, nodelay)
    server = make_server(host, sock.getsockname()[1], router.app, threaded=True, fd=sock.fileno())
    _announce(ready, sock, host)
    server.serve_forever()
