"""Events whose steps need no Flask request context reach the router's handler without one.

Flask-SocketIO registers every ``socketio.on_event`` handler with python-socketio
through a wrapper that calls ``SocketIO._handle_event``, which builds a Flask request
context per event (a werkzeug ``Request``, URL matching that raises ``NotFound`` for the
Socket.IO path, teardown), swaps in its managed session and sets ``request.sid``,
``request.namespace`` and ``request.event``. Measured in process (bench/overhead.py,
eventlet, echo + ack) that was about 60 us of a ~140 us message, where bare
python-socketio spends ~55 us on the whole message.

The router still registers every handler through ``socketio.on_event``. A handler
marked with :func:`direct` carries a second entry, ``entry(sid, *args)``, which
:class:`LeanSocketIO` registers with python-socketio in the place of Flask-SocketIO's
wrapper, so python-socketio calls it without the context: the dispatcher marks the
handlers of events whose steps (and error steps) all declare
``needs_request_context=False`` (every built-in step does); the entry handles its own
failures, as Flask-SocketIO's error handlers would, answers an event of a client it has
no record of as Flask-SocketIO answers one it has no environ for, and sets the router's
current event (router/runtime/current_event.py) for what runs under it. Every other handler, a class
namespace's and the connect and disconnect handlers go through Flask-SocketIO's own
``_handle_event``, unchanged.

| module | name | why |
|---|---|---|
| flask_socketio | ``SocketIO.on(message, namespace)``, which ``on_event`` calls: registers a wrapper with ``server.on``, or keeps it in ``handlers`` until the app is set | overridden: a marked handler is registered in the wrapper's place, the same way |
| flask_socketio | ``SocketIO._handle_event``: an event of a client without an environ is answered ``('', 400)`` | the marked entry answers a client it has no record of the same |

tested with: Flask-SocketIO 5.7.0, python-socketio 5.18.1
"""

from __future__ import annotations

from typing import Any, Callable

from flask_socketio import SocketIO

from router.upstream._contract import Needs, Seam

SEAM = Seam("lean events", {"Flask-SocketIO": "5.7.0", "python-socketio": "5.18.1"}, requires=[
    Needs("flask_socketio", "SocketIO.on", ("self", "message", "namespace"), exact=True),
    Needs("flask_socketio", "SocketIO.on_event", ("self", "message", "handler", "namespace"), exact=True),
    Needs("flask_socketio", "SocketIO._handle_event", ("self", "handler", "message", "namespace", "sid", "args"),
          exact=True),
    Needs("flask_socketio", "SocketIO", attributes=("server", "handlers")),
    Needs("socketio.base_server", "BaseServer.on", ("event", "handler", "namespace")),
])

DIRECT = "__socketio_router_direct__"


def direct(handler: Callable, entry: Callable[..., Any]) -> Callable:
    """Mark ``handler`` (what ``socketio.on_event`` registers) to be called as
    ``entry(sid, *args)``, as python-socketio calls a handler, without a Flask request
    context; returns ``handler``. The entry answers an event of a client that is gone
    ``('', 400)``, as Flask-SocketIO does."""
    setattr(handler, DIRECT, entry)
    return handler


class LeanSocketIO(SocketIO):
    """Flask-SocketIO's ``SocketIO``; a handler marked with :func:`direct` is called without a
    Flask request context."""

    def on(self, message, namespace=None):
        register = super().on(message, namespace)
        namespace = namespace or "/"

        def decorator(handler):
            entry = getattr(handler, DIRECT, None)
            if entry is None or "*" in (message, namespace):  # catch-alls: Flask-SocketIO's own
                return register(handler)
            # In the place of Flask-SocketIO's wrapper, as SocketIO.on registers it.
            setattr(entry, DIRECT, entry)
            if self.server:
                self.server.on(message, entry, namespace=namespace)
            else:
                self.handlers.append((message, entry, namespace))
            return handler

        return decorator
