"""Listen and serve in the configured async mode.

Two defaults differ from ``socketio.run``: sockets get TCP_NODELAY (a reply
followed by an ack otherwise waits ~40 ms on delayed ACKs), and eventlet is not
capped at 1,024 concurrent connections. SIGTERM and SIGINT stop gracefully in
every mode (router/server/shutdown.py); under a --reload supervisor SIGHUP reloads the config
(router/server/signals.py).
"""

from __future__ import annotations

import logging
import socket
from typing import Callable

from router.server import signals
from router.server.app import RouterApp
from router.server.middleware import direct_call
from router.server.operations import operations_of

log = logging.getLogger("socketio_router")

# eventlet.wsgi.server's max_size bounds its green pool; this is "no cap" in practice.
UNCAPPED = 1_000_000

Ready = Callable[[str, int], None]
Reload = Callable[[], None]


def _signal_handlers(stop_run: Callable[[int], None], reload: Reload | None) -> signals.Handlers:
    handlers = {signum: stop_run for signum in signals.STOP_SIGNALS}
    if reload is not None:
        handlers[signals.RELOAD_SIGNAL] = lambda signum: reload()
    return handlers


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


def serve(router: RouterApp, host: str, port: int, ready: Ready | None = None,
          sock: socket.socket | None = None, reload: Reload | None = None) -> None:
    """Serve until SIGTERM / SIGINT, then stop gracefully (see router/server/shutdown.py) and return.

    ``ready(host, port)`` is called once the socket listens. ``sock`` is an already
    listening socket (the --reload supervisor hands its own to each child). ``reload()``
    runs on SIGHUP, in a green thread or thread of its own.
    """
    server = router.compiled.config.server
    mode = router.socketio.async_mode
    sock = sock or listen_socket(host, port, server.tcp_nodelay)
    if mode == "eventlet":
        _serve_eventlet(router, sock, host, server.max_connections, ready, reload)
    elif mode == "gevent":
        _serve_gevent(router, sock, host, server.max_connections, ready, reload)
    else:
        _serve_threading(router, sock, host, ready, reload)


def _announce(ready: Ready | None, sock: socket.socket, host: str) -> None:
    port = sock.getsockname()[1]
    if ready is not None:
        ready(host, port)


def _serve_eventlet(router, sock, host, max_connections, ready, reload) -> None:
    from router.upstream.eventlet_accept import AcceptLoop
    from router.upstream.lean_wsgi import eventlet_protocol

    loop = AcceptLoop(sock, max_connections or UNCAPPED)
    stop = operations_of(router).stop
    signals.on_signals_eventlet(_signal_handlers(
        lambda signum: stop.run(signum, loop.stop_accepting, loop.stop), reload))
    _announce(ready, sock, host)
    loop.serve(direct_call(router.app), log_output=False, debug=False, protocol=eventlet_protocol())
    stop.finished.wait(stop.longest)


def _serve_gevent(router, sock, host, max_connections, ready, reload) -> None:
    from gevent import pywsgi
    from gevent.pool import Pool

    from router.upstream.lean_wsgi import gevent_handler, tune_gevent

    tune_gevent()
    # Plain pywsgi: WebSockets are served by router/upstream/websocket_frames.py, not gevent-websocket.
    handler = gevent_handler(pywsgi.WSGIHandler)
    spawn = Pool(max_connections) if max_connections else "default"
    server = pywsgi.WSGIServer(sock, direct_call(router.app), log=None, spawn=spawn, handler_class=handler)
    stop = operations_of(router).stop
    # stop_accepting() leaves serve_forever running (close() would end it, and its handlers
    # one second later); stop() then ends the connections left.
    signals.on_signals_gevent(_signal_handlers(
        lambda signum: stop.run(signum, server.stop_accepting, lambda grace: server.stop(timeout=grace)),
        reload))
    _announce(ready, sock, host)
    server.serve_forever()
    stop.finished.wait(stop.longest)


def _serve_threading(router, sock, host, ready, reload) -> None:
    from werkzeug.serving import make_server

    server = make_server(host, sock.getsockname()[1], router.app, threaded=True, fd=sock.fileno())
    stop = operations_of(router).stop
    # shutdown() ends the accept loop; the connections' threads live on for their goodbyes
    # while this thread waits for the stop to finish.
    signals.on_signals_threading(_signal_handlers(
        lambda signum: stop.run(signum, server.shutdown, lambda grace: None), reload))
    _announce(ready, sock, host)
    server.serve_forever()
    stop.finished.wait(stop.longest)
