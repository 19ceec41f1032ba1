"""The Socket.IO event being handled in this greenlet or thread, for events handled without
Flask's request context.

Flask-SocketIO tells code that runs under an event handler which event it is through
``flask.request`` (``sid``, ``namespace``, ``event``). The router runs an event whose steps
do not need Flask's request context without one (router/upstream/lean_events.py), and sets
this instead: the rooms guard reads the event's ``rooms:`` policy from it and the JSON log
lines their sid, namespace and event. A context variable: each greenlet (eventlet, gevent)
and thread has its own, and setting one costs a fraction of a microsecond.
"""

from __future__ import annotations

from contextvars import ContextVar, Token


class CurrentEvent:
    """Which client sent which event on which namespace."""

    __slots__ = ("sid", "namespace", "event")

    def __init__(self, sid: str, namespace: str, event: str):
        self.sid = sid
        self.namespace = namespace
        self.event = event


_current: ContextVar[CurrentEvent | None] = ContextVar("socketio_router_event", default=None)


def enter(sid: str, namespace: str, event: str) -> Token:
    """Make ``event`` the current one; hand the token to :func:`leave` when it is handled."""
    return _current.set(CurrentEvent(sid, namespace, event))


def leave(token: Token) -> None:
    _current.reset(token)


def current() -> CurrentEvent | None:
    """The event handled here without a Flask request context, or None (then ``flask.request``
    tells, inside a Flask-SocketIO handler)."""
    return _current.get()
