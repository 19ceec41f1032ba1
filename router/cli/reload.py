"""``--reload``: a supervisor that swaps an edited config into the running router, or restarts it.

The supervisor binds the listening socket once and hands it to its child (``python
router.py serve``). It polls the modification times of the config and of every
``plugins/*.py`` (no dependency, and it works on every file system, including bind mounts
that do not deliver inotify); on a change it sends the child SIGHUP, and the child
(:class:`ReloadInPlace`) reads and compiles the config with the loader of startup and
answers on its stdout with one line:

- the edit is swapped in, in the same process (router/server/live.py): connected clients
  keep their sessions, sids, rooms and identity, and the next events run the new steps;
- the edit is broken: the child prints the config error as ``serve`` does and keeps serving
  the previous config;
- the edit changes what only a new process can apply (router/config/models.py
  ``PROCESS_LEVEL_KEYS``: the port, the async mode, the broker, ...): the child names the keys,
  and the supervisor starts a new child next to the running one (on a new socket if the
  address changed); only once it listens does the old one get SIGTERM and stop gracefully,
  and its clients reconnect. A new child that does not start leaves the old one serving.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from pydantic import ValidationError

from router.errors import StartupError
from router.server.signals import RELOAD_SIGNAL  # what the child answers (a light module)

LISTEN_FD_ENV = "SOCKETIO_ROUTER_LISTEN_FD"
POLL_INTERVAL = 0.5    # seconds between two looks at the files
SETTLE_INTERVAL = 0.2  # an editor writes in several steps: wait until two looks agree
START_TIMEOUT = 30.0   # seconds a new child gets to listen
STOP_TIMEOUT = 30.0    # seconds an old child gets to stop before it is killed
READY_MARK = "listening on "
# The child's answer to SIGHUP, one line on its stdout, recognised by these words.
SWAPPED_MARK = "config reloaded in place"
KEPT_MARK = "config not reloaded"
RESTART_MARK = "this needs a new process"
ANSWER_MARKS = (SWAPPED_MARK, KEPT_MARK, RESTART_MARK)
CHILD_MAIN = "import sys; from router.cli.main import main; sys.exit(main())"

log = logging.getLogger("socketio_router")


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
        if args.port is not None:  # the socket is handed down; the child's config must agree
            argv += ["--port", str(args.port)]
        if getattr(args, "console", None):
            argv.append("--console")
        if getattr(args, "timers_enabled", None) is False:
            argv.append("--no-timers")
        env = {**os.environ, LISTEN_FD_ENV: str(sock.fileno()), "PYTHONUNBUFFERED": "1"}
        self.listening = threading.Event()
        self.settled = threading.Event()  # it listens, or its output ended (it exited)
        self.answers: queue.Queue[str] = queue.Queue()  # its answers to SIGHUP
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
            elif any(mark in line for mark in ANSWER_MARKS):
                self.answers.put(line)
        self.settled.set()

    def wait_ready(self, timeout: float) -> bool:
        """True once it listens; False if it exited first or did not listen in time."""
        self.settled.wait(timeout)
        return self.listening.is_set() and self.process.poll() is None

    def reload(self, timeout: float) -> str | None:
        """Ask it to reload its config (SIGHUP); its answer, or None if it gave none in time."""
        self.process.send_signal(RELOAD_SIGNAL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                return self.answers.get(timeout=POLL_INTERVAL)
            except queue.Empty:
                continue
        return None

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
    address = listen_address(args)
    sock = bind(*address)

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
        _say("a watched file changed; reloading")
        answer = child.reload(START_TIMEOUT)
        if answer is not None and SWAPPED_MARK in answer:
            _say("the new configuration is serving (swapped in place: clients kept)")
        elif answer is not None and KEPT_MARK in answer:
            _say("the new configuration has an error (above); still serving the previous one")
        else:  # it needs a new process, or the child did not answer
            child, sock, address = _restart(args, child, sock, address)
    return child.stop()


def listen_address(args) -> tuple:
    """(host, port, tcp_nodelay, source) of the config's ``server:``, with --host / --port."""
    from router.config.models import ServerConfig
    from router.config.problems import problems_from_validation
    from router.config.source import read_config_file

    source = read_config_file(args.config)
    raw = dict(source.raw("server") or {})
    raw.update({k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None})
    try:
        server = ServerConfig.model_validate(raw)
    except ValidationError as exc:
        raise StartupError(problems_from_validation(exc, source, ("server",), ServerConfig)) from None
    return server.host, server.port, server.tcp_nodelay, source


