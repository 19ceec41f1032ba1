"""Presence: who is in each room that ``rooms.presence`` tracks, and the notices of who comes and goes.

Fed by the client manager, where every way into and out of a room passes (the
``room.join`` / ``room.leave`` / ``room.close`` steps, a plugin, a class namespace's
``join_room``, a disconnect): router/upstream/client_manager.py calls
:meth:`Presence.entered` and :meth:`Presence.left` after python-socketio changed its
rooms table. Nothing here runs per message.

This process's members are kept here, and they are the truth about this process. A
store shares them with the other processes of a cluster (router/server/shared_rooms.py,
on Redis); without one, this process is the whole server. The store never blocks a
handler: it writes from a queue, and where it cannot answer, what this process knows
is the answer.

A member is one connection (``{"sid": ...}`` plus the identity ``fields``), or with
``key:`` one identity value: a user's connections in the room are one member, shown
with ``connections`` and without a sid. When a member appears in a room (its first
connection joins) the room's other members receive ``presence`` with ``action: join``;
when it disappears (its last connection leaves, is removed by ``room.close``, or
disconnects) they receive ``action: leave``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from functools import partial
from typing import Any, Callable, Iterable, Mapping, Protocol

from router.config.limits import PresenceConfig
from router.runtime.rooms import PolicyLookup, event_handled

log = logging.getLogger("socketio_router.presence")

NOTICE_EVENT = "presence"
KEYED = "k:"    # a member key made of an identity value
PER_SID = "s:"  # a member key made of a connection's sid


# An entry is what one process knows of one member of one room:
#   {"member": {...shown fields...}, "connections": n, "announce": bool}
Entry = dict
Then = Callable[[int], None]  # called with the connections other processes hold for that member


class PresenceStore(Protocol):
    """Where the other processes' members are; router/server/shared_rooms.py has the Redis one.

    ``put`` and ``remove`` write this process's entry of one member. For a member of one
    connection they are queued; for a keyed member (a user whose tabs other processes may
    hold too) they are made at once, and ``then(others)`` is answered before they return
    with the connections other processes hold, so the join or leave is announced while
    the step that made it runs, or not at all. Where the store cannot answer (known to be
    away: at once), ``others`` is 0: this process's view. ``members`` answers the entries
    of the other live processes, ``[(key, entry)]``, or ``[]`` when it cannot.
    """

    def put(self, namespace: str, room: str, key: str, entry: Entry, then: Then | None = None) -> None: ...

    def remove(self, namespace: str, room: str, key: str, room_empty: bool,
               then: Then | None = None) -> None: ...

    def members(self, namespace: str, room: str) -> list[tuple[str, Entry]]: ...


class _Member:
    """One member of one room, as this process holds it: what it shows and its connections here."""

    __slots__ = ("shown", "sids", "announce")

    def __init__(self, shown: dict, announce: bool):
        self.shown = shown
        self.sids: set[str] = set()
        self.announce = announce

    def entry(self) -> Entry:
        return {"member": self.shown, "connections": len(self.sids), "announce": self.announce}


def member_of(sid: str, identity: Mapping, presence: PresenceConfig) -> tuple[str, dict]:
    """(member key, what the member shows) for a connection with ``identity``.

    With ``key:`` a connection whose identity lacks that field is a member of its own, by sid.
    """
    shown = {name: identity[name] for name in presence.fields if name in identity}
    if presence.key is not None and identity.get(presence.key) is not None:
        return KEYED + str(identity[presence.key]), shown
    return PER_SID + sid, {"sid": sid, **shown}


def shown_member(key: str, entry: Entry) -> dict:
    """A member as clients see it: a keyed member carries its ``connections``."""
    if key.startswith(KEYED):
        return {**entry["member"], "connections": entry["connections"]}
    return dict(entry["member"])


def merged(entries: Iterable[tuple[str, Entry]]) -> list[dict]:
    """The members of one room, from every process's entries, sorted by key."""
    by_key: dict[str, Entry] = {}
    for key, entry in entries:
        known = by_key.get(key)
        if known is None:
            by_key[key] = dict(entry)
        else:
            known["connections"] += entry["connections"]
    return [shown_member(key, by_key[key]) for key in sorted(by_key, key=lambda k: k[len(KEYED):])]


