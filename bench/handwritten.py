"""The bench job written by hand with Flask-SocketIO: the baseline the router is measured against.

    python bench/handwritten.py --mode eventlet --style documented --port 5123

It does what bench/configs/bench.yaml does, in namespace /bench: ``echo`` emits the payload
back and returns it as the ack, ``join`` joins ``data.room`` and acks true, ``fanout`` emits
the payload to the room ``data.room``.

Styles:
  documented  ``socketio.run(app, host, port)``, exactly as Flask-SocketIO's documentation shows.
  tuned       what a careful engineer adds: TCP_NODELAY on the listening socket (accepted sockets
              inherit it on Linux) and, for eventlet, ``max_size`` lifted above its 1,024 cap.

gevent serves WebSockets through simple-websocket, python-engineio's choice without
gevent-websocket (which the project no longer installs: unmaintained since 2017).

``--port`` must be given for ``documented`` (``socketio.run`` does not report a port it picked);
the runner reserves a free one. ``tuned`` accepts 0. Either way the process prints
``listening on PORT`` once it knows the port and serves until stdin closes or it is killed.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import warnings

UNCAPPED = 1_000_000

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=("eventlet", "gevent", "threading"), default="eventlet")
    parser.add_argument("--style", choices=("documented", "tuned"), default="tuned")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--message-queue", default=None)
    parser.add_argument("--channel", default="flask-socketio")
    return parser.parse_args(argv)


def create_app(mode: str, message_queue: str | None, channel: str):
    from flask import Flask
    from flask_socketio import SocketIO, emit, join_room

    app = Flask(__name__)
    app.config["SECRET_KEY"] = "bench"
    socketio = SocketIO(app, async_mode=mode, message_queue=message_queue, channel=channel)

    @socketio.on("echo", namespace="/bench")
    def echo(data):
        emit("echo", data)
        return data

    @socketio.on("join", namespace="/bench")
    def join(data):
        join_room(data["room"])
        return True

    @socketio.on("fanout", namespace="/bench")
    def fanout(data):
        emit("fanout", data, to=data["room"])

    return app, socketio


def nodelay_listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def serve_tuned(app, mode: str, host: str, port: int) -> None:
    sock = nodelay_listener(host, port)
    announce(sock.getsockname()[1])
    if mode == "eventlet":
        import eventlet.wsgi

        eventlet.wsgi.server(eventlet.greenio.GreenSocket(sock), app, log_output=False,
                             max_size=UNCAPPED)
    elif mode == "gevent":
        from gevent import pywsgi

        pywsgi.WSGIServer(sock, app, log=None).serve_forever()
    else:
        from werkzeug.serving import make_server

        make_server(host, port, app, threaded=True, fd=sock.fileno()).serve_forever()


def patch_for(mode: str) -> None:
    """Monkey patch first, as Flask-SocketIO's deployment docs say, for eventlet and gevent;
    gevent serves WebSockets through simple-websocket (see hide_gevent_websocket)."""
    if mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    elif mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
        hide_gevent_websocket()


def hide_gevent_websocket() -> None:
    """Make python-engineio serve gevent WebSockets through simple-websocket, as it does on a
    machine installed from pyproject.toml (no gevent-websocket), even where gevent-websocket is
    installed: its import then fails, which is how python-engineio decides."""
    sys.modules["geventwebsocket"] = None


def announce(port: int) -> None:
    print(f"listening on {port}", flush=True)


def exit_when_stdin_closes() -> None:
    # A real OS thread (started before monkey patching), so the read never blocks the hub.
    sys.stdin.read()
    os._exit(0)


def main(argv=None) -> None:
    args = parse_args(argv)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    patch_for(args.mode)
    app, socketio = create_app(args.mode, args.message_queue, args.channel)
    if args.style == "documented":
        if not args.port:
            raise SystemExit("--style documented needs --port: socketio.run does not report "
                             "the port it picks")
        announce(args.port)
        socketio.run(app, host=args.host, port=args.port, allow_unsafe_werkzeug=True)
    else:
        serve_tuned(app, args.mode, args.host, args.port)


if __name__ == "__main__":
    main()
