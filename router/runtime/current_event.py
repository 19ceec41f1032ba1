"""The Socket.IO event being handled in this greenlet or thread, for events handled without
Flask's request context.

Flask-SocketIO tells code that runs under an event handler which event it is through
``flask.request`` (``sid``, ``namespace``, ``event``). The router runs an event whose steps
do not need Flask's request context without one (router/upstream/lean_events.py), and sets
this instead: the rooms guard reads the event's ``rooms:`` policy from it and the JSON log
lines their sid, namespace and event. Kept by greenlet (eventlet, gevent) or thread, as
``threading.get_ident`` tells them apart: one small object per event, where a context
variable allocated four (bench/overhead.py --allocations).
"""

from __future__ import annotations

import threading


class CurrentEvent:
    """Which client sent which event on which namespace."""

    __slots__ = ("sid", "namespace", "event")

    def __init__(self, sid: str, namespace: str, event: str):
        self.sid = sid
        self.namespace = namespace
        self.event = event


# By greenlet or thread: threading.get_ident is the green one once eventlet or gevent has
# monkey patched, as the server does before it imports this.
_current: dict[int, CurrentEvent] = {}


def enter(sid: str, namespace: str, event: str) -> int:
    """Make ``event`` the current one; hand the key to :func:`leave` when it is handled."""
    key = threading.get_ident()
    _current[key] = CurrentEvent(sid, namespace, event)
    return key


def leave(key: int) -> None:
    _current.pop(key, None)


def current() -> CurrentEvent | None:
    """The event handled here without a Flask request context, or None (then ``flask.request``
    tells, inside a Flask-SocketIO handler)."""
    return _current.get(threading.get_ident())
