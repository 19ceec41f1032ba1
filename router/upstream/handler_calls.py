"""How python-socketio and Flask-SocketIO call the router's handlers, where the router depends on
more than their documented API.

- Flask-SocketIO runs each handler inside ``app.request_context(environ)`` of the
  connection's environ, found under ``environ["flask.app"]``, and sets
  ``request.sid``, ``request.namespace`` and ``request.event``. The on_connect steps
  run after the connect confirmation, outside any handler, so
  :func:`event_context` builds that context the same way (without the managed
  session, which Flask-SocketIO keeps in the environ under
  :data:`MANAGED_SESSION`).
- python-socketio routes an EVENT packet named "connect" or "disconnect" to the
  connect or disconnect handler. The real calls can be told apart:
  :func:`is_handshake_connect` (python-socketio passes the handshake environ itself,
  which Flask-SocketIO puts in ``request.event["args"]``) and
  :func:`client_is_leaving` (python-socketio marks a leaving client before calling
  the disconnect handler).
- A handler of the catch-all namespace answers :func:`not_handled`, python-socketio's
  sentinel for "no handler": no ACK is sent for it.

| module | name | why |
|---|---|---|
| flask_socketio | ``environ["flask.app"]`` (set by ``_SocketIOMiddleware``) | the app whose request context an event runs in |
| flask_socketio | ``SocketIO._handle_event``: ``environ["saved_session"]``, ``request.sid/.namespace/.event`` | the context a handler sees, built for the on_connect steps; the managed session's key |
| socketio.server | ``Server._handle_connect`` passes ``environ`` as the first argument | a real connect, not an EVENT packet named "connect" |
| socketio.base_manager | ``pre_disconnect`` before the disconnect handler, ``is_connected`` | a real disconnect, not an EVENT packet named "disconnect" |
| socketio.base_server | ``BaseServer.not_handled`` | what a catch-all namespace answers for an event it does not handle |

tested with: Flask-SocketIO 5.7.0, python-socketio 5.18.1
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

import flask

from router.upstream._contract import Needs, Seam

SEAM = Seam("handler calls", {"Flask-SocketIO": "5.7.0", "python-socketio": "5.18.1"}, requires=[
    Needs("flask_socketio", "_SocketIOMiddleware.__call__", ("self", "environ", "start_response"), exact=True),
    Needs("flask_socketio", "SocketIO._handle_event", ("self", "handler", "message", "namespace", "sid", "args"),
          exact=True),
    Needs("flask_socketio", "SocketIO", attributes=("manage_session", "server")),
    Needs("socketio.server", "Server._handle_connect", ("self", "eio_sid", "namespace", "data"), exact=True),
    Needs("socketio.server", "Server._trigger_event", ("self", "event", "namespace", "args"), exact=True),
    Needs("socketio.base_manager", "BaseManager.pre_disconnect", ("sid", "namespace")),
    Needs("socketio.base_manager", "BaseManager.is_connected", ("sid", "namespace")),
    Needs("socketio.base_server", "BaseServer", attributes=("not_handled",)),
])

FLASK_APP = "flask.app"
# Flask-SocketIO's copy of the session, kept in the connection's environ from its first event.
MANAGED_SESSION = "saved_session"


def event_context(environ: dict | None, sid: str, namespace: str, message: str,
                  args: tuple = ()) -> ContextManager | None:
    """The request context Flask-SocketIO gives a handler of ``message`` from client ``sid``,
    for code that runs outside a handler; None when no app served ``environ``."""
    app = environ.get(FLASK_APP) if environ else None
    if app is None:
        return None
    return _event_context(app, environ, sid, namespace, message, args)


@contextlib.contextmanager
def _event_context(app, environ, sid, namespace, message, args):
    with app.request_context(environ):
        flask.request.sid = sid
        flask.request.namespace = namespace
        flask.request.event = {"message": message, "args": args}
        yield


def is_handshake_connect() -> bool:
    """In a connect handler: whether python-socketio called it for a handshake. An EVENT packet
    named "connect" can only carry JSON, never the connection's environ."""
    args = (getattr(flask.request, "event", None) or {}).get("args") or ()
    return bool(args) and args[0] is flask.request.environ


def client_is_leaving(manager, sid: str, namespace: str) -> bool:
    """In a disconnect handler: whether python-socketio called it for a client that is leaving
    (marked so before the call), not for an EVENT packet named "disconnect"."""
    return not manager.is_connected(sid, namespace)


def not_handled(server):
    """python-socketio's answer for an event no handler took: it sends no ACK for it."""
    return server.not_handled
