"""``--reload``: a supervisor that restarts the router when its config or a plugin changes.

The supervisor binds the listening socket once and hands it to each child
(``python router.py serve``), so a restart never refuses a connection. On a change
it starts a new child next to the running one; only once the new child listens
does the old one get SIGTERM and stop gracefully (its clients reconnect to the
new one). A broken edit makes the new child exit with its usual config error on
stderr; the running child is left serving and the supervisor waits for the next
edit. Changes are found by polling modification times: no dependency, and it
works on every file system, including bind mounts that do not deliver inotify.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from pydantic import ValidationError

from router.errors import StartupError

LISTEN_FD_ENV = "SOCKETIO_ROUTER_LISTEN_FD"
POLL_INTERVAL = 0.5    # seconds between two looks at the files
SETTLE_INTERVAL = 0.2  # an editor writes in several steps: wait until two looks agree
START_TIMEOUT = 30.0   # seconds a new child gets to listen
STOP_TIMEOUT = 30.0    # seconds an old child gets to stop before it is killed
READY_MARK = "listening on "
CHILD_MAIN = "import sys; from router.cli.main import main; sys.exit(main())"


def inherited_socket() -> socket.socket | None:
    """The listening socket a supervisor passed down, if any (the variable is consumed)."""
    fd = os.environ.pop(LISTEN_FD_ENV, None)
    if not fd:
        return None
    return socket.socket(fileno=int(fd))


def watched_files(config: str) -> dict[str, tuple[int, int]]:
    """The config file and every ``*.py`` of its plugins directory, with (mtime, size)."""
    paths = [config]
    plugins_dir = _plugins_dir(config)
    if os.path.isdir(plugins_dir):
        paths += sorted(str(p) for p in Path(plugins_dir).glob("*.py"))
    snapshot = {}
    for path in paths:
        try:
            stat = os.stat(path)
            snapshot[path] = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            snapshot[path] = (0, -1)  # a missing file is a state too: its return is a change
    return snapshot


def _plugins_dir(config: str) -> str:
    from router.compile.load import plugins_directory
    from router.config.source import ConfigSource, read_config_file

    try:
        source = read_config_file(config)
    except StartupError:  # the child will report the error; keep watching the usual place
        source = ConfigSource(file=config, data={})
    return plugins_directory(source, source.raw("plugins_dir", str))


class Child:
    """One ``serve`` process on the shared socket; its stdout is relayed line by line."""

    def __init__(self, args, sock: socket.socket):
        argv = [sys.executable, "-c", CHILD_MAIN, "serve", "--config", args.config]
        if args.host:
            argv += ["--host", args.host]
        if getattr(args, "console", None):
            argv.append("--console")
        if getattr(args, "timers_enabled", None) is False:
            argv.append("--no-timers")
        env = {**os.environ, LISTEN_FD_ENV: str(sock.fileno()), "PYTHONUNBUFFERED": "1"}
        self.listening = threading.Event()
        self.settled = threading.Event()  # it listens, or its output ended (it exited)
        self.process = subprocess.Popen(argv, env=env, pass_fds=(sock.fileno(),),
                                        stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._relay, daemon=True).start()

    def _relay(self) -> None:
        for line in self.process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if READY_MARK in line:
                self.listening.set()
                self.settled.set()
        self.settled.set()

    def wait_ready(self, timeout: float) -> bool:
        """True once it listens; False if it exited first or did not listen in time."""
        self.settled.wait(timeout)
        return self.listening.is_set() and self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM (a graceful stop), then SIGKILL if it outlives :data:`STOP_TIMEOUT`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def _say(message: str) -> None:
    print(f"reload: {message}", file=sys.stderr, flush=True)


def supervise(args) -> int:
    """Run children until SIGTERM / SIGINT; the exit status is the last child's."""
    from router.config.models import ServerConfig
    from router.config.problems import problems_from_validation
    from router.config.source import read_config_file
    from router.server.serve import listen_socket

    source = read_config_file(args.config)
    raw = dict(source.raw("server") or {})
    raw.update({k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None})
    try:
        server = ServerConfig.model_validate(raw)
    except ValidationError as exc:
        raise StartupError(problems_from_validation(exc, source, ("server",), ServerConfig)) from None
    try:
        sock = listen_socket(server.host, server.port, server.tcp_nodelay)
    except OSError as exc:
        raise StartupError(source.problem(("server", "port"), f"cannot listen on {server.host}:"
                                          f"{server.port}: {exc.strerror}",
                                          hint="pick another port, or stop what uses it")) from None

    stopping = threading.Event()

    def on_signal(signum, frame) -> None:
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)

    child = Child(args, sock)
    if not child.wait_ready(START_TIMEOUT):
        return child.stop()
    snapshot = watched_files(args.config)  # before saying so: an edit after the message counts
    _say(f"watching {args.config} and its plugins directory")
    while not stopping.wait(POLL_INTERVAL):
        if child.process.poll() is not None:
            _say(f"the server exited on its own (status {child.process.returncode})")
            return child.process.returncode
        current = watched_files(args.config)
        if current == snapshot:
            continue
        while not stopping.wait(SETTLE_INTERVAL):
            settled = watched_files(args.config)
            if settled == current:
                break
            current = settled
        snapshot = current
        if stopping.is_set():
            break
        _say("a watched file changed; starting a new server")
        candidate = Child(args, sock)
        if candidate.wait_ready(START_TIMEOUT):
            child.stop()
            child = candidate
            _say("the new configuration is serving")
        else:
            status = candidate.stop()
            _say(f"the new configuration did not start (status {status}, error above); "
                 f"still serving the previous one")
    return child.stop()
