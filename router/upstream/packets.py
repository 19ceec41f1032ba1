"""Malformed Socket.IO packets: one log line and the sender's connection closed.

Left alone, python-socketio raises on a packet it cannot decode (truncated JSON,
an event that is not ``[name, ...]``, a binary placeholder pointing nowhere) and
engine.io logs a traceback, twice, for every such packet a client cares to send.
The reference Node server closes the connection of a client that sends an invalid
packet; so does the router. Well-formed packets pay one shape check, and outgoing
packets nothing: they are built by python-socketio's own constructor, with a
faster scan for binary data.

| module | name | why |
|---|---|---|
| socketio.packet | ``Packet.decode``, ``Packet.add_attachment`` (subclassed) | refuse shapes the protocol forbids, as :class:`MalformedPacket` |
| socketio.packet | ``Packet.data_is_binary`` (replaced) | the same answer without recursion, paid by every packet sent |
| socketio.server | ``Server._handle_eio_message`` (wrapped) | catch :class:`MalformedPacket` and close the sender's connection |
| socketio.base_server | ``BaseServer._binary_packet``, ``.environ`` | an empty packet outside a binary one; the sender's address for the log |
| engineio.server | ``Server.on("message")`` (public) | put the wrapper where python-socketio registered its handler |

tested with: python-socketio 5.18.1, python-engineio 4.15.1
"""

from __future__ import annotations

import logging

from socketio import packet

from router.upstream._contract import Needs, Seam

SEAM = Seam("socket.io packets", {"python-socketio": "5.18.1", "python-engineio": "4.15.1"}, requires=[
    Needs("socketio.packet", "Packet.decode", ("self", "encoded_packet"), exact=True),
    Needs("socketio.packet", "Packet.add_attachment", ("self", "attachment"), exact=True),
    Needs("socketio.packet", "Packet.data_is_binary", ("data",)),
    Needs("socketio.packet", "Packet", ("packet_type", "data", "namespace", "id", "binary",
                                        "encoded_packet"), attributes=("packet_type", "data")),
    *(Needs("socketio.packet", kind) for kind in ("CONNECT", "DISCONNECT", "EVENT", "ACK",
                                                  "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK")),
    Needs("socketio.base_server", "BaseServer", ("serializer",), attributes=("_binary_packet", "environ", "eio")),
    Needs("socketio.server", "Server._handle_eio_message", ("self", "eio_sid", "data"), exact=True),
    Needs("engineio.base_server", "BaseServer.on", ("event", "handler")),
    Needs("engineio.server", "Server.disconnect", ("sid",)),
])

log = logging.getLogger("socketio_router")


class MalformedPacket(ValueError):
    """A packet no Socket.IO client sends; the connection it came on is closed."""


def has_binary(data) -> bool:
    """Whether ``data`` holds bytes anywhere in its lists and dicts, as python-socketio's
    ``Packet.data_is_binary`` answers; without recursion or a list per level, and
    stopping at the first bytes found. Every packet sent pays it."""
    if isinstance(data, (bytes, bytearray)):
        return True
    if isinstance(data, list):
        pending = list(data)
    elif isinstance(data, dict):
        pending = list(data.values())
    else:
        return False
    while pending:
        item = pending.pop()
        if isinstance(item, (bytes, bytearray)):
            return True
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
    return False


class CheckedPacket(packet.Packet):
    """python-socketio's packet (JSON, binary attachments) that refuses shapes the protocol forbids."""

    data_is_binary = staticmethod(has_binary)

    def decode(self, encoded_packet):
        try:
            attachments = super().decode(encoded_packet)
        except (ValueError, TypeError, IndexError, RecursionError) as exc:
            raise MalformedPacket(f"cannot decode: {exc}") from None
        kind = self.packet_type
        if kind in (packet.EVENT, packet.BINARY_EVENT):
            if not (isinstance(self.data, list) and self.data and isinstance(self.data[0], str)):
                raise MalformedPacket("an event must be a list starting with the event name, a string")
        elif kind in (packet.ACK, packet.BINARY_ACK):
            if not isinstance(self.data, list):
                raise MalformedPacket("an acknowledgement must carry a list")
        elif kind == packet.CONNECT_ERROR:
            raise MalformedPacket("clients do not send CONNECT_ERROR")
        elif kind not in (packet.CONNECT, packet.DISCONNECT):
            raise MalformedPacket(f"unknown packet type {kind!r}")
        return attachments

    def add_attachment(self, attachment):
        try:
            return super().add_attachment(attachment)
        except (ValueError, TypeError, IndexError, KeyError, RecursionError) as exc:
            raise MalformedPacket(f"bad binary attachment: {exc}") from None


def guard_packets(server) -> None:
    """Make a python-socketio ``server`` (built with ``serializer=CheckedPacket``) close the
    connection of a client that sends a malformed packet, logging one line for it."""
    handle = server._handle_eio_message

    def on_message(eio_sid, data):
        try:
            if not data and eio_sid not in server._binary_packet:
                # python-socketio would not decode it and take it for an EVENT without data.
                raise MalformedPacket("empty packet")
            return handle(eio_sid, data)
        except MalformedPacket as exc:
            environ = server.environ.get(eio_sid) or {}
            log.warning("malformed packet from %s (%s): %s; closing its connection", eio_sid,
                        environ.get("REMOTE_ADDR", "?"), exc)
            server._binary_packet.pop(eio_sid, None)
            server.eio.disconnect(eio_sid)

    server.eio.on("message", on_message)
