"""A python-socketio client that records what it receives, with waits that time out."""

from __future__ import annotations

import threading

import socketio


class PyClient:
    """``socketio.Client`` on one namespace; every event received is kept in order."""

    def __init__(self, url: str, namespace: str = "/", auth=None, transports=None, headers=None):
        self.url = url
        self.namespace = namespace
        self.client = socketio.Client(reconnection=False)
        self.received: list[tuple[str, tuple]] = []
        self.connect_errors: list = []
        self._cond = threading.Condition()
        self.client.on("*", self._on_any, namespace=namespace)
        self.client.on("connect_error", self._on_connect_error, namespace=namespace)
        self.client.on("disconnect", self._on_disconnect, namespace=namespace)
        self.disconnected = threading.Event()
        self._auth, self._transports, self._headers = auth, transports, headers

    def connect(self, timeout: float = 10) -> "PyClient":
        self.client.connect(self.url, namespaces=[self.namespace], auth=self._auth,
                            transports=self._transports, headers=self._headers or {},
                            wait_timeout=timeout)
        return self

    def try_connect(self, timeout: float = 10):
        """Connect, and return the connect_error payload if the server refused (else None)."""
        try:
            self.connect(timeout)
        except socketio.exceptions.ConnectionError:
            with self._cond:
                self._cond.wait_for(lambda: self.connect_errors, timeout)
            return self.connect_errors[-1] if self.connect_errors else "no connect_error received"
        return None

    def _on_any(self, event, *args):
        with self._cond:
            self.received.append((event, args))
            self._cond.notify_all()

    def _on_connect_error(self, data):
        with self._cond:
            self.connect_errors.append(data)
            self._cond.notify_all()

    def _on_disconnect(self, *reason):
        self.disconnected.set()

    def emit(self, event, *args):
        self.client.emit(event, args if len(args) != 1 else args[0], namespace=self.namespace)

    def call(self, event, *args, timeout: float = 10):
        return self.client.call(event, args if len(args) != 1 else args[0], namespace=self.namespace,
                                timeout=timeout)

    def wait_event(self, event: str, timeout: float = 10) -> tuple:
        """Wait for the next ``event`` not yet taken; return its arguments."""
        with self._cond:
            ok = self._cond.wait_for(lambda: any(e == event for e, _ in self.received), timeout)
            if not ok:
                raise AssertionError(f"no {event!r} within {timeout}s; received {self.received}")
            index = next(i for i, (e, _) in enumerate(self.received) if e == event)
            return self.received.pop(index)[1]

    def events(self, event: str | None = None) -> list:
        with self._cond:
            return [args for e, args in self.received if event is None or e == event]

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()
