"""Run ``python router.py`` as a real process on a free port, for integration tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tests.support.processes import terminate

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on (http://\S+)")


class RouterProcess:
    """``python router.py --config FILE --port 0``; ``url`` is known once it listens (the first
    time: ``urls()`` lists every address it announced).

    ``port_from_config``: no ``--port 0``, the config's ``server.port`` is served.
    """

    def __init__(self, config: str | os.PathLike, *extra_args: str, env: dict | None = None,
                 cwd: str | os.PathLike = ROOT, port_from_config: bool = False):
        self.config = str(config)
        self.extra_args = list(extra_args)
        self.port_from_config = port_from_config
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.cwd = str(cwd)
        self.url: str | None = None
        self.process: subprocess.Popen | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+b")
        self._stdout_lines: list[str] = []
        self._listening = threading.Event()

    def start(self, timeout: float = 30) -> "RouterProcess":
        args = [sys.executable, str(ROOT / "router.py"), "--config", self.config]
        if "--port" not in self.extra_args and not self.port_from_config:
            args += ["--port", "0"]
        self.process = subprocess.Popen(args + self.extra_args, cwd=self.cwd, env=self.env,
                                        stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        if not self._listening.wait(timeout) or self.url is None:
            self.stop()
            raise AssertionError(f"router did not start within {timeout}s:\n{self.logs()}")
        return self

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self._stdout_lines.append(line)
            match = _LISTENING.search(line)
            if match and self.url is None:
                self.url = match.group(1)
                self._listening.set()
        self._listening.set()  # the process ended: unblock start()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def urls(self) -> list[str]:
        """Every address a ``listening on`` line announced, in order (a --reload restart adds one)."""
        return [match.group(1) for line in list(self._stdout_lines) for match in [_LISTENING.search(line)]
                if match]

    def logs(self) -> str:
        self._stderr.seek(0)
        return "".join(self._stdout_lines) + self._stderr.read().decode(errors="replace")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 10) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        terminate(self.process)
        if self.process and self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> "RouterProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_cli(*args: str, env: dict | None = None, timeout: float = 60,
            cwd: str | os.PathLike = ROOT) -> subprocess.CompletedProcess:
    """Run ``python router.py ARGS`` to completion (check, schema, ...), from ``cwd``."""
    return subprocess.run([sys.executable, str(ROOT / "router.py"), *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)
