"""A redis-server the test owns, on its own port, that can be stopped and started again."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading

from tests.support.processes import terminate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """``redis-server --port P`` without persistence; ``stop()`` and ``start()`` keep the port."""

    def __init__(self, port: int | None = None):
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> "OwnRedis":
        ready = threading.Event()
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, args=(self.process, ready), daemon=True).start()
        if not ready.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise AssertionError(f"redis-server did not start on port {self.port}:\n{''.join(self.output)}")
        return self

    def _read(self, process: subprocess.Popen, ready: threading.Event) -> None:
        for line in process.stdout:  # drained to the end, so redis-server never blocks on a full pipe
            self.output.append(line)
            if "Ready to accept connections" in line:
                ready.set()
        ready.set()

    def stop(self) -> None:
        process, self.process = self.process, None
        terminate(process)
