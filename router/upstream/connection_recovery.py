"""Connection state recovery where python-socketio connects, emits and disconnects.

python-socketio has no connection state recovery (python-socketio #1258), and no
public seam where a CONNECT could keep an old sid or its answer carry a ``pid``.
router/runtime/recovery.py holds the logic; this module puts it in python-socketio's
path, on a server whose config turns recovery on (nothing here runs otherwise):

- ``Server._handle_connect`` (wrapped): a CONNECT whose auth payload holds ``pid``
  claims its session before python-socketio registers the client; the auth the
  connect handler sees has ``pid`` and ``offset`` taken out (a template showing
  ``auth`` must not leak the secret).
- ``pre_connect`` (overridden in :class:`RecoveringManager`): a claimed session's
  client is registered under its old sid, as python-socketio's own ``pre_connect``
  does it with a new one.
- ``Server._send_packet`` (wrapped): the CONNECT answer gets ``pid``; for a recovered
  client its rooms are entered and the missed packets sent first, as Node sends them.
- ``emit`` (overridden): every event packet without a callback gets its offset as the
  last argument, in the process that emits it (so a cluster's processes send the same
  offset); a volatile one is logged as not to be replayed.
- ``PubSubManager._handle_emit`` (overridden), and ``emit`` in process: while a recovered
  client's replay is read from a shared store (or, in the threading mode, while another
  thread may send), packets for it are held and sent after the replay, none twice.
- ``Server._handle_disconnect`` (wrapped): a client that dropped leaves its session
  behind, with its rooms, before python-socketio takes it out of them. A CONNECT with the
  ``pid`` of a client still connected here (its network changed before this process saw
  the old connection drop) drops that connection first, which keeps its session: Node
  connects such a client as new.

| module | name | why |
|---|---|---|
| socketio.server | ``Server._handle_connect(eio_sid, namespace, data)`` (wrapped) | claim the session a CONNECT asks back |
| socketio.server | ``Server._send_packet(eio_sid, pkt)`` (wrapped) | ``pid`` in the CONNECT answer; the replay before it |
| socketio.server | ``Server._handle_disconnect(eio_sid, namespace, reason)`` (wrapped) | keep the session of a dropped client |
| socketio.base_manager | ``BaseManager.pre_connect(eio_sid, namespace)`` (overridden, reimplemented for a given sid), ``.pending_connect``, ``basic_disconnect`` | the old sid |
| socketio.manager, socketio.pubsub_manager | ``emit(event, data, namespace, room, skip_sid, callback, to, **kwargs)`` (overridden) | the offset |
| socketio.pubsub_manager | ``PubSubManager._handle_emit(message)`` (overridden): a message's ``event``, ``data`` (binary parts in base64 after ``binary``), ``namespace``, ``room``, ``skip_sid``, ``callback`` | hold what arrives during a replay |
| socketio.packet | ``Packet(packet_type, data, namespace)``, ``CONNECT``, ``EVENT`` | the replayed packets |
| socketio.base_manager | ``eio_sid_from_sid(sid, namespace)`` | the old connection of a client back on a new one (dropped through router/upstream/engineio_sockets.py) |
| engineio.base_server | ``BaseServer.reason.TRANSPORT_CLOSE`` (documented) | the reason that old connection ends with |
| bidict | ``ValueDuplicationError`` | what ``pre_connect`` catches for a client already connected |

tested with: python-socketio 5.18.1
"""

from __future__ import annotations

import base64
import logging

from bidict import ValueDuplicationError
from socketio import packet
from socketio.pubsub_manager import PubSubManager

from router.delivery import sends_are_volatile
from router.upstream import engineio_sockets
from router.upstream._contract import Needs, Seam

