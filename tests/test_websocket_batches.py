"""What Engine.IO's WebSocket writer takes from a queue at once goes out in one write
(router/upstream/websocket_frames.py ``Batch``), in process over a socket pair: the frames a
client parses are the messages in their order, and a long-polling response would read the same.

The same path with real servers and clients is in tests/test_websocket_frames.py and
tests/test_slow_consumers.py."""

from __future__ import annotations

import socket

import engineio
import pytest
from engineio.packet import MESSAGE, NOOP, Packet
from engineio.payload import Payload
from engineio.socket import Socket
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from router.upstream.websocket_frames import Batch, Connection, Intake, Messages, write_in_batches


@pytest.fixture
def server():
    return engineio.Server(async_mode="threading")


@pytest.fixture
def session(server):
    session = Socket(server, "batch-sid")
    write_in_batches(session)
    return session


def open_websocket(server):
    """A server :class:`Connection` past its handshake on one end of a socket pair, and the
    websockets client protocol that did the handshake from the other end."""
    ours, theirs = socket.socketpair()
    client = ClientProtocol(parse_uri("ws://localhost/socket.io/"))
    request = client.connect()
    environ = {"PATH_INFO": "/socket.io/",
               **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in request.headers.raw_items()}}
    connection = Connection(ours, environ, server, Intake(None, None))
    assert connection.handshake()
    client.receive_data(theirs.recv(65536))
    assert [event.status_code for event in client.events_received()] == [101]
    assert client.state is State.OPEN
    return connection, client, theirs


def received(client, sock, frames: int) -> list:
    """The next ``frames`` data frames the client parses, as (opcode, data)."""
    got = []
    sock.settimeout(5)
    while len(got) < frames:
        client.receive_data(sock.recv(65536))
        got += [(frame.opcode, frame.data) for frame in client.events_received()]
    return got


def test_the_packets_waiting_together_are_polled_as_one_batch_in_their_order(session):
    packets = [Packet(MESSAGE, data=f"2[\"m\",{n}]") for n in range(3)]
    for packet in packets:
        session.queue.put(packet)
    polled = session.poll()
    assert len(polled) == 1 and isinstance(polled[0], Batch)
    assert polled[0].packets == packets
    assert polled[0].encode() == Messages(packet.encode() for packet in packets)


def test_a_packet_alone_is_polled_as_it_is(session):
    packet = Packet(MESSAGE, data="2[\"m\"]")
    session.queue.put(packet)
    assert session.poll() == [packet]


def test_the_writers_stop_mark_ends_its_batch_and_then_the_writer(session):
    packet = Packet(MESSAGE, data="2[\"last\"]")
    session.queue.put(packet)
    session.queue.put(None)  # what Socket.close and the end of the WebSocket handler put
    assert session.poll() == [packet]
    assert session.queue.qsize() == 1  # the None, put back: the next poll does not wait
    assert session.poll() == []  # the writer's loop ends on an empty poll
    assert session.queue.unfinished_tasks == 0  # Socket.close(wait=True) joins the queue


def test_a_batch_in_a_long_polling_response_reads_as_its_packets_would(session):
    packets = [Packet(MESSAGE, data="2[\"a\"]"), Packet(MESSAGE, data=b"\x00\xff"), Packet(NOOP)]
    assert Payload(packets=[Batch(packets)]).encode() == Payload(packets=packets).encode()


def test_a_batchs_frames_arrive_as_its_messages_in_their_order(server):
    connection, client, sock = open_websocket(server)
    messages = Messages(["42[\"a\",1]", b"\x01\x02", "42[\"b\",\"" + "é" * 200 + "\"]"])
    connection.send(messages)
    assert received(client, sock, 3) == [(Opcode.TEXT, messages[0].encode()), (Opcode.BINARY, messages[1]),
                                         (Opcode.TEXT, messages[2].encode())]


def test_a_batch_after_the_clients_close_is_refused_not_written(server):
    connection, client, sock = open_websocket(server)
    client.send_close(1000)
    sock.sendall(b"".join(client.data_to_send()))
    connection.wait()  # reads the close: the protocol is CLOSING and has answered it
    with pytest.raises(InvalidState, match="connection is closing"):
        connection.send(Messages(["42[\"late\"]"]))
    client.receive_data(sock.recv(65536))
    assert [frame.opcode for frame in client.events_received()] == [Opcode.CLOSE]
