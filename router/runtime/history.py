"""Room history: what the steps sent into each room of a namespace with ``rooms.history``.

Every message a step sends into a room (``room.relay``, ``emit`` with ``to:`` a room, a
plugin's ``ctx.emit(..., to=room)``) is kept as ``{"event", "args", "at"}``: the last
``size`` of each room, none older than ``ttl``. A client's own sid room is never kept,
nor is a message with binary values. Only the namespaces with ``rooms.history`` get the
step context that records (router/runtime/dispatch.py), so the others pay nothing.

This process keeps its own messages in memory, bounded by ``size`` per room and
``max_rooms`` rooms (the least recently written goes first). In a cluster a store keeps
the shared history (router/server/shared_rooms.py, a Redis list per room), and this
process's memory is what it answers while the store cannot.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict, deque
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from router.config.limits import HistoryConfig

KEPT = ("event", "args", "at")


class HistoryStore(Protocol):
    """The cluster's history: ``append`` is queued and never blocks; ``last`` answers the JSON texts
    of a room's last ``limit`` messages, oldest first, or None when the store cannot answer."""

    def append(self, namespace: str, room: str, text: str, config: HistoryConfig) -> None: ...

    def last(self, namespace: str, room: str, limit: int) -> list[str] | None: ...


def timestamp(seconds: float) -> str:
    """ISO 8601 in UTC, to the millisecond: ``2026-01-31T12:00:00.000+00:00``."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


def has_binary(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if isinstance(value, (list, tuple)):
        return any(has_binary(item) for item in value)
    if isinstance(value, dict):
        return any(has_binary(item) for item in value.values())
    return False


class RoomHistory:
    """One namespace's rooms in this process's memory: ``(stamp, JSON text)`` per message."""

    def __init__(self, config: HistoryConfig):
        self.config = config
        self._rooms: OrderedDict[str, deque] = OrderedDict()

    def add(self, room: str, stamp: float, text: str) -> None:
        messages = self._rooms.get(room)
        if messages is None:
            messages = self._rooms[room] = deque(maxlen=self.config.size)
            while len(self._rooms) > self.config.max_rooms:
                self._rooms.popitem(last=False)
        else:
            self._rooms.move_to_end(room)
        messages.append((stamp, text))

    def last(self, room: str, limit: int, since: float) -> list[str]:
        messages = self._rooms.get(room)
        if not messages:
            return []
        while messages and messages[0][0] < since:  # older than ttl: gone for good
            messages.popleft()
        return [text for _, text in list(messages)[-limit:]]

    def __len__(self) -> int:
        return len(self._rooms)


class History:
    """The history of every namespace that keeps one; ``store``: the cluster's, or None.

    ``is_client_sid(room)`` says whether a room is a client's own (never kept); behind a
    message queue another process's client is unknown here, so a namespace's
    ``rooms.allow`` (``allow``, by namespace) keeps names that no client can join out too.
    """

    def __init__(self, configs: dict[str, HistoryConfig], is_client_sid: Callable[[Any], bool],
                 allow: dict[str, re.Pattern | None] | None = None, store: HistoryStore | None = None,
                 clock: Callable[[], float] = time.time):
        self.configs = configs
        self.is_client_sid = is_client_sid
        self.allow = allow or {}
        self.store = store
        self.clock = clock
        self._local = {namespace: RoomHistory(config) for namespace, config in configs.items()}
        self._lock = threading.Lock()

    def keeps(self, namespace: str) -> bool:
        return namespace in self.configs

    def record(self, namespace: str, room: str, event: str, values: tuple) -> None:
        """Keep a message a step sent into ``room`` (sid rooms and binary values are not kept)."""
        config = self.configs.get(namespace)
        if config is None or self.is_client_sid(room) or has_binary(values):
            return
        allow = self.allow.get(namespace)
        if allow is not None and not allow.fullmatch(room):
            return
        now = self.clock()
        try:
            text = json.dumps({"event": event, "args": list(values), "at": timestamp(now), "t": now},
                              separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError):  # it was sent, so only a value a custom encoder took
            return
        with self._lock:
            self._local[namespace].add(room, now, text)
        if self.store is not None:
            self.store.append(namespace, room, text, config)

    def last(self, namespace: str, room: str, limit: int | None = None) -> list[dict]:
        """The room's last ``limit`` messages (default: ``size``), oldest first."""
        config = self.configs[namespace]
        limit = config.size if limit is None else min(limit, config.size)
        since = self.clock() - config.ttl
        texts = self.store.last(namespace, room, limit) if self.store is not None else None
        if texts is None:
            with self._lock:
                texts = self._local[namespace].last(room, limit, since)
        messages = []
        for text in texts:
            message = json.loads(text)
            if message.get("t", since) >= since:
                messages.append({key: message.get(key) for key in KEPT})
        return messages
