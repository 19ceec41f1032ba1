"""A python-socketio client that does what socket.io-client does for connection state recovery.

python-socketio's client ignores ``pid`` and offsets; this one keeps the ``pid`` of its
CONNECT answer and the offset of the last event it received, and :meth:`resume` connects a
new client with both in its auth payload, as socket.io-client's reconnection does.
"""

from __future__ import annotations

import threading

import socketio


class _Client(socketio.Client):
    """Keeps each namespace's CONNECT answer (python-socketio reads only its sid)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers: dict[str, dict] = {}

    def _handle_connect(self, namespace, data):
        self.answers[namespace or "/"] = dict(data or {})
        return super()._handle_connect(namespace, data)


class RecoveringClient:
    """One namespace over one WebSocket; ``received`` holds (event, args) in order, offsets
    included, across resumes."""

    def __init__(self, url: str, namespace: str = "/chat", auth: dict | None = None):
        self.url = url
        self.namespace = namespace
        self.auth = dict(auth or {})
        self.received: list[tuple[str, list]] = []
        self.offset: str | None = None
        self._cond = threading.Condition()
        self.client: _Client | None = None

    def connect(self, url: str | None = None, resume: bool = False, timeout: float = 10) -> "RecoveringClient":
        """Connect (to ``url``, or the first one); with ``resume``, ask for the session back."""
        auth = dict(self.auth)
        if resume:
            auth["pid"] = self.pid
            if self.offset is not None:
                auth["offset"] = self.offset
        client = _Client(reconnection=False)
        client.on("*", self._on_event, namespace=self.namespace)
        client.connect(url or self.url, namespaces=[self.namespace], transports=["websocket"],
                       auth=auth or None, wait_timeout=timeout)
        self.client = client
        return self

    def resume(self, url: str | None = None) -> "RecoveringClient":
        return self.connect(url, resume=True)

    @property
    def answer(self) -> dict:
        return self.client.answers[self.namespace]

    @property
    def pid(self) -> str:
        return self.answer["pid"]

    @property
    def sid(self) -> str:
        return self.answer["sid"]

    def _on_event(self, event, *args):
        with self._cond:
            self.received.append((event, list(args)))
            if args and isinstance(args[-1], str):
                self.offset = args[-1]  # socket.io-client's rule: a string last argument
            self._cond.notify_all()

    def wait_for(self, count: int, event: str | None = None, timeout: float = 10) -> list[list]:
        """Wait until ``count`` events (named ``event``) have arrived; their args."""
        def matching():
            return [args for name, args in self.received if event is None or name == event]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                raise AssertionError(f"{len(matching())} of {count} {event or 'events'} within {timeout}s: "
                                     f"{self.received}")
            return matching()

    def call(self, event: str, data, timeout: float = 10):
        return self.client.call(event, data, namespace=self.namespace, timeout=timeout)

    def emit(self, event: str, data) -> None:
        self.client.emit(event, data, namespace=self.namespace)

    def close(self) -> None:
        if self.client is not None and self.client.connected:
            self.client.disconnect()
