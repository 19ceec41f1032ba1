"""Which rooms a client may be put in, enforced where clients enter rooms: never another
client's sid room, and what the compiled ``rooms:`` policy (router/compile/policies.py) allows.

Enforced in the client manager (python-socketio's extension point for rooms; the
server hangs the guard on it, router/upstream/client_manager.py), so it holds for
every way a client enters a room: the ``room.join`` step, a plugin, or a class
namespace calling ``join_room(data['room'])``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from router.errors import RoomRefused
from router.runtime import current_event
from router.text import shown

if TYPE_CHECKING:
    from router.compile.policies import RoomsPolicy


# (namespace, event or None) -> the policy in force; set by the loader.
PolicyLookup = Callable[[str, "str | None"], "RoomsPolicy | None"]


class RoomsGuard:
    """Refuses sid rooms and what ``rooms_policy`` forbids, asked by the client manager before
    a client enters a room or a room is closed.

    ``is_client_sid(room)`` says whether a room name is a connected client's sid and
    ``rooms_of(sid, namespace)`` lists a client's rooms; the server hands in both,
    read from its client manager. ``rooms_policy(namespace, event)`` gives the
    policy for the event being handled (the current Flask-SocketIO event, if any);
    the server sets it once the dispatcher exists. Another server's clients are
    unknown here, so behind a message queue only ``rooms.allow`` keeps their sid
    rooms out.
    """

    def __init__(self, is_client_sid: Callable[[object], bool], rooms_of: Callable[[str, str], list],
                 rooms_policy: PolicyLookup | None = None):
        self.is_client_sid = is_client_sid
        self.rooms_of = rooms_of
        self.rooms_policy = rooms_policy

    def check_enter(self, sid: str, namespace: str, room) -> None:
        if room != sid and self.is_client_sid(room):
            raise RoomRefused(f"room {shown(room)} is another client's private room")
        policy = self.rooms_policy(namespace, event_handled(namespace)) if self.rooms_policy else None
        if policy is not None:
            policy.check(room, self.rooms_of(sid, namespace), sid)

    def check_close(self, room, namespace: str) -> None:
        # Closing a sid room would cut that client off from what is sent to it.
        if self.is_client_sid(room):
            raise RoomRefused(f"room {shown(room)} is a client's private room and cannot be closed")


def event_handled(namespace: str) -> str | None:
    """The event handled on ``namespace`` in this context, if any: the router's current event
    (router/runtime/current_event.py), else the one Flask-SocketIO is handling.

    ``request.namespace`` and ``request.event`` are Flask-SocketIO's documented request
    attributes, not an internal.
    """
    handled = current_event.current()
    if handled is not None:
        return handled.event if handled.namespace == namespace else None
    import flask

    if not flask.has_request_context() or getattr(flask.request, "namespace", None) != namespace:
        return None
    event = getattr(flask.request, "event", None)
    return event.get("message") if isinstance(event, dict) else None


