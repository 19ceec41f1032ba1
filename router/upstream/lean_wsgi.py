"""Smaller per-connection memory in the eventlet and gevent servers, with their own knobs.

Each WebSocket connection lives for hours, so what a server allocates per
connection, times 10,000, is the router's memory. These defaults cost the most
and buy a Socket.IO server nothing:

* eventlet.wsgi gives every connection a 16 KB write and an 8 KB read buffer,
  gevent.pywsgi an 8 KB read buffer, for its whole life. Socket.IO uses them for
  one handshake of a few hundred bytes, then talks WebSocket on the raw socket
  (gevent-websocket reads small frames through the read buffer). Reads and
  writes larger than a buffer bypass it, so long-polling bodies are not slowed
  down.
* gevent.pywsgi keeps a request's parsed headers on its handler, which a
  WebSocket keeps for its life, though they were copied into the environ.
* gevent records, for every greenlet it spawns, the stack and greenlet that
  spawned it (``track_greenlet_tree``), a debugging aid that costs memory per
  connection and time per event. The ``GEVENT_TRACK_GREENLET_TREE`` environment
  variable still decides when it is set.
* A WebSocket connection's greenlet sits inside the WSGI call for the whole
  connection, and greenlet keeps the C stack of every greenlet that is not
  running in a heap copy. Python 3.11 runs a call to a Python function or bound
  method inside the caller's C frame, but a call to an *instance* (a WSGI
  middleware object) recurses into the C interpreter, about 750 bytes of C stack
  per connection per middleware layer. Middleware passes the request on through
  :func:`direct_call` for that reason.
"""

from __future__ import annotations

import os
import types
from typing import Callable

# A Node or native client's handshake fits in one read, a browser's (user agent, cookies) in a
# few; gevent-websocket also reads frames through it, and larger reads bypass it.
READ_BUFFER = 1024
# More than 0: eventlet's writelines() loses data on an unbuffered file.
WRITE_BUFFER = 1024


def eventlet_protocol():
    """eventlet.wsgi's HttpProtocol with small buffers; pass it as ``protocol=``."""
    import eventlet.wsgi

    class LeanHttpProtocol(eventlet.wsgi.HttpProtocol):
        rbufsize = READ_BUFFER
        wbufsize = WRITE_BUFFER

    return LeanHttpProtocol


def gevent_handler(base: type) -> type:
    """``base`` (pywsgi.WSGIHandler or gevent-websocket's handler) with a small read buffer,
    which lets go of the request's parsed headers once they are in the environ."""

    class LeanHandler(base):
        def __init__(self, sock, address, server, rfile=None):
            if rfile is None:
                rfile = sock.makefile("rb", READ_BUFFER)
            super().__init__(sock, address, server, rfile)

        def get_environ(self):
            environ = super().get_environ()
            # Every header is in the environ now (HTTP_*). pywsgi reads the parsed copy only
            # while reading a request and building its environ (a keep-alive connection's
            # next request parses its own); a WebSocket would keep it for the connection's life.
            self.headers = None
            return environ

    LeanHandler.__name__ = f"Lean{base.__name__}"
    return LeanHandler


def tune_gevent() -> None:
    """Stop recording each greenlet's spawning stack, unless the environment asks for it."""
    if "GEVENT_TRACK_GREENLET_TREE" not in os.environ:
        import gevent

        gevent.config.track_greenlet_tree = False


def direct_call(app: Callable) -> Callable:
    """``app``, or its bound ``__call__`` when it is an instance of a class defining one in Python.

    Calling the result does the same as calling ``app``, without a C stack level
    (see the module docstring): middleware stores it to call the app it wraps.
    """
    call = getattr(type(app), "__call__", None)
    if isinstance(call, types.FunctionType):
        return types.MethodType(call, app)
    return app
