"""The bench job on bare python-socketio: the Python stack's ceiling, without Flask or the router.

    python bench/bare_socketio.py --mode gevent --port 0

Namespace /bench does what bench/configs/bench.yaml does (``echo``, ``join``, ``fanout``), on
``socketio.Server`` and ``socketio.WSGIApp``, served as a careful engineer would: TCP_NODELAY on
the listening socket, eventlet's connection cap lifted, WebSocket compression declined (as the
router and Node socket.io do by default). gevent serves WebSockets through simple-websocket, the
library python-engineio falls back on without gevent-websocket (which the project no longer
installs); threading through Werkzeug and simple-websocket. Prints ``listening on PORT`` and
serves until stdin closes.
"""

from __future__ import annotations

import argparse
import sys
import threading
import warnings

from handwritten import exit_when_stdin_closes, patch_for, serve_tuned

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=("eventlet", "gevent", "threading"), default="eventlet")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    return parser.parse_args(argv)


def create_server(mode: str):
    """The ``socketio.Server`` with the bench's handlers (bench/overhead.py measures it in process)."""
    import socketio

    sio = socketio.Server(async_mode=mode)

    @sio.on("echo", namespace="/bench")
    def echo(sid, data):
        sio.emit("echo", data, to=sid, namespace="/bench")
        return data

    @sio.on("join", namespace="/bench")
    def join(sid, data):
        sio.enter_room(sid, data["room"], namespace="/bench")
        return True

    @sio.on("fanout", namespace="/bench")
    def fanout(sid, data):
        sio.emit("fanout", data, to=data["room"], namespace="/bench")

    return sio


def create_app(mode: str):
    import socketio

    return decline_compression(socketio.WSGIApp(create_server(mode)))


def decline_compression(app):
    """Hide the client's permessage-deflate offer: every WebSocket server here would accept it."""
    def middleware(environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return app(environ, start_response)
    return middleware


def main(argv=None) -> None:
    args = parse_args(argv)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    patch_for(args.mode)
    serve_tuned(create_app(args.mode), args.mode, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
