"""Start and stop the processes a bench run needs: servers under test and Node load generators.

Every process gets its own stdin pipe and is ended by :meth:`stop` (the servers also exit when
their stdin closes), so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOAD_SCRIPT = BENCH / "load.mjs"
INTAKE_LOAD = [sys.executable, str(BENCH / "intake.py")]  # the Python clients of the intake figures
_ROUTER_LISTENING = re.compile(r"listening on http://[^:]+:(\d+)")
_HANDWRITTEN_LISTENING = re.compile(r"listening on (\d+)")


class BenchError(RuntimeError):
    """A server or load generator did not do what the bench needs; the message says which."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now, for ``socketio.run``, which cannot report a port it picked."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Server:
    """A server under test: ``python router.py``, ``bench/handwritten.py``, ``bench/bare_socketio.py``
    or ``node bench/node_server.mjs``."""

    def __init__(self, label: str, args: list[str], env: dict | None = None,
                 port: int | None = None, program: str = sys.executable):
        self.label = label
        self.program = program
        self.args = args
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.port = port
        self.process: subprocess.Popen | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+b")
        self._announced = threading.Event()
        self._stdout: list[str] = []

    @classmethod
    def router(cls, config: Path, mode: str, message_queue: str = "", channel: str = "bench",
               client_bytes_per_second: int | None = None):
        env = {"BENCH_ASYNC_MODE": mode, "BENCH_MESSAGE_QUEUE": message_queue,
               "BENCH_CHANNEL": channel}
        if client_bytes_per_second:
            env["BENCH_CLIENT_BYTES_PER_SECOND"] = str(client_bytes_per_second)
        return cls("router", [str(ROOT / "router.py"), "--config", str(config), "--port", "0"], env)

    @classmethod
    def handwritten(cls, mode: str, style: str, message_queue: str = "", channel: str = "bench"):
        port = free_port() if style == "documented" else 0
        args = [str(BENCH / "handwritten.py"), "--mode", mode, "--style", style, "--port", str(port),
                "--channel", channel]
        if message_queue:
            args += ["--message-queue", message_queue]
        return cls(style, args, port=port or None)

    @classmethod
    def bare(cls, mode: str):
        return cls("bare", [str(BENCH / "bare_socketio.py"), "--mode", mode, "--port", "0"])

    @classmethod
    def node(cls):
        return cls("node", [str(BENCH / "node_server.mjs"), "0"], program="node")

    def start(self, timeout: float = 30) -> "Server":
        self.process = subprocess.Popen([self.program, *self.args], cwd=ROOT, env=self.env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._stderr, text=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        if not self._announced.wait(timeout) or self.port is None:
            self.stop()
            raise BenchError(f"{self.label} did not start within {timeout}s:\n{self.logs()}")
        self._wait_accepting(timeout)
        return self

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self._stdout.append(line)
            match = _ROUTER_LISTENING.search(line) or _HANDWRITTEN_LISTENING.search(line)
            if match and not self._announced.is_set():
                self.port = int(match.group(1))
                self._announced.set()
        self._announced.set()  # the process ended: unblock start()

    def _wait_accepting(self, timeout: float) -> None:
        # `socketio.run` announces nothing once it listens, so ask the port itself.
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise BenchError(f"{self.label} exited with {self.process.returncode}:\n{self.logs()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BenchError(f"{self.label} is not accepting on port {self.port}:\n{self.logs()}")
                threading.Event().wait(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kb(self) -> int:
        """Resident memory now, from /proc/PID/status (VmRSS, in kB)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise BenchError(f"no VmRSS for {self.label} (pid {self.pid})")

    def cpu_seconds(self) -> float:
        """CPU time used so far (user + system), from /proc/PID/stat."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def logs(self) -> str:
        self._stderr.seek(0)
        return "".join(self._stdout) + self._stderr.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_load(spec: dict, command: list[str] | None = None) -> dict:
    """Run one bounded load generator to completion; its JSON result, or :class:`BenchError`.

    ``command`` is the generator (default: ``node bench/load.mjs``); the spec is its argument.
    """
    limit = spec.setdefault("limit", 120)
    try:
        done = subprocess.run([*(command or ["node", str(LOAD_SCRIPT)]), json.dumps(spec)], cwd=BENCH,
                              capture_output=True, text=True, timeout=limit + 15,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BenchError(f"load generator {spec['scenario']} did not stop within {limit + 15}s") from None
    result = _last_json(done.stdout)
    if result is None or not result.get("ok"):
        error = result.get("error") if result else done.stderr.strip()[-2000:]
        raise BenchError(f"load generator {spec['scenario']} failed: {error}")
    return result


class LoadProcess:
    """A load generator that talks on stdin/stdout while it runs (the connections and flood scenarios)."""

    def __init__(self, spec: dict, command: list[str] | None = None):
        self.spec = spec
        self.process = subprocess.Popen([*(command or ["node", str(LOAD_SCRIPT)]), json.dumps(spec)], cwd=BENCH,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)
        self._lines: list[dict] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self._cond:
                self._lines.append(message)
                self._cond.notify_all()
        with self._cond:
            self._lines.append({"type": "exit"})
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self._lines:
                    if predicate(message):
                        return message
                    if message.get("type") == "exit" or message.get("ok") is False:
                        raise BenchError(f"load generator ended early: {message} "
                                         f"{self.process.stderr.read()[-2000:] if message.get('type') == 'exit' else ''}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BenchError(f"load generator: nothing matching within {timeout}s")
                self._cond.wait(remaining)

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _last_json(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    return None
