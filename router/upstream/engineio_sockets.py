"""The Engine.IO sessions a graceful stop says goodbye to: listed, sent a CLOSE, watched, ended;
and a session whose client came back on a new connection, dropped.

python-engineio has no public call for "close every session after its last packet
is out": ``Server.disconnect()`` closes at once, and a long-polling client whose
session is closed before it fetched its goodbye never receives it. The stop
sequence (router/server/shutdown.py) therefore reads the server's session table,
queues the goodbye itself, waits on each session's outgoing queue and then ends
the session without sending another CLOSE.

| module | name | why |
|---|---|---|
| engineio.base_server | ``BaseServer.sockets`` (read, entries removed) | the sessions to close, and forgetting them once closed |
| engineio.base_socket | ``BaseSocket.queue``, ``.closed``, ``.upgraded`` | whether a goodbye is still unsent; which clients poll |
| engineio.socket | ``Socket.send`` | queue the Engine.IO CLOSE packet |
| engineio.socket | ``Socket.close(wait, abort, reason)`` | end a session whose CLOSE is out: ``abort`` sends no second one, and still runs the disconnect handlers |
| engineio.base_server | ``BaseServer.reason.SERVER_DISCONNECT`` (documented) | the reason the disconnect handlers receive |

tested with: python-engineio 4.15.1
"""

from __future__ import annotations

import logging

from engineio import packet as eio_packet

from router.upstream._contract import Needs, Seam

SEAM = Seam("engine.io sockets", {"python-engineio": "4.15.1"}, requires=[
    Needs("engineio.base_server", "BaseServer", attributes=("sockets",)),
    Needs("engineio.base_server", "BaseServer.reason.SERVER_DISCONNECT"),
    Needs("engineio.base_socket", "BaseSocket", attributes=("sid", "queue", "closed", "upgraded")),
    Needs("engineio.socket", "Socket.send", ("pkt",)),
    Needs("engineio.socket", "Socket.close", ("wait", "abort", "reason")),
    Needs("engineio.packet", "Packet", ("packet_type",)),
    Needs("engineio.packet", "CLOSE"),
])

log = logging.getLogger("socketio_router")


def sessions(eio) -> list:
    """The Engine.IO server's open sessions, as a list that later calls take and filter."""
    return list(eio.sockets.values())


def session_count(eio) -> int:
    return len(eio.sockets)


def send_close(session) -> None:
    """Queue an Engine.IO CLOSE: the client closes by itself and, by default, reconnects."""
    try:
        session.send(eio_packet.Packet(eio_packet.CLOSE))
    except Exception:  # already closed by its client meanwhile
        pass


def still_sending(among: list) -> list:
    """The open sessions whose client has not fetched everything queued for it yet."""
    return [s for s in among if not s.closed and s.queue.qsize() > 0]


def still_open(among: list) -> list:
    return [s for s in among if not s.closed]


def polling(among: list) -> list:
    """The sessions that never upgraded to WebSocket (long-polling clients)."""
    return [s for s in among if not s.upgraded]


def drop_session(eio, eio_sid: str, reason: str) -> bool:
    """Close the session ``eio_sid`` at once, as if its connection had dropped (no CLOSE is sent,
    the disconnect handlers run with ``reason`` before this returns); False if there is none."""
    session = eio.sockets.get(eio_sid)
    if session is None:
        return False
    end_session(eio, session, reason)
    return True


def end_session(eio, session, reason: str | None = None) -> None:
    """Close ``session`` without sending a CLOSE (it had its goodbye), running the disconnect
    handlers with ``reason`` (default "server disconnect"), and forget it."""
    try:
        session.close(wait=False, abort=True, reason=reason or eio.reason.SERVER_DISCONNECT)
    except Exception:
        log.exception("shutdown: closing %s failed", session.sid)
    eio.sockets.pop(session.sid, None)