SEAM = Seam("connection state recovery", {"python-socketio": "5.18.1"}, requires=[
    Needs("socketio.server", "Server._handle_connect", ("self", "eio_sid", "namespace", "data"), exact=True),
    Needs("socketio.server", "Server._send_packet", ("self", "eio_sid", "pkt"), exact=True),
    Needs("socketio.server", "Server._handle_disconnect", ("self", "eio_sid", "namespace", "reason"),
          exact=True),
    Needs("socketio.base_manager", "BaseManager.pre_connect", ("self", "eio_sid", "namespace"), exact=True),
    Needs("socketio.base_manager", "BaseManager.basic_disconnect", ("self", "sid", "namespace"), exact=False),
    Needs("socketio.base_manager", "BaseManager", attributes=("pending_connect", "rooms")),
    Needs("socketio.base_manager", "BaseManager.sid_from_eio_sid", ("eio_sid", "namespace")),
    Needs("socketio.base_manager", "BaseManager.eio_sid_from_sid", ("sid", "namespace")),
    Needs("engineio.base_server", "BaseServer.reason.TRANSPORT_CLOSE"),
    Needs("socketio.manager", "Manager.emit", ("self", "event", "data", "namespace", "room", "skip_sid",
                                              "callback", "to", "kwargs"), exact=True),
    Needs("socketio.pubsub_manager", "PubSubManager.emit", ("self", "event", "data", "namespace", "room",
                                                            "skip_sid", "callback", "to", "kwargs"), exact=True),
    Needs("socketio.packet", "Packet", ("packet_type", "data", "namespace"),
          attributes=("packet_type", "data", "namespace")),
    Needs("socketio.packet", "Packet.reconstruct_binary", ("data", "attachments")),
    Needs("socketio.pubsub_manager", "PubSubManager._handle_emit", ("self", "message"), exact=True),
    Needs("socketio.packet", "CONNECT"),
    Needs("socketio.packet", "EVENT"),
    Needs("bidict", "ValueDuplicationError"),
])

log = logging.getLogger("socketio_router")

RECOVERY_KEYS = ("pid", "offset")


class RecoveringManager:
    """Mixin for a python-socketio client manager: the old sid of a recovered client, the
    offset of every packet, and packets held during a replay read from a shared store.

    ``recovery`` is router/runtime/recovery.py's Recovery; set by :func:`install`.
    """

    recovery = None
    claims: dict | None = None  # (eio_sid, namespace) -> Restoring, while its CONNECT is handled

    def pre_connect(self, eio_sid, namespace):
        restoring = self.claims.pop((eio_sid, namespace), None) if self.claims else None
        if restoring is None:
            return super().pre_connect(eio_sid, namespace)
        sid = restoring.session.sid
        if sid in self.rooms.get(namespace, {}).get(None, {}):
            # Still connected here (two clients with one pid): the newcomer starts afresh.
            log.info("recovery on %s: %s is still connected; the new client connects as new", namespace, sid)
            return super().pre_connect(eio_sid, namespace)
        # python-socketio's pre_connect, with the old sid instead of a new one.
        try:
            self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        except ValueDuplicationError:
            return None  # this Engine.IO session is connected to the namespace already
        self.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
        self.pending_connect.setdefault(namespace, []).append(sid)
        self.recovery.begin(namespace, sid, restoring)
        return sid

    def emit(self, event, data, namespace=None, room=None, skip_sid=None, callback=None, to=None, **kwargs):
        recovery = self.recovery
        if callback is None and recovery is not None and recovery.covers(namespace or "/"):
            data = recovery.stamp(namespace or "/", event, data, to or room, skip_sid, sends_are_volatile())
            if recovery.holding and not isinstance(self, PubSubManager):
                # In process the emit is the delivery (a pub/sub manager's is _handle_emit, below).
                held = recovery.hold(namespace or "/", event, data, to or room, skip_sid, self.get_rooms)
                if held:
                    skip_sid = _with(skip_sid, held)
        return super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to,
                            **kwargs)

    def _handle_emit(self, message):
        recovery = self.recovery
        if recovery is not None and recovery.holding and message.get("callback") is None:
            held = recovery.hold(message.get("namespace") or "/", message["event"], _arguments(message),
                                 message.get("room"), message.get("skip_sid"), self.get_rooms)
            if held:
                message = {**message, "skip_sid": _with(message.get("skip_sid"), held)}
        return super()._handle_emit(message)

    def basic_disconnect(self, sid, namespace, **kwargs):
        super().basic_disconnect(sid, namespace, **kwargs)
        if self.recovery is not None:
            self.recovery.forget(namespace, sid)


def _with(skip, sids: list[str]) -> list[str]:
    """python-socketio's ``skip_sid`` (None, a sid or a list) with ``sids`` too."""
    return ([] if skip is None else [skip] if isinstance(skip, str) else list(skip)) + sids


