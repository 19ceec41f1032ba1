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

(The C stack a middleware instance costs each connection is ours to avoid, with no
library internals: ``router.server.middleware.direct_call``.)

| module | name | why |
|---|---|---|
| eventlet.wsgi | ``HttpProtocol.rbufsize``, ``.wbufsize`` (subclassed) | 1 KB buffers instead of 8 KB and 16 KB per connection |
| gevent.pywsgi | ``WSGIHandler.__init__`` (subclassed) | a 1 KB read buffer (``rfile``) per connection |
| gevent.pywsgi | ``WSGIHandler.get_environ`` (subclassed), ``.headers`` | drop the parsed headers a WebSocket would keep for its life |
| gevent | ``config.track_greenlet_tree`` (documented setting) | off unless ``GEVENT_TRACK_GREENLET_TREE`` asks for it |

tested with: eventlet 0.41.3, gevent 26.9.0
"""

from __future__ import annotations

import os

from router.upstream._contract import Needs, Seam

SEAM = Seam("wsgi server buffers", {"eventlet": "0.41.3", "gevent": "26.9.0"},
            requires=[
    Needs("eventlet.wsgi", "HttpProtocol", attributes=("rbufsize", "wbufsize")),
    Needs("eventlet.wsgi", "server", ("sock", "site", "protocol")),
    Needs("gevent.pywsgi", "WSGIHandler.__init__", ("self", "sock", "address", "server", "rfile"), exact=True),
    Needs("gevent.pywsgi", "WSGIHandler.get_environ", ("self",), exact=True),
    Needs("gevent.pywsgi", "WSGIHandler", attributes=("headers",)),
    Needs("gevent", "config.track_greenlet_tree"),
])

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

