"""What the scenario runner (router/cli/scenarios.py) reads from Flask-SocketIO's test client.

The test client answers what a client received, but not the packets a real client
would see on a refusal or an acknowledgement, and ``get_received()`` refuses to
answer once the server has disconnected the client. :class:`SentPackets` wraps
python-socketio's packet sender to record CONNECT_ERROR and ACK packets per
Engine.IO session; :func:`take_received` reads the test client's queue directly.

| module | name | why |
|---|---|---|
| socketio.server | ``Server._send_packet(eio_sid, pkt)`` (wrapped) | record refusals and acknowledgements per session |
| flask_socketio.test_client | ``SocketIOTestClient.__init__`` replaces ``_send_packet`` | so the wrapper goes on after each new test client |
| flask_socketio.test_client | ``SocketIOTestClient.eio_sid`` | the session a test client's packets are recorded under |
| flask_socketio.test_client | ``SocketIOTestClient.queue`` (read and filtered) | what a client received, after a disconnect too |

tested with: Flask-SocketIO 5.7.0, python-socketio 5.18.1
"""

from __future__ import annotations

from typing import Any

from router.upstream._contract import Needs, Seam

SEAM = Seam("scenario test client", {"Flask-SocketIO": "5.7.0", "python-socketio": "5.18.1"}, requires=[
    Needs("socketio.server", "Server._send_packet", ("self", "eio_sid", "pkt"), exact=True),
    Needs("flask_socketio.test_client", "SocketIOTestClient", ("app", "socketio", "namespace"),
          attributes=("eio_sid", "queue")),
    *(Needs("socketio.packet", kind) for kind in ("CONNECT_ERROR", "ACK", "BINARY_ACK")),
])


class SentPackets:
    """The CONNECT_ERROR and ACK packets a python-socketio ``server`` sends, per Engine.IO session."""

    def __init__(self, server):
        self.server = server
        self.refusals: dict[str, Any] = {}
        self.acks: dict[str, list] = {}

    def install(self) -> None:
        """Start recording; call it again after creating each test client, which replaces the
        sender with its own (the current one is wrapped)."""
        from socketio import packet

        send = self.server._send_packet

        def record(eio_sid, pkt):
            if pkt.packet_type == packet.CONNECT_ERROR:
                self.refusals[eio_sid] = pkt.data
            elif pkt.packet_type in (packet.ACK, packet.BINARY_ACK):
                self.acks[eio_sid] = list(pkt.data or [])
            return send(eio_sid, pkt)

        self.server._send_packet = record


def session_of(test_client) -> str:
    """The Engine.IO session id of a Flask-SocketIO test client."""
    return test_client.eio_sid


def take_received(test_client, namespace: str) -> list[dict]:
    """The messages the test client received on ``namespace``, removed from its queue: each
    ``{"name", "args", "namespace"}``, ``args`` a list for events and the value itself for
    ``send()`` messages."""
    queue = test_client.queue
    test_client.queue = [message for message in queue if message["namespace"] != namespace]
    return [message for message in queue if message["namespace"] == namespace]