def _arguments(message) -> tuple:
    """The event arguments of a message from the queue, as python-socketio's _handle_emit rebuilds them."""
    data = message.get("data")
    if message.get("binary"):
        data = packet.Packet.reconstruct_binary(data[0], [base64.b64decode(part) for part in data[1:]])
    return tuple(data) if isinstance(data, list) else (data,)


def with_recovery(manager_class: type) -> type:
    """``manager_class`` (a python-socketio manager class) with :class:`RecoveringManager`."""
    return type(manager_class.__name__, (RecoveringManager, manager_class), {})


def install(server, recovery) -> None:
    """Put ``recovery`` in the connects, CONNECT answers and disconnects of a python-socketio
    ``server`` whose manager was made :func:`with_recovery`."""
    manager = server.manager
    manager.recovery = recovery
    manager.claims = {}
    handle_connect = server._handle_connect
    send_packet = server._send_packet
    handle_disconnect = server._handle_disconnect

    def _handle_connect(eio_sid, namespace, data):
        name = namespace or "/"
        if not (recovery.covers(name) and isinstance(data, dict) and "pid" in data):
            return handle_connect(eio_sid, namespace, data)
        ghost = recovery.live_sid(name, data)
        if ghost is not None:
            # Its client is back before this process saw the old connection drop (a network that
            # changed under it): that connection is dead, and dropping it keeps its session.
            ghost_eio_sid = manager.eio_sid_from_sid(ghost, name)
            if ghost_eio_sid is not None and ghost_eio_sid != eio_sid \
                    and engineio_sockets.drop_session(server.eio, ghost_eio_sid,
                                                  server.eio.reason.TRANSPORT_CLOSE):
                log.info("recovery on %s: %s is back on a new connection; its old one is closed", name, ghost)
        restoring = recovery.claim(name, data)
        data = {key: value for key, value in data.items() if key not in RECOVERY_KEYS} or None
        if restoring is not None:
            manager.claims[(eio_sid, name)] = restoring
        try:
            return handle_connect(eio_sid, namespace, data)
        finally:
            manager.claims.pop((eio_sid, name), None)
            if restoring is not None:
                recovery.end(name, restoring.session.sid)

    def _send_packet(eio_sid, pkt):
        if pkt.packet_type != packet.CONNECT or not isinstance(pkt.data, dict) \
                or not recovery.covers(pkt.namespace or "/"):
            return send_packet(eio_sid, pkt)
        namespace, sid = pkt.namespace or "/", pkt.data.get("sid")
        restoring = recovery.restoring(namespace, sid)
        if restoring is None:
            pkt.data = {**pkt.data, "pid": recovery.connected(namespace, sid)}
            return send_packet(eio_sid, pkt)
        # A recovered client: its rooms, what it missed (in order), then its CONNECT answer.
        recovery.start_holding(namespace, sid)
        try:
            _enter_rooms(server, namespace, sid, restoring.session.rooms)
            for data in recovery.replay(restoring):
                send_packet(eio_sid, server.packet_class(packet.EVENT, data=data, namespace=namespace))
            pkt.data = {**pkt.data, "pid": recovery.connected(namespace, sid)}
            send_packet(eio_sid, pkt)
        finally:
            for data in recovery.stop_holding(namespace, sid, restoring):
                send_packet(eio_sid, server.packet_class(packet.EVENT, data=data, namespace=namespace))

    def _handle_disconnect(eio_sid, namespace, reason=None):
        name = namespace or "/"
        if recovery.covers(name):
            sid = manager.sid_from_eio_sid(eio_sid, name)
            if sid is not None and manager.is_connected(sid, name):
                rooms = [room for room in manager.get_rooms(sid, name) if room is not None]
                recovery.disconnected(name, sid, rooms, reason)
        return handle_disconnect(eio_sid, namespace, reason)

    server._handle_connect = _handle_connect
    server._send_packet = _send_packet
    server._handle_disconnect = _handle_disconnect


def _enter_rooms(server, namespace: str, sid: str, rooms) -> None:
    """Put a recovered client back in its rooms, each through the rooms guard."""
    for room in rooms:
        if room == sid:
            continue  # pre_connect entered its sid room
        try:
            server.enter_room(sid, room, namespace=namespace)
        except Exception as exc:  # the config may no longer allow the room
            log.info("recovery of %s on %s: room %r not entered again: %s", sid, namespace, room, exc)
