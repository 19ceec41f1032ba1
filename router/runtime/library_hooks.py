"""What the runtime needs from the libraries' internals, handed in by the server.

The runtime may not import router/upstream/ (tests/test_layers.py): whatever it
needs to know that python-socketio or Flask-SocketIO do not document, the server
builds from router/upstream/ and passes in here, so an upgrade is still checked
in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ContextManager, Mapping


@dataclass(frozen=True)
class LibraryHooks:
    """Reads and context the dispatcher and admission take from the Socket.IO stack."""

    # Clients connected to this process, per namespace (read from the client manager's rooms).
    client_counts: Callable[[], Mapping[str, int]]
    # (environ, sid, namespace, message, args) -> the request context Flask-SocketIO gives a
    # handler, for the on_connect steps that run after the connect confirmation; None without an app.
    event_context: Callable[[dict | None, str, str, str, tuple], ContextManager | None]
    # In a connect handler: whether it is a real handshake, not an EVENT packet named "connect".
    is_handshake_connect: Callable[[], bool]
    # (sid, namespace), in a disconnect handler: whether the client is really leaving.
    client_is_leaving: Callable[[str, str], bool]
    # Whether a room name is the sid of a client connected to this process (never kept in history).
    is_client_sid: Callable[[object], bool] = lambda room: False
