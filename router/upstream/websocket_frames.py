"""Engine.IO's WebSocket in every async mode: frames at C speed, a byte budget per client, and
oversized messages refused on their header.

Client-to-server frames are masked, and the WebSocket servers Engine.IO picks by default
unmask them one byte at a time in Python (eventlet.websocket ``_apply_mask``, gevent-websocket
``Header.mask_payload``): about 0.4 us per byte, 400 ms of a whole process for one 1 MB
message. simple-websocket (wsproto) is quicker, but a reader thread per connection reads 4 KB
at a time into an unbounded list, so a greedy client is never pushed back on.

Here every mode (eventlet, gevent, threading) serves WebSockets through the Sans-I/O protocol
of the ``websockets`` package, which parses frames with a C unmask, checks a frame's length
against the limit *before* reading its payload, handles fragments, control frames, the close
handshake and permessage-deflate. The I/O around it is ours and small: Engine.IO's reader
calls :meth:`Connection.wait`, which reads the socket in the caller's own green thread or
thread, so a client's bytes are read only as fast as its messages are handled, through an
:class:`IntakeBudget` (a token bucket): when a client has used its budget its next read
waits, TCP's window fills and the client's sends block. A read that filled the buffer yields
to the other green threads, so a client that always has data pending cannot starve them.

What this relies on, checked by tests/test_upstream_contract.py (``SEAM``):

| module | name | why |
|---|---|---|
| engineio.server | ``Server._async["websocket"]`` | the class Engine.IO builds per WebSocket request; :func:`install` puts ours there, per server |
| engineio.socket | ``Socket._upgrade_websocket`` | builds it as ``cls(handler, server)`` and calls it as a WSGI app |
| engineio.socket | ``Socket._websocket_handler`` | the handler: calls ``wait()``, ``send()``, ``close()``; gives ``_sock`` its ping timeout; its writer sends each item ``poll()`` returns as ``ws.send(item.encode())`` |
| engineio.socket | ``Socket.poll`` (replaced per socket while its WebSocket is up) | what it does, but what it takes at once goes out as one :class:`Batch`, in one write, and its first wait has no timeout |
| engineio.socket, engineio.base_socket | ``Socket.close``, the end of ``Socket._websocket_handler``: ``queue.put(None)`` | every way a session ends tells its writer so: it needs no timeout to end |
| engineio.payload | ``Payload.encode`` | joins its packets' ``encode(b64=True)`` with ``"\\x1e"``, as :meth:`Batch.encode` does |
| eventlet.wsgi | ``WSGI_LOCAL.already_handled`` | tells eventlet's server the connection was taken over (as eventlet.websocket does) |
| environ | ``eventlet.input``, ``eventlet.set_idle``, gevent's ``wsgi.input``, ``werkzeug.socket`` | where each server hands out the raw socket (as simple-websocket finds it) |
| websockets | ``ServerProtocol``, ``Opcode``, ``PayloadTooBig`` | the documented Sans-I/O API |
| websockets.protocol | ``Protocol.parser`` | restarted after the handshake, as websockets replaces it itself, so the request it parsed is freed |

tested with: python-engineio 4.15.1, eventlet 0.41.3, gevent 26.9.0, Werkzeug 3.1.8, websockets 17.4
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from typing import Callable

from websockets.exceptions import PayloadTooBig
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from router.upstream._contract import Needs, Seam
from router.upstream.outbound_queues import attach_transport

log = logging.getLogger("socketio_router")

# websockets logs every open and close at INFO; only its warnings and errors are news here.
_protocol_log = logging.getLogger("socketio_router.websocket")
_protocol_log.setLevel(logging.WARNING)

# One read takes up to this much: a 40 KB message in one call, a 1 MB one in sixteen.
RECV_BYTES = 64 * 1024
# permessage-deflate when the client offers it and the config leaves the offer in place
# (router/server/middleware.py declines it by default). The factory is configuration only.
EXTENSIONS = [ServerPerMessageDeflateFactory()]
# Seconds a closing client gets to answer the close frame and hang up, before the WSGI server
# takes the socket back (it would read whatever the client sends next as a new request).
CLOSE_TIMEOUT = 1.0

REQUIRES = [
    # (module, name, parameters the router passes or relies on, attributes an instance has);
    # checked by tests/test_websocket_frames.py, in the shape of upstream/_contract.py's Needs.
    ("engineio.socket", "Socket._upgrade_websocket", ("self", "environ", "start_response"), ()),
    ("engineio.socket", "Socket._websocket_handler", ("self", "ws"), ("sid",)),
    ("engineio.socket", "Socket.poll", ("self",), ()),
    ("engineio.socket", "Socket", (), ("queue", "server")),
    ("engineio.base_server", "BaseServer.get_queue_empty_exception", ("self",), ()),
    ("engineio.packet", "Packet.encode", ("self", "b64"), ()),
    ("engineio.payload", "Payload.encode", ("self", "jsonp_index"), ()),
    ("engineio.server", "Server", ("async_mode", "max_http_buffer_size"),
     ("_async", "max_http_buffer_size", "sleep")),
    ("eventlet.wsgi", "WSGI_LOCAL", (), ()),
    ("websockets.server", "ServerProtocol", ("extensions", "max_size", "logger"),
     ("state", "parser", "parser_exc", "extensions")),
    ("websockets.server", "ServerProtocol.accept", ("self", "request"), ()),
    ("websockets.server", "ServerProtocol.send_response", ("self", "response"), ()),
    ("websockets.protocol", "Protocol.receive_data", ("self", "data"), ()),
    ("websockets.protocol", "Protocol.receive_eof", ("self",), ()),
    ("websockets.protocol", "Protocol.events_received", ("self",), ()),
    ("websockets.protocol", "Protocol.data_to_send", ("self",), ()),
    ("websockets.protocol", "Protocol.send_text", ("self", "data", "fin"), ()),
    ("websockets.protocol", "Protocol.send_binary", ("self", "data", "fin"), ()),
    ("websockets.protocol", "Protocol.send_close", ("self", "code", "reason"), ()),
    ("websockets.protocol", "Protocol.fail", ("self", "code", "reason"), ()),
    # Restarted after the handshake, as websockets itself replaces it (``parser = discard()``).
    ("websockets.protocol", "Protocol.parse", ("self",), ()),
    ("websockets.exceptions", "PayloadTooBig", (), ()),
]
TESTED_WITH = {"python-engineio": "4.15.1", "eventlet": "0.41.3", "gevent": "26.9.0",
               "Werkzeug": "3.1.8", "websockets": "17.4"}
SEAM = Seam("websocket frames", TESTED_WITH, requires=[
    # A method's "attributes" are its instance's, checked by tests/test_websocket_frames.py.
    Needs(module, name, parameters, attributes if "." not in name else ())
    for module, name, parameters, attributes in REQUIRES])


class IntakeBudget:
    """A token bucket of bytes for one connection: reads spend it, and wait while it is in debt.

    ``rate`` bytes a second refill it up to ``burst``. A read may take more than is left (a
    message larger than the burst still gets through, at ``rate``); the next read then
    waits until the debt is repaid. ``sleep`` is the async mode's sleep.
    """

    def __init__(self, rate: float, burst: float, sleep: Callable[[float], None],
                 clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.sleep = sleep
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def spend(self, nbytes: int) -> None:
        self._refill()
        self.tokens -= nbytes

    def wait(self) -> float:
        """Sleep until the budget is out of debt; the seconds slept."""
        if self.tokens >= 0:
            return 0.0
        self._refill()
        if self.tokens >= 0:
            return 0.0
        delay = -self.tokens / self.rate
        self.sleep(delay)
        self._refill()
        return delay


class Intake:
    """The byte budget each connection of a server reads through (``bytes_per_second`` None or
    0: unmetered). The message cap is the server's own ``max_http_buffer_size``."""

    def __init__(self, bytes_per_second: float | None, burst_bytes: float | None):
        self.bytes_per_second = bytes_per_second
        self.burst_bytes = burst_bytes

    def budget(self, sleep: Callable[[float], None]) -> IntakeBudget | None:
        if not self.bytes_per_second:
            return None
        return IntakeBudget(self.bytes_per_second, self.burst_bytes or self.bytes_per_second, sleep)


