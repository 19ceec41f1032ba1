"""Which rooms a client may be put in, enforced where clients enter rooms: never another
client's sid room, and what the compiled ``rooms:`` policy (router/compile/policies.py) allows.

Enforced in the client manager (python-socketio's extension point for rooms),
so it holds for every way a client enters a room: the ``room.join`` step, a
plugin, or a class namespace calling ``join_room(data['room'])``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from router.errors import RoomRefused
from router.text import shown

if TYPE_CHECKING:
    from router.compile.policies import RoomsPolicy


# (namespace, event or None) -> the policy in force; set by the loader.
PolicyLookup = Callable[[str, "str | None"], "RoomsPolicy | None"]


class RoomsGuardMixin:
    """For a python-socketio client manager: refuses sid rooms and what ``rooms_policy`` forbids.

    ``rooms_policy(namespace, event)`` gives the policy for the event being handled
    (the current Flask-SocketIO event, if any). Another server's clients are unknown
    here, so behind a message queue only ``rooms.allow`` keeps their sid rooms out.
    """

    rooms_policy: PolicyLookup | None = None

    def enter_room(self, sid, namespace, room, eio_sid=None):
        if room != sid and self._is_client_sid(room):
            raise RoomRefused(f"room {shown(room)} is another client's private room")
        policy = self.rooms_policy(namespace, _current_event(namespace)) if self.rooms_policy else None
        if policy is not None:
            policy.check(room, self.get_rooms(sid, namespace), sid)
        return super().enter_room(sid, namespace, room, eio_sid=eio_sid)

    def close_room(self, room, namespace):
        # Closing a sid room would cut that client off from what is sent to it.
        if self._is_client_sid(room):
            raise RoomRefused(f"room {shown(room)} is a client's private room and cannot be closed")
        return super().close_room(room, namespace)

    def _is_client_sid(self, room) -> bool:
        if not isinstance(room, str):
            return False
        # Every namespace: a sid from one namespace is no business of a room name in another.
        return any(room in clients for clients in
                   (rooms.get(None, {}) for rooms in list(self.rooms.values())))


def _current_event(namespace: str) -> str | None:
    """The event Flask-SocketIO is handling on ``namespace`` in this context, if any."""
    import flask

    if not flask.has_request_context() or getattr(flask.request, "namespace", None) != namespace:
        return None
    event = getattr(flask.request, "event", None)
    return event.get("message") if isinstance(event, dict) else None


