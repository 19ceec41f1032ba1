"""A tiny python-socketio server for testing the JS client harness without the router.

Run as a script: it binds 127.0.0.1 on a free port, prints the port on the
first stdout line, and serves until its stdin closes (so it dies with the test
run that started it).

Namespaces:
  "/"         echo, message, silent, binary, ask, kick; greets with "welcome".
  "/private"  accepts auth {"token": "secret"}; otherwise refuses, with the
              payload chosen by auth["style"] (see private_connect).
Any other namespace is refused by python-socketio itself.
"""

import os
import sys
import threading
from urllib.parse import parse_qs

import eventlet
import eventlet.wsgi
import socketio

sio = socketio.Server(async_mode="eventlet")
app = socketio.WSGIApp(sio)

# Engine.IO's own query parameters, left out of what "welcome" reports.
ENGINEIO_QUERY_KEYS = {"EIO", "transport", "t", "sid"}


class FlatRefusal(socketio.exceptions.ConnectionRefusedError):
    """A refusal whose payload is one flat dict: {"message": ..., **extra}."""

    def __init__(self, message, **extra):
        super().__init__(message)
        self.error_args = {"message": message, **extra}


@sio.event
def connect(sid, environ, auth):
    query = {
        key: values[0]
        for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()
        if key not in ENGINEIO_QUERY_KEYS
    }
    sio.emit("welcome", {
        "sid": sid,
        "auth": auth,
        "query": query,
        "header": environ.get("HTTP_X_HARNESS"),
    }, to=sid)


@sio.on("echo")
def echo(sid, *args):
    sio.emit("echo", args, to=sid)
    return args


@sio.on("message")
def message(sid, *args):
    sio.send(("echo",) + args, to=sid)


@sio.on("silent")
def silent(sid, *args):
    return None


@sio.on("binary")
def binary(sid, blob):
    sio.emit("binary", {"blob": blob, "nested": [blob, {"again": blob}]}, to=sid)
    return {"len": len(blob), "reversed": blob[::-1]}


@sio.on("ask")
def ask(sid, question):
    def on_answer(*answer):
        sio.emit("answer", list(answer), to=sid)

    sio.emit("question", question, to=sid, callback=on_answer)


@sio.on("kick")
def kick(sid):
    sio.disconnect(sid)


@sio.on("connect", namespace="/private")
def private_connect(sid, environ, auth):
    auth = auth or {}
    if auth.get("token") == "secret":
        return True
    style = auth.get("style")
    if style == "args":
        raise socketio.exceptions.ConnectionRefusedError("unauthorized", {"rule": "token"})
    if style == "false":
        return False
    raise FlatRefusal("unauthorized", rule="token")


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)


def main():
    listener = eventlet.listen(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    # A real OS thread: eventlet is not monkey-patched here, so this read does
    # not block the hub.
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    eventlet.wsgi.server(listener, app, log_output=False)


if __name__ == "__main__":
    main()