def install(eio, intake: Intake) -> None:
    """Serve the WebSockets of Engine.IO server ``eio`` with :class:`WebSocketApp`, metered by
    ``intake``. Only this server's table changes: Engine.IO's module-wide one is shared."""

    metered = type("RouterWebSocket", (WebSocketApp,), {"intake": intake})
    eio._async = {**eio._async, "websocket": metered}


class WebSocketApp:
    """The WSGI app Engine.IO runs for a WebSocket request (``cls(handler, server)``): it
    completes the handshake on the raw socket, then runs ``handler`` with a :class:`Connection`."""

    intake = Intake(None, None)

    def __init__(self, handler: Callable, server):
        self.handler = handler
        self.server = server

    def __call__(self, environ: dict, start_response: Callable):
        sock, kind = raw_socket(environ)
        connection = Connection(sock, environ, self.server, self.intake, peer=_peer(self.handler))
        if not connection.handshake():
            return self._taken_over(kind, sock)
        engineio_socket = getattr(self.handler, "__self__", None)
        attach_transport(engineio_socket, connection.abort)
        if "eventlet.set_idle" in environ:
            # eventlet's graceful stop treats an upgraded connection as idle (as eventlet.websocket does).
            environ["eventlet.set_idle"]()
        write_in_batches(engineio_socket)
        try:
            self.handler(connection)
        finally:
            if engineio_socket is not None:
                engineio_socket.__dict__.pop("poll", None)  # and with it the socket's cycle
            connection.close()
            connection.drain(CLOSE_TIMEOUT)
        return self._taken_over(kind, sock)

    @staticmethod
    def _taken_over(kind: str, sock) -> list:
        """Tell the WSGI server the connection was ours, so it writes no response of its own."""
        if kind == "eventlet":
            import eventlet.wsgi

            eventlet.wsgi.WSGI_LOCAL.already_handled = True
            return []
        # pywsgi and werkzeug would read another request from the socket: end it there.
        _shutdown(sock, socket.SHUT_RDWR)
        if kind == "werkzeug":
            raise ConnectionError("WebSocket closed")  # werkzeug's quiet "connection dropped"
        return []


