"""A redis-server the test owns, on its own port (and unix socket), that can be stopped and started
again; and a Redis Sentinel watching it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading

import pytest

from tests.support.processes import terminate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """``redis-server --port P`` without persistence; ``stop()`` and ``start()`` keep the port.

    ``unix_socket``: a path it listens on as well.
    """

    READY = "Ready to accept connections"  # what the server logs once it accepts clients

    def __init__(self, port: int | None = None, unix_socket=None):
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = port or free_port()
        self.unix_socket = unix_socket
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> "OwnRedis":
        ready = threading.Event()
        self.process = subprocess.Popen(
            [self.binary, *self.arguments()],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, args=(self.process, ready), daemon=True).start()
        if not ready.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise AssertionError(f"redis-server did not start on port {self.port}:\n{''.join(self.output)}")
        return self

    def arguments(self) -> list[str]:
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self.unix_socket is not None:
            arguments += ["--unixsocket", str(self.unix_socket), "--unixsocketperm", "700"]
        return arguments

    def _read(self, process: subprocess.Popen, ready: threading.Event) -> None:
        for line in process.stdout:  # drained to the end, so redis-server never blocks on a full pipe
            self.output.append(line)
            if self.READY in line:
                ready.set()
        ready.set()

    def stop(self) -> None:
        process, self.process = self.process, None
        terminate(process)


class OwnSentinel(OwnRedis):
    """A Redis Sentinel on its own port that watches ``master`` as the service ``service``.

    Sentinel rewrites its config file, so it gets one of its own in ``folder``.
    """

    READY = "+monitor master"  # logged once it listens and watches the master

    def __init__(self, master: OwnRedis, folder, service: str = "router-master"):
        super().__init__()
        self.master = master
        self.service = service
        self.config = folder / f"sentinel-{self.port}.conf"

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.port}/0/{self.service}"

    def arguments(self) -> list[str]:
        self.config.write_text(f"port {self.port}\nbind 127.0.0.1\n"
                               f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} 1\n")
        return [str(self.config), "--sentinel"]


@pytest.fixture
def own_redis():
    """An OwnRedis, not started (``own_redis.start()``), stopped after the test; import it into a
    test module to use it."""
    redis = OwnRedis()
    yield redis
    redis.stop()
