"""Events whose steps need no Flask request context reach the router's handler without one.

Flask-SocketIO registers every ``socketio.on_event`` handler with python-socketio
through a wrapper that calls ``SocketIO._handle_event``, which builds a Flask request
context per event (a werkzeug ``Request``, URL matching that raises ``NotFound`` for the
Socket.IO path, teardown), swaps in its managed session and sets ``request.sid``,
``request.namespace`` and ``request.event``. Measured in process (bench/overhead.py,
eventlet, echo + ack) that was about 60 us of a ~140 us message, where bare
python-socketio spends ~55 us on the whole message.

The router still registers every handler through ``socketio.on_event``. A handler
marked with :func:`direct` carries a second entry, ``direct(sid, args)``, which
:class:`LeanSocketIO` calls instead of building the context: the dispatcher marks the
handlers of events whose steps (and error steps) all declare
``needs_request_context=False`` (every built-in step does); the entry handles its own
failures, as Flask-SocketIO's error handlers would, and sets the router's current event
(router/runtime/current_event.py) for what runs under it. Every other handler, a class
namespace's and the connect and disconnect handlers go through Flask-SocketIO's own
``_handle_event``, unchanged.

| module | name | why |
|---|---|---|
| flask_socketio | ``SocketIO._handle_event(handler, message, namespace, sid, *args)``, called by the wrapper of ``SocketIO.on`` with the handler given to ``on_event`` | overridden: a marked handler is called directly |
| flask_socketio | ``SocketIO.server``: python-socketio's ``get_environ(sid, namespace)`` | an event of a client Flask-SocketIO has no record of is ignored, as it ignores it |

tested with: Flask-SocketIO 5.7.0, python-socketio 5.18.1
"""

from __future__ import annotations

from typing import Any, Callable

from flask_socketio import SocketIO

from router.upstream._contract import Needs, Seam

SEAM = Seam("lean events", {"Flask-SocketIO": "5.7.0", "python-socketio": "5.18.1"}, requires=[
    Needs("flask_socketio", "SocketIO._handle_event", ("self", "handler", "message", "namespace", "sid", "args"),
          exact=True),
    Needs("flask_socketio", "SocketIO.on", ("self", "message", "namespace"), exact=True),
    Needs("flask_socketio", "SocketIO", attributes=("server",)),
    Needs("socketio.server", "Server.get_environ", ("self", "sid", "namespace"), exact=True),
])

DIRECT = "__socketio_router_direct__"
# What Flask-SocketIO answers for an event of a client it has no environ for.
UNKNOWN_CLIENT = ("", 400)


def direct(handler: Callable, entry: Callable[[str, tuple], Any]) -> Callable:
    """Mark ``handler`` (what ``socketio.on_event`` registers) to be called as
    ``entry(sid, args)``, without a Flask request context; returns ``handler``."""
    setattr(handler, DIRECT, entry)
    return handler


class LeanSocketIO(SocketIO):
    """Flask-SocketIO's ``SocketIO``; a handler marked with :func:`direct` is called without a
    Flask request context."""

    def _handle_event(self, handler, message, namespace, sid, *args):
        entry = getattr(handler, DIRECT, None)
        if entry is None:
            return super()._handle_event(handler, message, namespace, sid, *args)
        if not self.server.get_environ(sid, namespace=namespace):
            return UNKNOWN_CLIENT
        return entry(sid, args)
