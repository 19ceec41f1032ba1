"""WSGI middleware of our own: declining WebSocket compression, and calling the app inside without a C stack level.

Decline WebSocket compression (permessage-deflate) unless the config turns it on.

Browsers and Node's socket.io-client offer permessage-deflate on every WebSocket
handshake, and eventlet (and simple-websocket, in threading mode) accept it. The
server then keeps a zlib compressor per connection, about 100 KB resident each,
and compresses every frame for every recipient separately, so a broadcast is
deflated once per client. Socket.IO's reference server has declined it by default
since v3 (``perMessageDeflate: false``) for the same reasons; so do we.
``server.websocket_compression: true`` leaves the offer for the server to accept.

A WebSocket connection's greenlet sits inside the WSGI call for the whole
connection, and greenlet keeps the C stack of every greenlet that is not
running in a heap copy. Python 3.11 runs a call to a Python function or bound
method inside the caller's C frame, but a call to an *instance* (a WSGI
middleware object) recurses into the C interpreter, about 750 bytes of C stack
per connection per middleware layer. Middleware passes the request on through
:func:`direct_call` for that reason.
"""

from __future__ import annotations

import types
from typing import Callable, Iterable

EXTENSIONS_HEADER = "HTTP_SEC_WEBSOCKET_EXTENSIONS"
DEFLATE = "permessage-deflate"


def without_deflate(offered: str) -> str:
    """The offered extensions minus every permessage-deflate offer (each offer is one list item)."""
    kept = [item.strip() for item in offered.split(",")
            if item.split(";", 1)[0].strip().lower() != DEFLATE]
    return ", ".join(item for item in kept if item)


class DeclineWebSocketCompression:
    """WSGI middleware: hides the client's permessage-deflate offer from the WebSocket server.

    Declining an offered extension is the server's right (RFC 6455 section 9.1):
    the handshake simply answers without it and both sides send plain frames.
    Other attributes read through to the wrapped app (Flask-SocketIO's middleware:
    ``app.wsgi_app.engineio_path`` still answers).
    """

    def __init__(self, app: Callable):
        self.app = app
        self._forward = direct_call(app)  # no C stack level per WebSocket

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        offered = environ.get(EXTENSIONS_HEADER)
        if offered and DEFLATE in offered.lower():
            kept = without_deflate(offered)
            if kept:
                environ[EXTENSIONS_HEADER] = kept
            else:
                del environ[EXTENSIONS_HEADER]
        return self._forward(environ, start_response)

    def __getattr__(self, name: str):
        return getattr(self.app, name)


def direct_call(app: Callable) -> Callable:
    """``app``, or its bound ``__call__`` when it is an instance of a class defining one in Python.

    Calling the result does the same as calling ``app``, without a C stack level
    (see the module docstring): middleware stores it to call the app it wraps.
    """
    call = getattr(type(app), "__call__", None)
    if isinstance(call, types.FunctionType):
        return types.MethodType(call, app)
    return app
