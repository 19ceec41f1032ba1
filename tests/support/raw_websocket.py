"""Engine.IO and Socket.IO spoken by hand over one WebSocket (websocket-client), frame by frame.

For what a library client never does: fragmented messages, a frame announced larger than the
server allows, sending flat out with every send waiting for TCP.
"""

from __future__ import annotations

import json
import socket
import struct

import websocket
from websocket import ABNF


class RawSocketIO:
    """One WebSocket connected to a namespace. ``recv_packet`` answers Engine.IO's PINGs itself."""

    def __init__(self, url: str, namespace: str = "/", timeout: float = 10,
                 receive_buffer: int | None = None):
        """``receive_buffer``: the socket's SO_RCVBUF, so a client that stops reading fills it soon."""
        self.namespace = namespace
        address = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        options = [(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)] if receive_buffer else []
        self.ws = websocket.create_connection(address, timeout=timeout, sockopt=options)
        opened = self.ws.recv()
        assert opened.startswith("0{"), opened
        self.ws.send(f"40{namespace},")
        answer = self.recv_packet()
        assert answer.startswith(f"40{namespace},"), answer

    def event_packet(self, event: str, *args, ack: int | None = None) -> str:
        """The text of a Socket.IO EVENT packet (``ack``: the id the server answers with)."""
        return f"42{self.namespace},{'' if ack is None else ack}{json.dumps([event, *args])}"

    def send_fragments(self, message: str | bytes, pieces: int, ping_between: bool = False) -> None:
        """``message`` as ``pieces`` frames: a first frame, then continuations (a PING between them)."""
        data = message.encode() if isinstance(message, str) else message
        opcode = ABNF.OPCODE_TEXT if isinstance(message, str) else ABNF.OPCODE_BINARY
        size = -(-len(data) // pieces)
        chunks = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            self.ws.send_frame(ABNF.create_frame(chunk, opcode if index == 0 else ABNF.OPCODE_CONT,
                                                 fin=1 if last else 0))
            if ping_between and not last:
                self.ws.ping(b"between fragments")

    def send_header_only(self, length: int, opcode: int = ABNF.OPCODE_TEXT) -> None:
        """The header of a masked frame announcing ``length`` bytes, and no payload at all."""
        self.ws.sock.sendall(struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length) + b"mask")

    def recv_packet(self) -> str | bytes:
        """The next Engine.IO message, PINGs answered on the way."""
        while True:
            message = self.ws.recv()
            if message == "2":
                self.ws.send("3")
                continue
            return message

    def recv_frame(self) -> tuple[int, bytes]:
        """The next frame's opcode and payload, control frames included (PONG, CLOSE)."""
        opcode, frame = self.ws.recv_data_frame(control_frame=True)
        return opcode, frame.data

    def recv_close(self) -> tuple[int, str]:
        """Read until the server's CLOSE frame: its status code and reason."""
        while True:
            opcode, data = self.recv_frame()
            if opcode == ABNF.OPCODE_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                return code, data[2:].decode(errors="replace")

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except Exception:  # the server closed it first
            pass