class Messages(tuple):
    """The encoded packets of a :class:`Batch`, which :meth:`Connection.send` writes at once."""


class Batch:
    """Packets Engine.IO's writer took from the queue together, as the one item it sends.

    The writer sends each item as ``ws.send(item.encode())``: a batch encodes to
    :class:`Messages`, so its frames go out in one write, where each packet would cost a
    system call. Should a long-polling response ever get one, ``encode(b64=True)`` is the
    packets as Engine.IO's payload joins them.
    """

    __slots__ = ("packets",)

    def __init__(self, packets: list):
        self.packets = packets

    def encode(self, b64: bool = False):
        if b64:
            return "\x1e".join([packet.encode(b64=True) for packet in self.packets])
        return Messages([packet.encode() for packet in self.packets])


def write_in_batches(engineio_socket) -> None:
    """Make the WebSocket writer of ``engineio_socket`` send what it takes at once as a
    :class:`Batch`: the socket gets an instance-level ``poll``, until the WebSocket ends.

    It is Engine.IO's ``poll`` (wait for a packet, then take every one waiting, up to the
    writer's ``None``) but for its first wait, which has no timeout: a timer started and
    cancelled per wakeup (3,600 instructions a delivery in eventlet, 10,000 in gevent), and
    every way a session ends puts the ``None`` that ends the writer (``Socket.close``, the end
    of ``Socket._websocket_handler``, a slow consumer's release), which a silent client
    reaches by its ping timeout.
    """
    if engineio_socket is None:
        return
    queue = engineio_socket.queue
    empty = engineio_socket.server.get_queue_empty_exception()

    def poll_in_batches():
        packet = queue.get()
        queue.task_done()
        if packet is None:
            return []
        packets = [packet]
        while True:
            try:
                packet = queue.get(block=False)
            except empty:
                break
            queue.task_done()
            if packet is None:
                queue.put(None)  # for the next poll: the writer ends after this batch
                break
            packets.append(packet)
        return [Batch(packets)] if len(packets) > 1 else packets

    engineio_socket.poll = poll_in_batches


def raw_socket(environ: dict):
    """The client's socket from the WSGI server, and which server it is."""
    if "eventlet.input" in environ:
        return environ["eventlet.input"].get_socket(), "eventlet"
    if "werkzeug.socket" in environ:
        return environ["werkzeug.socket"], "werkzeug"
    if environ.get("SERVER_SOFTWARE", "").startswith("gevent"):
        stream = environ["wsgi.input"]
        sock = getattr(stream, "socket", None)
        if sock is None:
            raw = getattr(getattr(stream, "rfile", stream), "raw", None)
            sock = getattr(raw, "_sock", None)
        if sock is not None:
            return sock, "gevent"
    raise RuntimeError("cannot find the client's socket in the WSGI environ: serve the router "
                       "with `python router.py` (eventlet, gevent or Werkzeug)")


def _peer(handler) -> str:
    engineio_socket = getattr(handler, "__self__", None)
    return getattr(engineio_socket, "sid", "?")


