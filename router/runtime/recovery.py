"""Connection state recovery: the sessions that dropped, the packets they may have missed.

Node socket.io 4.6's protocol, which socket.io-client (>= 4.6) speaks by itself:

- the CONNECT answer of a namespace carries a private session id, ``pid``, beside ``sid``;
- every EVENT packet sent to a client carries an offset as its last argument (not one that
  waits for an ack, which cannot be replayed), and the client keeps the last offset it
  handled;
- a client that lost its connection sends ``{pid, offset}`` in its next CONNECT's auth
  payload. Within ``max_disconnection`` of the drop it gets its old sid, rooms and
  identity, then every packet addressed to it after that offset (to its sid, its rooms,
  or everyone), in order, then its CONNECT answer with ``pid`` again: socket.io-client
  sets ``socket.recovered``. An unknown or expired ``pid``, or an offset the log no
  longer holds, connects as new.

This module is the part that knows no Socket.IO internals: :class:`Recovery` numbers
the packets and decides, a store keeps them (:class:`MemoryStore` here, one process;
router/server/recovery_store.py on Redis, the cluster), and
router/upstream/connection_recovery.py puts it where python-socketio connects,
emits and disconnects.

Four things differ from Node, all for the client's sake:

- a client back on a new connection before this process saw its old one drop recovers
  (router/upstream/connection_recovery.py drops the old one first); Node connects it as new;
- a volatile packet carries an offset too, but is not replayed: socket.io-client takes any
  string last argument for the offset, so after Node's volatile ``"typing"`` its client
  asks for an offset no log holds and connects as new;
- a client that had received nothing yet has no offset to send: Node connects it as new,
  here it recovers from the moment it connected;
- a replay larger than the client's outgoing queue may hold (``max_queued_bytes_per_client``,
  ``max_queued_messages_per_client``) would disconnect it as a slow consumer at once, so
  such a client connects as new instead (logged).
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from router.runtime.metrics import os_lock

log = logging.getLogger("socketio_router")

# The reasons of a drop the client did not ask for (python-engineio's, and the graceful stop's
# with shutdown_reconnect): Node's RECOVERABLE_DISCONNECT_REASONS. A client's own disconnect, the
# server's disconnect step and a slow consumer (its replay would flood it again) end the session.
SERVER_SHUTTING_DOWN = "server shutting down"
RECOVERABLE_REASONS = frozenset({"transport close", "transport error", "ping timeout", SERVER_SHUTTING_DOWN})


class NotRecovered(Exception):
    """A session a CONNECT asked back cannot be recovered; ``outcome`` says why, for the metric:
    ``unknown`` (no such pid, or expired), ``too_old`` (the log no longer reaches its offset),
    ``too_large`` (more than the client's queue holds)."""

    def __init__(self, outcome: str):
        super().__init__(outcome)
        self.outcome = outcome


OUTCOMES = ("recovered", "unknown", "too_old", "too_large", "failed")


@dataclass
class Session:
    """What a dropped client gets back. ``state`` is the router's own (identity, event count);
    ``start`` is the log position when it connected, where a client without an offset resumes."""

    pid: str
    sid: str
    namespace: str
    rooms: list[str]
    state: dict | None
    start: str
    disconnected_at: float = 0.0


@dataclass
class Restoring:
    """A session being recovered: the packets it missed, as far as the log was read (``last``)."""

    session: Session
    missed: list[list] = field(default_factory=list)
    offsets: set[str] = field(default_factory=set)
    last: str | None = None

    def take(self, offset: str, data: list | None, to: Any, skip: Any) -> bool:
        """Read the log entry at ``offset`` (``data`` None: a volatile packet's place): whether
        it is a packet the session missed, which the caller then replays."""
        self.last = offset
        if data is None or not addressed_to(self.session.rooms, to, skip):
            return False
        self.offsets.add(offset)
        return True


def addressed_to(rooms: Iterable[str], to: Any, skip: Any) -> bool:
    """Whether a packet sent to ``to`` (None: everyone; a room or sid; a list of them), except
    the sids in ``skip``, reached a client in ``rooms`` (its sid included): Node's
    ``shouldIncludePacket``."""
    rooms = set(rooms)
    if to is not None:
        targets = [to] if isinstance(to, str) else to
        if not rooms.intersection(targets):
            return False
    if skip is None:
        return True
    skipped = [skip] if isinstance(skip, str) else skip
    return not rooms.intersection(skipped)


def packet_size(data: list) -> int:
    """About what ``data`` weighs on the wire, for the log's byte cap: the length of its repr,
    which C computes without an encoder object (a JSON dump with options costs several times
    more) and which is within a few bytes of the JSON for text and numbers."""
    return len(repr(data))


@dataclass
class _Entry:
    number: int
    offset: str
    at: float
    size: int
    to: Any
    skip: Any
    data: list | None  # None: a volatile packet, which holds its place in the log but is not replayed


class MemoryStore:
    """The sessions and packet log of one process, in memory.

    Each namespace's log keeps the newest ``max_packets`` packets and ``max_bytes`` bytes,
    none older than ``window`` seconds; sessions expire ``window`` seconds after their drop.
    Everything here runs without yielding, so a recovery in this process cannot interleave
    with a send.
    """

    shared = False  # a client that comes back to another process does not recover

    def __init__(self, window: float, max_packets: int, max_bytes: int, clock: Callable[[], float] = time.time):
        self.window = window
        self.max_packets = max_packets
        self.max_bytes = max_bytes
        self.clock = clock
        # Offsets of an earlier process (or another one) must not find this one's packets.
        self._epoch = secrets.token_hex(3)
        self._logs: dict[str, deque[_Entry]] = {}
        self._bytes: dict[str, int] = {}
        self._last: dict[str, int] = {}  # the number of the newest packet ever logged, per namespace
        self._sessions: dict[str, Session] = {}
        # An OS lock even under gevent or eventlet: nothing here yields, so no greenlet waits on it,
        # and threads (the threading mode) still exclude each other; a green lock costs more.
        self._lock = os_lock()

    # -- the log --------------------------------------------------------------------------

    def append(self, namespace: str, data: list, to: Any, skip: Any, replay: bool = True) -> str:
        """Log the packet ``data`` (``[event, *args]``) and return its offset, which ``data`` gets
        appended here; without ``replay`` (volatile) only its place is kept."""
        now = self.clock()
        with self._lock:
            entries = self._logs.get(namespace)
            if entries is None:
                entries = self._logs[namespace] = deque()
                self._bytes[namespace] = 0
            number = self._last[namespace] = self._last.get(namespace, 0) + 1
            offset = f"{self._epoch}.{number:x}"
            data.append(offset)
            entry = (_Entry(number, offset, now, packet_size(data), to, skip, data) if replay
                     else _Entry(number, offset, now, 0, None, None, None))
            entries.append(entry)
            self._bytes[namespace] += entry.size
            oldest = now - self.window
            while entries and (len(entries) > self.max_packets or self._bytes[namespace] > self.max_bytes
                               or entries[0].at < oldest):
                self._bytes[namespace] -= entries.popleft().size
        return offset

    def position(self, namespace: str) -> str:
        """The log's current end: a client that connects now missed nothing before it."""
        return f"{self._epoch}.{self._last.get(namespace, 0):x}"

    def _after(self, namespace: str, offset: str) -> list[_Entry] | None:
        """The entries after ``offset``; None if the log does not reach back to it."""
        epoch, _, number = offset.partition(".")
        try:
            number = int(number, 16)
        except ValueError:
            return None
        last = self._last.get(namespace, 0)
        if epoch != self._epoch or not 0 <= number <= last:
            return None
        entries = self._logs.get(namespace) or ()
        # Everything after the offset must still be here: the log starts at most one past it.
        first = entries[0].number if entries else last + 1
        if number < first - 1:
            return None
        return list(itertools.islice(entries, number - first + 1, None))

    # -- sessions -------------------------------------------------------------------------

    def persist(self, session: Session) -> None:
        session.disconnected_at = self.clock()
        with self._lock:
            self._sessions[session.pid] = session
            self._expire(session.disconnected_at)

    def _expire(self, now: float) -> None:
        # Sessions are added in time order, so the expired ones are at the front of the dict.
        oldest = now - self.window
        while self._sessions:
            pid, session = next(iter(self._sessions.items()))
            if session.disconnected_at >= oldest:
                break
            del self._sessions[pid]

    def claim(self, namespace: str, pid: str, offset: str | None, max_bytes: int | None,
              max_packets: int | None) -> Restoring | None:
        """The session ``pid`` of ``namespace`` with what it missed after ``offset`` (its start
        if None), taken out of the store: a session recovers once. Raises :class:`NotRecovered`
        if it is unknown, expired, or cannot be replayed (see the module's doc)."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            session = self._sessions.get(pid)
            if session is None or session.namespace != namespace:
                raise NotRecovered("unknown")
            del self._sessions[pid]
            entries = self._after(namespace, offset if offset is not None else session.start)
            if entries is None:
                log.info("recovery of %s on %s: offset %s is no longer in the log (max_buffered_packets, "
                         "max_buffered_bytes, max_disconnection); it connects as new", session.sid,
                         namespace, offset)
                raise NotRecovered("too_old")
            restoring = Restoring(session)
            size = 0
            for entry in entries:
                if restoring.take(entry.offset, entry.data, entry.to, entry.skip):
                    restoring.missed.append(entry.data)
                    size += entry.size
        check_fits(len(restoring.missed), size, max_packets, max_bytes, session, namespace)
        return restoring

    def more(self, restoring: Restoring) -> list[list]:
        """Packets logged for ``restoring`` since it was claimed: none, in this store."""
        return []


def check_fits(packets: int, size: int, max_packets: int | None, max_bytes: int | None, session: Session,
               namespace: str) -> None:
    """Raise :class:`NotRecovered` (logged) unless a replay fits the client's outgoing queue."""
    if (max_packets is None or packets <= max_packets) and (max_bytes is None or size <= max_bytes):
        return
    log.warning("recovery of %s on %s: it missed %s packets (%s bytes), more than its outgoing queue "
                "holds (server.max_queued_messages_per_client, max_queued_bytes_per_client); it "
                "connects as new", session.sid, namespace, f"{packets:,}", f"{size:,}")
    raise NotRecovered("too_large")


@dataclass
class _Live:
    pid: str
    start: str


class Recovery:
    """Connection state recovery for the namespaces of one server (see the module's doc).

    ``covers(namespace)`` says whether it covers a namespace (the config's in force, not the
    Admin UI's);
    ``state_of(namespace, sid)`` gives the router's own state of a connection to keep
    with its session (None for a class namespace's); ``replay_caps`` are a client's
    outgoing queue caps, (messages, bytes).
    """

    def __init__(self, store, covers: Callable[[str], bool], skip_auth: bool,
                 state_of: Callable[[str, str], dict | None] = lambda namespace, sid: None,
                 replay_caps: tuple[int | None, int | None] = (None, None),
                 on_outcome: Callable[[str, str], None] = lambda namespace, outcome: None,
                 threads: bool = False):
        self.store = store
        # Sends may run in other threads during a recovery (the threading mode): hold them too.
        self.threads = threads
        self.on_outcome = on_outcome  # (namespace, one of OUTCOMES), for the metrics
        self.covers = covers
        self.skip_auth = skip_auth
        self.state_of = state_of
        self.replay_caps = replay_caps
        self._live: dict[tuple[str, str], _Live] = {}
        self._by_pid: dict[str, tuple[str, str]] = {}  # pid -> (namespace, sid) of a live session
        self._restoring: dict[tuple[str, str], Restoring] = {}
        self._held: dict[tuple[str, str], list[list]] = {}

    # -- emits ------------------------------------------------------------------------------

    def stamp(self, namespace: str, event: str, data: Any, to: Any, skip: Any, volatile: bool = False) -> tuple:
        """``data`` as python-socketio's emit takes it (a tuple: several arguments), with the
        offset of the packet, now logged, as one more argument (a volatile one is not replayed)."""
        if isinstance(data, tuple):
            packet = [event, *data]
        elif data is None:
            packet = [event]
        else:
            packet = [event, data]
        self.store.append(namespace, packet, to, skip, replay=not volatile)
        return tuple(packet[1:])

    # -- connects ---------------------------------------------------------------------------

    def claim(self, namespace: str, auth: Any) -> Restoring | None:
        """The session the auth payload of a CONNECT asks back, if it can be recovered."""
        if not isinstance(auth, dict):
            return None
        pid, offset = auth.get("pid"), auth.get("offset")
        if not isinstance(pid, str) or not (offset is None or isinstance(offset, str)):
            return None
        max_packets, max_bytes = self.replay_caps
        try:
            restoring = self.store.claim(namespace, pid, offset, max_bytes, max_packets)
        except NotRecovered as refusal:
            self.on_outcome(namespace, refusal.outcome)
            return None
        except Exception:  # a store that failed recovers nothing: the client connects as new
            log.exception("recovery on %s: reading the session failed; the client connects as new", namespace)
            self.on_outcome(namespace, "failed")
            return None
        self.on_outcome(namespace, "recovered")
        return restoring

    def restoring(self, namespace: str, sid: str) -> Restoring | None:
        """The session ``sid`` is recovering while its connect runs, if it is."""
        return self._restoring.get((namespace, sid))

    def begin(self, namespace: str, sid: str, restoring: Restoring) -> None:
        self._restoring[(namespace, sid)] = restoring

    def end(self, namespace: str, sid: str) -> None:
        self._restoring.pop((namespace, sid), None)
        self._held.pop((namespace, sid), None)

    def replay(self, restoring: Restoring) -> list[list]:
        """What a recovered client missed, in order: what its claim found, and (from a shared
        store) what was logged since."""
        missed = restoring.missed
        try:
            more = self.store.more(restoring)
        except Exception:
            log.exception("recovery of %s on %s: reading the log failed; it gets what was read before",
                          restoring.session.sid, restoring.session.namespace)
            more = []
        return missed + more if more else missed

    def connected(self, namespace: str, sid: str) -> str:
        """The pid of the CONNECT answer: the recovered session's, or a new one."""
        restoring = self._restoring.get((namespace, sid))
        if restoring is not None:
            pid, start = restoring.session.pid, restoring.session.start
        else:
            pid, start = secrets.token_urlsafe(16), self.store.position(namespace)
        self._live[(namespace, sid)] = _Live(pid, start)
        self._by_pid[pid] = (namespace, sid)
        return pid

    def live_sid(self, namespace: str, auth: Any) -> str | None:
        """The sid still connected here whose ``pid`` a CONNECT's auth payload holds: its client
        is back on a new connection before this process saw the old one drop."""
        pid = auth.get("pid") if isinstance(auth, dict) else None
        live = self._by_pid.get(pid) if isinstance(pid, str) else None
        return live[1] if live is not None and live[0] == namespace else None

    # -- packets that arrive while a replay is read -----------------------------------------

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def start_holding(self, namespace: str, sid: str) -> None:
        """From now until :meth:`stop_holding`, packets for ``sid`` are kept back: a shared
        store's replay is read over the network, and threads send while it is sent. Green
        threads in one process do not switch during a recovery: nothing to hold there."""
        if self.store.shared or self.threads:
            self._held[(namespace, sid)] = []

    def hold(self, namespace: str, event: str, data: Any, to: Any, skip: Any,
             rooms_of: Callable[[str, str], Iterable[str]]) -> list[str]:
        """Keep back the packet for the held clients it is addressed to; their sids (for the
        caller to skip in its delivery)."""
        held = []
        for (held_namespace, sid), packets in self._held.items():
            if held_namespace == namespace and addressed_to(rooms_of(sid, namespace), to, skip):
                args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
                packets.append([event, *args])
                held.append(sid)
        return held

    def stop_holding(self, namespace: str, sid: str, restoring: Restoring) -> list[list]:
        """The packets kept back for ``sid``, in order, less those its replay already sent."""
        packets = self._held.pop((namespace, sid), None) or []
        replayed = restoring.offsets
        return [data for data in packets
                if not (replayed and len(data) > 1 and isinstance(data[-1], str) and data[-1] in replayed)]

    # -- disconnects ------------------------------------------------------------------------

    def disconnected(self, namespace: str, sid: str, rooms: list[str], reason: Any) -> None:
        """Keep the session of a client that dropped (see RECOVERABLE_REASONS) for its return."""
        live = self._live.get((namespace, sid))
        if live is None or reason not in RECOVERABLE_REASONS:
            return
        try:
            self.store.persist(Session(live.pid, sid, namespace, rooms, self.state_of(namespace, sid),
                                       live.start))
        except Exception:
            log.exception("recovery on %s: keeping the session of %s failed; it will connect as new",
                          namespace, sid)

    def forget(self, namespace: str, sid: str) -> None:
        """``sid`` left ``namespace`` (whatever the reason): nothing live of it is kept."""
        live = self._live.pop((namespace, sid), None)
        if live is not None:
            self._by_pid.pop(live.pid, None)
