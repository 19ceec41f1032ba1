"""The Socket.IO event being handled in this greenlet or thread, for events handled without
Flask's request context.

Flask-SocketIO tells code that runs under an event handler which event it is through
``flask.request`` (``sid``, ``namespace``, ``event``). The router runs an event whose steps
do not need Flask's request context without one (router/upstream/lean_events.py), and sets
this instead: the rooms guard reads the event's ``rooms:`` policy from it and the JSON log
lines their sid, namespace and event. Kept by greenlet: eventlet's and gevent's green threads
are greenlets, and each OS thread (the threading mode) runs its own main greenlet.
``greenlet.getcurrent`` tells them apart at a third of what the monkey-patched
``threading.get_ident`` costs, and a tuple per event is cheaper to make than an object
(bench/overhead.py --instructions); readers, a few per event at most, get the object.
"""

from __future__ import annotations

from greenlet import getcurrent  # installed with eventlet, a dependency of the router


class CurrentEvent:
    """Which client sent which event on which namespace."""

    __slots__ = ("sid", "namespace", "event")

    def __init__(self, sid: str, namespace: str, event: str):
        self.sid = sid
        self.namespace = namespace
        self.event = event


# (sid, namespace, event) by greenlet; an entry holds its greenlet until the event is handled.
_current: dict = {}


def enter(sid: str, namespace: str, event: str):
    """Make ``event`` the current one; hand the key to :func:`leave` when it is handled."""
    key = getcurrent()
    _current[key] = (sid, namespace, event)
    return key


def leave(key) -> None:
    _current.pop(key, None)


def current() -> CurrentEvent | None:
    """The event handled here without a Flask request context, or None (then ``flask.request``
    tells, inside a Flask-SocketIO handler)."""
    entry = _current.get(getcurrent())
    return None if entry is None else CurrentEvent(*entry)
