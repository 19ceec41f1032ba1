"""A TCP forwarder a test puts between a router and a shared broker, to fail the link on purpose.

``cut()`` closes every connection and refuses new ones (the broker went away),
``freeze()`` keeps connections open but forwards nothing (the broker hangs),
``restore()`` forwards again. The shared broker itself is never touched.
"""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.refusing = False
        self.flowing = threading.Event()
        self.flowing.set()
        self.connections: list[socket.socket] = []
        self.accepted = 0
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += [client, upstream]
                self.accepted += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                self.flowing.wait()  # frozen: hold the bytes, as a hung peer would
                if self.refusing:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                _close(sock)

    def cut(self) -> None:
        """Drop every connection now and refuse new ones until :meth:`restore`."""
        self.refusing = True
        self.flowing.set()
        with self._lock:
            connections, self.connections = self.connections, []
        for sock in connections:
            _close(sock)

    def freeze(self) -> None:
        """Keep every connection open but forward nothing until :meth:`restore`."""
        self.flowing.clear()

    def restore(self) -> None:
        self.refusing = False
        self.flowing.set()

    def close(self) -> None:
        self._closed = True
        _close(self.listener)
        self.cut()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