def bind(host: str, port: int, nodelay: bool, source) -> socket.socket:
    from router.server.serve import listen_socket

    try:
        return listen_socket(host, port, nodelay)
    except OSError as exc:
        raise StartupError(source.problem(("server", "port"), f"cannot listen on {host}:{port}: "
                                          f"{exc.strerror}",
                                          hint="pick another port, or stop what uses it")) from None


def _restart(args, child: Child, sock: socket.socket, address: tuple):
    """A new child for the edited config, on a new socket if its address changed; once it listens
    the old one stops. (child, socket, address) serving afterwards."""
    new_sock = sock
    try:
        new_address = listen_address(args)
        if new_address[:3] != address[:3]:
            new_sock = bind(*new_address)
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        _say("the new configuration cannot listen (error above); still serving the previous one")
        return child, sock, address
    _say("starting a new server")
    candidate = Child(args, new_sock)
    if candidate.wait_ready(START_TIMEOUT):
        child.stop()
        if new_sock is not sock:
            sock.close()
        _say("the new configuration is serving (in a new process: clients reconnect)")
        return candidate, new_sock, new_address
    status = candidate.stop()
    if new_sock is not sock:
        new_sock.close()
    _say(f"the new configuration did not start (status {status}, error above); "
         f"still serving the previous one")
    return child, sock, address


class ReloadInPlace:
    """A serving child's answer to SIGHUP: the edited config swapped in, kept out, or a restart.

    Called in a green thread or thread of its own (router/server/signals.py); one reload at a
    time. The answer is one line on stdout (the supervisor reads it, see the module's doc); a
    config error goes to stderr as ``serve`` prints it.
    """

    def __init__(self, args, router):
        self.args = args
        self.router = router
        self._one_at_a_time = threading.Lock()  # green under eventlet and gevent (monkey-patched)

    def __call__(self) -> None:
        with self._one_at_a_time:
            try:
                answer = self.answer()
            except Exception:  # a bug of ours: a new process starts from a clean slate
                log.exception("reload: reloading in place failed")
                answer = f"reloading in place failed (traceback above): {RESTART_MARK}; " \
                         f"restarting, clients reconnect"
            print(answer, flush=True)

    def answer(self) -> str:
        from router.cli.main import serve_overrides
        from router.compile.load import load_source
        from router.config.lint import security_warnings
        from router.config.source import read_config_file
        from router.server import live

        try:
            compiled = load_source(read_config_file(self.args.config), serve_overrides(self.args))
        except StartupError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            return f"{KEPT_MARK}: it has an error (above); still serving the previous one"
        changes = live.process_changes(self.router, compiled)
        if changes:
            return restart_line(changes)
        kept = live.swap(self.router, compiled)
        for warning in security_warnings(compiled.config, compiled.source):
            log.warning(warning.render())
        return f"{SWAPPED_MARK}: {kept} client connection(s) kept"


def restart_line(changes: list[str]) -> str:
    """The one line saying what needs a new process, e.g. "server.ping_interval changed: this
    needs a new process; restarting, clients reconnect"."""
    what = ", ".join(changes)
    if {"server.host", "server.port"} & set(changes):
        return f"{what} changed: {RESTART_MARK}; restarting on the new address, clients must " \
               f"connect there"
    return f"{what} changed: {RESTART_MARK}; restarting, clients reconnect"