class Presence:
    """The members of this process's tracked rooms, their notices, and the cluster's member lists.

    ``rooms_policy(namespace, event)`` gives the rooms policy in force (its ``presence``
    says whether a join is tracked, and how); ``identity_of(namespace, sid)`` a
    connection's identity; ``emit(event, data, namespace, to, skip_sid)`` sends a notice
    (to the room, through the message queue in a cluster). ``store``: the other
    processes, or None for a server of one process.
    """

    def __init__(self, rooms_policy: PolicyLookup, identity_of: Callable[[str, str], Mapping | None],
                 emit: Callable[..., None], store: PresenceStore | None = None):
        self.rooms_policy = rooms_policy
        self.identity_of = identity_of
        self.emit = emit
        self.store = store
        self._rooms: dict[tuple[str, str], dict[str, _Member]] = {}
        self._joined: dict[tuple[str, str], dict[str, str]] = {}  # (namespace, sid) -> {room: key}
        self._lock = threading.Lock()  # green under eventlet and gevent; held for dict work only
        # With a store, one change at a time reaches it in the order it happened here: a user's
        # tabs joining and leaving at once must leave the store with its last count.
        self._ordered = threading.RLock() if store is not None else contextlib.nullcontext()

    # -- fed by the client manager --------------------------------------------------------

    def entered(self, sid: str, namespace: str, room: Any) -> None:
        """``sid`` is now in ``room``: track it if the policy in force says so, announce a new member."""
        policy = self.rooms_policy(namespace, event_handled(namespace))
        presence = policy.presence if policy is not None else None
        if presence is None or not isinstance(room, str):
            return
        key, shown = member_of(sid, self.identity_of(namespace, sid) or {}, presence)
        with self._ordered:
            self._enter(sid, namespace, room, key, shown, presence.announce)

    def _enter(self, sid: str, namespace: str, room: str, key: str, shown: dict, announce: bool) -> None:
        with self._lock:
            joined = self._joined.setdefault((namespace, sid), {})
            if room in joined:
                return  # a repeated join announces nothing
            joined[room] = key
            members = self._rooms.setdefault((namespace, room), {})
            member = members.get(key)
            first = member is None
            if first:
                member = members[key] = _Member(shown, announce)
            member.sids.add(sid)
            entry = member.entry()
        then = None
        if first and member.announce:
            if key.startswith(KEYED):  # another process may hold this user already: the store says
                then = partial(self._joined_alone, namespace, room, key)
            else:  # a connection is a member no other process holds
                self._notify(namespace, room, key, entry, "join")
        self._share(self.store and self.store.put, then, namespace, room, key, entry)

    def left(self, sid: str, namespace: str, room: Any) -> None:
        """``sid`` is no longer in ``room``: announce the member if that was its last connection."""
        with self._ordered:
            self._leave(sid, namespace, room)

    def _leave(self, sid: str, namespace: str, room: Any) -> None:
        with self._lock:
            joined = self._joined.get((namespace, sid))
            if not joined or room not in joined:
                return
            key = joined.pop(room)
            if not joined:
                del self._joined[(namespace, sid)]
            members = self._rooms[(namespace, room)]
            member = members[key]
            member.sids.discard(sid)
            last = not member.sids
            if last:
                del members[key]
                if not members:
                    del self._rooms[(namespace, room)]
            entry = member.entry()
            room_empty = (namespace, room) not in self._rooms
        if not last:
            self._share(self.store and self.store.put, None, namespace, room, key, entry)
            return
        then = None
        if member.announce:
            if key.startswith(KEYED):
                then = partial(self._left_everywhere, namespace, room, key, entry)
            else:
                self._notify(namespace, room, key, entry, "leave")
        self._share(self.store and self.store.remove, then, namespace, room, key, room_empty)

    # -- asked by steps, the publish API and the metrics ----------------------------------

    def members(self, namespace: str, room: str) -> list[dict]:
        """The room's members across the cluster (this process's alone without a store), by key."""
        entries = self._local(namespace, room)
        if self.store is not None:
            entries += self.store.members(namespace, room)
        return merged(entries)

    def local_counts(self) -> dict[str, int]:
        """Members of tracked rooms with a connection to this process, per namespace (the gauge)."""
        with self._lock:
            counts: dict[str, int] = {}
            for (namespace, _), members in self._rooms.items():
                counts[namespace] = counts.get(namespace, 0) + len(members)
            return counts

    def local_entries(self) -> list[tuple[str, str, str, Entry]]:
        """(namespace, room, key, entry) of every member here: what a store writes back after an outage."""
        with self._lock:
            return [(namespace, room, key, member.entry())
                    for (namespace, room), members in self._rooms.items()
                    for key, member in members.items()]

    def gone(self, namespace: str, room: str, key: str, entry: Entry) -> None:
        """A member that another process held is gone with that process: tell the room."""
        if entry.get("announce"):
            self._notify(namespace, room, key, {**entry, "connections": 0}, "leave")

    # -- notices ----------------------------------------------------------------------------

    def _local(self, namespace: str, room: str) -> list[tuple[str, Entry]]:
        with self._lock:
            members = self._rooms.get((namespace, room)) or {}
            return [(key, member.entry()) for key, member in members.items()]

    @staticmethod
    def _share(write, then: Then | None, *args) -> None:
        """Hand a change to the store (``write``), or without one answer ``then``: nobody else."""
        if write:
            write(*args, then)
        elif then is not None:
            then(0)

    def _joined_alone(self, namespace: str, room: str, key: str, others: int) -> None:
        """The store's answer to a keyed member's first connection here: announce it if no other
        process holds it (and it has not left again meanwhile)."""
        if others:
            return
        with self._lock:
            member = (self._rooms.get((namespace, room)) or {}).get(key)
            entry = member.entry() if member is not None else None
        if entry is not None:
            self._notify(namespace, room, key, entry, "join")

    def _left_everywhere(self, namespace: str, room: str, key: str, entry: Entry, others: int) -> None:
        if not others:
            self._notify(namespace, room, key, entry, "leave")

    def _notify(self, namespace: str, room: str, key: str, entry: Entry, action: str) -> None:
        with self._lock:
            member = (self._rooms.get((namespace, room)) or {}).get(key)
            own = sorted(member.sids) if member is not None and action == "join" else None
        notice = {"room": room, "action": action, "member": shown_member(key, entry)}
        try:
            self.emit(NOTICE_EVENT, notice, namespace=namespace, to=room, skip_sid=own)
        except Exception:  # a notice must never break a join, a leave or a disconnect
            log.exception("presence: the %s notice of %s in room %r of %s failed", action, key,
                          room, namespace)
