"""python-socketio's client manager: the router's hooks where clients connect and enter rooms, and
what its rooms table says.

A client manager is python-socketio's extension point for who is connected and in
which rooms (``client_manager=``); every message-queue manager is one. The router
subclasses whichever manager the config chooses with :class:`ManagerHooks`:

- python-socketio sends the CONNECT packet and then calls ``manager.connect``, so a
  hook there lets on_connect steps emit *after* the client's connect confirmation
  (a hand-written app that emits inside its connect handler sends before it).
- ``enter_room`` and ``close_room`` are where every way into a room passes (a step,
  a plugin, a class namespace's ``join_room``), so the rooms guard is asked there.
- ``basic_enter_room`` and ``basic_leave_room`` are where every change of the rooms
  table lands, whatever asked for it (a join, a leave, ``close_room`` member by member,
  a disconnect room by room, a message from another process): the presence tracker
  (router/runtime/presence.py) is told there, after the change.

The rooms table, ``manager.rooms[namespace][room][sid] = eio_sid`` with the room
``None`` holding every connected client, is read for the sid rooms and the number
of connected clients per namespace.

| module | name | why |
|---|---|---|
| socketio.base_manager | ``BaseManager.connect(sid, namespace)`` (overridden) | run ``after_connect`` once the CONNECT packet is out |
| socketio.manager, socketio.pubsub_manager | ``enter_room(sid, namespace, room, eio_sid)``, ``close_room(room, namespace)`` (overridden) | ask the rooms guard first |
| socketio.base_manager | ``basic_enter_room(sid, namespace, room, eio_sid)``, ``basic_leave_room(sid, namespace, room)`` (overridden) | tell ``room_watch`` (presence) after the change |
| socketio.base_manager | ``BaseManager.rooms`` (read) | which rooms are client sids; clients per namespace, at scrape time |
| socketio.base_manager | ``get_namespaces``, ``get_participants``, ``get_rooms``, ``is_connected`` | public methods, undocumented: every client, for a shutdown; a client's rooms |
| socketio.base_server | ``BaseServer.manager_initialized`` (set) | start the manager with the server, not at the first client |

tested with: python-socketio 5.18.1
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator

from router.upstream._contract import Needs, Seam

SEAM = Seam("client manager", {"python-socketio": "5.18.1"}, requires=[
    Needs("socketio.base_manager", "BaseManager.connect", ("self", "sid", "namespace"), exact=True),
    *(Needs(module, f"{cls}.enter_room", ("self", "sid", "namespace", "room", "eio_sid"), exact=True)
      for module, cls in (("socketio.manager", "Manager"), ("socketio.pubsub_manager", "PubSubManager"))),
    *(Needs(module, f"{cls}.close_room", ("self", "room", "namespace"), exact=True)
      for module, cls in (("socketio.manager", "Manager"), ("socketio.pubsub_manager", "PubSubManager"))),
    Needs("socketio.base_manager", "BaseManager.basic_enter_room",
          ("self", "sid", "namespace", "room", "eio_sid"), exact=True),
    Needs("socketio.base_manager", "BaseManager.basic_leave_room", ("self", "sid", "namespace", "room"),
          exact=True),
    Needs("socketio.base_manager", "BaseManager", attributes=("rooms", "server")),
    Needs("socketio.base_manager", "BaseManager.get_namespaces"),
    Needs("socketio.base_manager", "BaseManager.get_participants", ("namespace", "room")),
    Needs("socketio.base_manager", "BaseManager.get_rooms", ("sid", "namespace")),
    Needs("socketio.base_manager", "BaseManager.is_connected", ("sid", "namespace")),
    Needs("socketio.base_manager", "BaseManager.initialize"),
    Needs("socketio.base_server", "BaseServer", attributes=("manager", "manager_initialized")),
])

log = logging.getLogger("socketio_router")


class ManagerHooks:
    """Mixin for a python-socketio client manager class: the router's connect and rooms hooks.

    ``after_connect(sid, namespace)`` runs once a client is fully connected;
    ``rooms_guard.check_enter(sid, namespace, room)`` and ``.check_close(room, namespace)``
    raise to refuse a room before the manager changes anything. ``room_watch.entered(sid,
    namespace, room)`` and ``.left(...)`` hear of every room a client enters or leaves,
    once the manager has changed it (never of a client's sid room or the namespace itself).
    """

    after_connect: Callable[[str, str], None] | None = None
    rooms_guard: Any = None
    room_watch: Any = None

    def connect(self, sid, namespace):
        sid = super().connect(sid, namespace)
        if self.after_connect is not None and sid is not None:
            try:
                self.after_connect(sid, namespace)
            except Exception:  # a hook must never break python-socketio's connect handling
                log.exception("on_connect hook failed for %s on %s", sid, namespace)
        return sid

    def enter_room(self, sid, namespace, room, eio_sid=None):
        if self.rooms_guard is not None:
            self.rooms_guard.check_enter(sid, namespace, room)
        return super().enter_room(sid, namespace, room, eio_sid=eio_sid)

    def basic_enter_room(self, sid, namespace, room, eio_sid=None):
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if self.room_watch is not None and room is not None and room != sid:
            try:
                self.room_watch.entered(sid, namespace, room)
            except Exception:  # the client is in the room: a notice that failed must not undo it
                log.exception("presence: the join of %s to room %r of %s failed", sid, room, namespace)

    def basic_leave_room(self, sid, namespace, room):
        super().basic_leave_room(sid, namespace, room)
        if self.room_watch is not None and room is not None and room != sid:
            try:
                self.room_watch.left(sid, namespace, room)
            except Exception:  # a leave happens in a disconnect: python-socketio must finish it
                log.exception("presence: the leave of %s from room %r of %s failed", sid, room, namespace)

    def close_room(self, room, namespace):
        if self.rooms_guard is not None:
            self.rooms_guard.check_close(room, namespace)
        return super().close_room(room, namespace)


def with_hooks(base: type) -> type:
    """``base`` (a python-socketio manager class) with :class:`ManagerHooks`, under its own name."""
    return type(base.__name__, (ManagerHooks, base), {})


def is_client_sid(manager, room) -> bool:
    """Whether ``room`` is the sid of a client connected to this process, in any namespace:
    a sid from one namespace is no business of a room name in another."""
    if not isinstance(room, str):
        return False
    return any(room in clients for clients in
               (rooms.get(None, {}) for rooms in list(manager.rooms.values())))


def client_counts(manager) -> dict[str, int]:
    """Clients connected to this process, per namespace that has any."""
    return {namespace: len(rooms.get(None) or ())
            for namespace, rooms in list(manager.rooms.items())}


def connected_clients(manager) -> Iterator[tuple[str, str]]:
    """(namespace, sid) of every client connected to this process, from a snapshot."""
    for namespace in list(manager.get_namespaces()):
        for sid, _ in list(manager.get_participants(namespace, None)):
            yield namespace, sid


def start_manager(server) -> None:
    """Connect the manager of a python-socketio ``server`` now, not at the first client.

    python-socketio initializes its manager lazily, at the first Engine.IO
    connection; starting it with the server makes a process with no client yet
    receive (and log) the broker's state, and a missing monkey patch fail at startup.
    """
    if not server.manager_initialized:
        server.manager_initialized = True
        server.manager.initialize()