def _shutdown(sock, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass  # already closed by the client


class Connection:
    """One WebSocket, as Engine.IO's handler uses it: ``wait()``, ``send()``, ``close()``.

    ``wait`` runs in the connection's reader (its WSGI green thread or thread), ``send`` and
    ``close`` in Engine.IO's writer. Two locks: one for the protocol's state, held only while
    it computes, and one for writing to the socket, held while a write waits for TCP, so a
    client that stops reading blocks the writer and never the reader. A message without an
    extension takes only the write lock: its frame needs nothing of the protocol but its state.
    """

    def __init__(self, sock, environ: dict, server, intake: Intake, peer: str = "?"):
        self._sock = sock  # Engine.IO sets its ping timeout on it
        self.environ = environ
        self.peer = peer
        self.sleep = server.sleep
        self.budget = intake.budget(server.sleep)
        self.protocol = ServerProtocol(extensions=EXTENSIONS,
                                       max_size=int(server.max_http_buffer_size), logger=_protocol_log)
        self._state_lock = threading.Lock()
        self._write_lock = threading.Lock()  # taken before the state lock, never after
        self._messages: list = []  # a deque's first block alone is 600 bytes a connection
        self._fragments: list | None = None
        self._fragments_opcode = None
        self._ended = False  # nothing more to deliver: EOF, a close frame, an error
        self._eof = False  # the client hung up
        self._closed_by_us = False  # close() has sent our close frame

    # -- the handshake ----------------------------------------------------------------------

    def handshake(self) -> bool:
        """Answer the upgrade request that the WSGI server parsed; True when it was accepted."""
        protocol = self.protocol
        protocol.receive_data(_request_bytes(self.environ))
        requests = protocol.events_received()
        if not requests:  # not a valid HTTP request: websockets queued the EOF
            self._write(protocol.data_to_send())
            return False
        response = protocol.accept(requests[0])
        protocol.send_response(response)
        self._write(protocol.data_to_send())
        if response.status_code != 101:
            return False
        # The parser that read the request keeps it (headers and all, ~2 KB) in its frame for
        # the connection's life; a fresh one, in the OPEN state, starts at the first frame.
        protocol.parser = protocol.parse()
        next(protocol.parser)
        return True

    # -- reading ----------------------------------------------------------------------------

    def wait(self):
        """The next message (``str`` or ``bytes``), or None once the connection is closed.

        Messages that arrived with the client's close frame, before it, are still delivered.
        """
        while not self._messages:
            if self._ended or self._closed_by_us:
                return None
            self._read()
        return self._messages.pop(0)

    def _read(self) -> None:
        if self.budget is not None:
            self.budget.wait()  # a greedy client's next read waits: TCP pushes back on it
        try:
            data = self._sock.recv(RECV_BYTES)
        except OSError:  # reset, timed out (Engine.IO's ping timeout), or closed by close()
            data = b""
        with self._state_lock:
            self._receive(data)
            for frame in self.protocol.events_received():
                self._take(frame)
            replies = self.protocol.data_to_send()  # PONGs, the close handshake
        self._write_replies(replies)
        if self.protocol.parser_exc is not None:
            self._ended = True
            self._report(self.protocol.parser_exc)
        elif len(data) == RECV_BYTES:
            self.sleep(0)  # more is waiting: let the other connections have their turn first

    def drain(self, timeout: float) -> None:
        """After the close: read and drop what the client still sends until it hangs up, or
        for ``timeout`` seconds at most, so the socket goes back to the WSGI server quiet."""
        deadline = time.monotonic() + timeout
        while not self._eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self.budget is not None:
                self.budget.wait()
            try:
                self._sock.settimeout(remaining)
                data = self._sock.recv(RECV_BYTES)
            except OSError:
                return
            with self._state_lock:
                self._receive(data)
                self.protocol.events_received()  # nothing is delivered after the close
                replies = self.protocol.data_to_send()
            self._write_replies(replies)

    def _receive(self, data: bytes) -> None:
        if data:
            if self.budget is not None:
                self.budget.spend(len(data))
            self.protocol.receive_data(data)
        else:
            self._eof = self._ended = True
            self.protocol.receive_eof()

    def _take(self, frame) -> None:
        """Assemble messages from data frames; the protocol answered the control frames."""
        opcode = frame.opcode
        if opcode is Opcode.CLOSE:
            self._ended = True
        elif self._ended or self._closed_by_us:
            return  # after a goodbye, ours or the client's, a message goes nowhere
        elif opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._deliver(opcode, frame.data)
            else:
                self._fragments, self._fragments_opcode = [frame.data], opcode
        elif opcode is Opcode.CONT and self._fragments is not None:
            self._fragments.append(frame.data)
            if frame.fin:
                data = b"".join(self._fragments)
                self._fragments = None
                self._deliver(self._fragments_opcode, data)

    def _deliver(self, opcode, data) -> None:
        if opcode is Opcode.BINARY:
            self._messages.append(bytes(data))
            return
        try:
            self._messages.append(data.decode())
        except UnicodeDecodeError as exc:
            self.protocol.fail(1007, f"invalid UTF-8 at position {exc.start}")
            self._ended = True
            self._report(exc)

    def _report(self, exc: Exception) -> None:
        if isinstance(exc, PayloadTooBig):
            log.warning("closing the WebSocket of %s (%s): %s (server.max_http_buffer_size)",
                        self.peer, self.environ.get("REMOTE_ADDR", "?"), exc)
        elif not isinstance(exc, EOFError):  # EOFError: the client went away mid-frame
            log.info("closing the WebSocket of %s (%s): %s", self.peer,
                     self.environ.get("REMOTE_ADDR", "?"), exc)

    # -- writing ----------------------------------------------------------------------------

    def send(self, message) -> None:
        """Send one message (``str``: a text frame, ``bytes``: binary), or the :class:`Messages`
        of a batch in one write."""
        if self.protocol.extensions:  # permessage-deflate: websockets builds the frames
            self._send_through_protocol(message)
            return
        # A server's frame without an extension is a header and the data, unmasked: built here,
        # it costs a fraction of websockets' Frame serialization, which a fan-out pays once per
        # recipient. Only the write lock: the reader changes the state before it takes that
        # lock to write its close reply, so under it an OPEN state means no close went out yet.
        data = b"".join([_frame(one) for one in message]) if type(message) is Messages else _frame(message)
        lock = self._write_lock
        lock.acquire()
        try:
            if self.protocol.state is State.OPEN:
                self._write_frames(data)
                return
        finally:
            lock.release()
        self._send_through_protocol(message)  # closing: websockets refuses it (InvalidState)

    def _send_through_protocol(self, message) -> None:
        with self._write_lock:
            with self._state_lock:
                for one in message if type(message) is Messages else (message,):
                    if isinstance(one, str):
                        self.protocol.send_text(one.encode())
                    else:
                        self.protocol.send_binary(one)
                chunks = self.protocol.data_to_send()
            self._write(chunks)

    def close(self) -> None:
        """Send the close frame once, then end our side: the client's reply ends the reader."""
        with self._write_lock:
            with self._state_lock:
                self._closed_by_us = True
                if self.protocol.state is State.OPEN:
                    self.protocol.send_close(1000)
                chunks = self.protocol.data_to_send()
            self._write(chunks)
        _shutdown(self._sock, socket.SHUT_WR)

    def abort(self) -> None:
        """Hang up now, without the close handshake: for a client that no longer reads, whose
        writer may be blocked on its full TCP window (the shutdown wakes it with an error)."""
        self._ended = True
        _shutdown(self._sock, socket.SHUT_RDWR)

    def _write_replies(self, chunks: list) -> None:
        if chunks:
            with self._write_lock:
                self._write(chunks)

    def _write(self, chunks: list) -> None:
        """Send what the protocol produced; the empty chunk at the end means "half-close"."""
        if not chunks:
            return
        eof = chunks[-1] == b""
        data = b"".join(chunks)
        try:
            if data:
                self._sock.sendall(data)
            if eof:
                _shutdown(self._sock, socket.SHUT_WR)
        except OSError:
            self._ended = True

    def _write_frames(self, data: bytes) -> None:
        """Write ready frames, the write lock held: one ``send`` takes all of most, ``sendall``
        the rest (gevent's ``sendall`` asks the kernel for the send buffer's size on every call)."""
        try:
            sent = self._sock.send(data)
            if sent < len(data):
                self._sock.sendall(memoryview(data)[sent:])
        except OSError:
            self._ended = True


def _frame(message) -> bytes:
    """The frame of one message with FIN set (RFC 6455 5.2): a server does not mask."""
    if isinstance(message, str):
        data = message.encode()
        first_byte = 0x81
    else:
        data = message
        first_byte = 0x82
    length = len(data)
    if length < 126:
        return bytes((first_byte, length)) + data
    if length < 65536:
        return struct.pack("!BBH", first_byte, 126, length) + data
    return struct.pack("!BBQ", first_byte, 127, length) + data


def _request_bytes(environ: dict) -> bytes:
    """The upgrade request again, from the environ, for the Sans-I/O protocol to parse."""
    lines = [f"GET {environ.get('PATH_INFO') or '/'} HTTP/1.1"]
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            lines.append(f"{key[5:].replace('_', '-')}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
