"""Drive real socket.io-client (Node) sockets from Python tests.

`JsDriver` runs ``node tests/js/driver.mjs`` and talks to it in JSON lines.
Commands return at once; what the sockets see arrives as message dicts that
the ``wait_*`` methods wait for, each with a timeout, never a sleep.

Message shapes (``args`` always a list, binary values as ``bytes``)::

    {"type": "ready", "pid": int}
    {"type": "connect", "id": str, "sid": str, "transport": "websocket"|"polling"}
    {"type": "connect_error", "id": str, "message": str, "data": any|None, "raw": any|None}
    {"type": "event", "id": str, "event": str, "args": list}      # + "ackId": int if the server wants an ack
    {"type": "ack", "id": str, "req": int, "args": list}          # + "error": str on timeout/disconnect
    {"type": "disconnect", "id": str, "reason": str}
    {"type": "error", "message": str, ...}                        # the driver refused a command

In ``connect_error``, ``message`` and ``data`` are what socket.io-client gives
(``err.message``, ``err.data``): only the ``message`` and ``data`` keys of the
server's refusal payload. ``raw`` is that payload whole, so extra keys survive.

Each message is returned by at most one ``wait_for`` call: waiting twice for
the same event waits for two deliveries. ``events()`` and ``messages`` list
everything regardless.

The Node packages must be installed first (``scripts/test`` runs ``npm ci``).
"""

import base64
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

DRIVER_SCRIPT = Path(__file__).parent / "js" / "driver.mjs"
DEFAULT_TIMEOUT = 10.0


def to_wire(value):
    """Encode bytes (recursively) as ``{"$binary": base64}`` for the driver."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$binary": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    return value


def from_wire(value):
    """Decode ``{"$binary": base64}`` (recursively) back to bytes."""
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$binary"), str):
            return base64.b64decode(value["$binary"])
        return {k: from_wire(v) for k, v in value.items()}
    return value


class JsDriver:
    """A Node process holding socket.io-client sockets, each named by an id.

    Use as a context manager; leaving it closes every socket and ends the
    process (killed if it does not exit by itself).
    """

    def __init__(self, node="node", script=DRIVER_SCRIPT, start_timeout=DEFAULT_TIMEOUT):
        self._cmd = [node, str(script)]
        self._start_timeout = start_timeout
        self._cond = threading.Condition()
        self._messages = []
        self._consumed = set()  # indexes into _messages already returned by wait_for
        self._stderr = []
        self._eof = False
        self._write_lock = threading.Lock()
        self._next_req = 1
        self._proc = None

    # -- lifecycle -----------------------------------------------------------

    def start(self):
        """Start the driver and wait until it reports ready."""
        self._proc = subprocess.Popen(
            self._cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            cwd=DRIVER_SCRIPT.parent,
        )
        self._stderr_reader = threading.Thread(target=self._read_stderr, name="jsdriver-stderr", daemon=True)
        self._stderr_reader.start()
        threading.Thread(target=self._read_stdout, name="jsdriver-stdout", daemon=True).start()
        try:
            self.wait_for(lambda m: m["type"] == "ready", timeout=self._start_timeout)
        except AssertionError as exc:
            self.close()
            raise RuntimeError(
                f"the JS driver did not start: {exc}\n"
                "Hint: run 'bash scripts/test', which installs tests/js with npm ci."
            ) from None
        except BaseException:
            self.close()
            raise
        return self

    def close(self, timeout=5.0):
        """Ask the driver to exit; kill it if it has not within ``timeout``."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                self._send({"op": "exit"})
                proc.stdin.close()
            except (OSError, RuntimeError):
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()

    # -- commands ------------------------------------------------------------

    def connect(self, id, url, namespace="/", auth=None, transports=None, query=None, headers=None,
                reconnect=None):
        """Open socket ``id`` to ``url + namespace`` (no shared manager; no reconnection unless
        ``reconnect`` gives its delay in seconds).

        ``transports`` e.g. ``["websocket"]`` or ``["polling"]``; None keeps the
        client default (polling, then upgrade), and then the ``transport`` that
        ``connect`` reports may already be "websocket". Returns at once: use
        ``wait_connected`` or ``wait_connect_error``. A ``connect`` message says whether
        socket.io-client reports the connection ``recovered`` (connection state recovery);
        with ``reconnect``, each reconnection reports one more.
        """
        self._send({
            "op": "connect", "id": id, "url": url, "namespace": namespace,
            "auth": auth, "transports": transports, "query": query, "extraHeaders": headers,
            "reconnect": None if reconnect is None else int(reconnect * 1000),
        })

    def emit(self, id, event, *args, ack=False, timeout=None):
        """Emit ``event`` with ``args`` on socket ``id``; return the request number.

        With ``ack=True`` the server's acknowledgement arrives as an ``ack``
        message with this ``req`` (see ``wait_ack``). ``timeout`` (seconds)
        makes socket.io-client give up and report an ack with ``error``.
        """
        return self._emit_like({"op": "emit", "id": id, "event": event}, args, ack, timeout)

    def send(self, id, *args, ack=False, timeout=None):
        """``socket.send(*args)``: an event named 'message'. Returns the request number."""
        return self._emit_like({"op": "send", "id": id}, args, ack, timeout)

    def reply(self, id, ack_id, *args):
        """Answer a server event that asked for an ack (its message's ``ackId``)."""
        self._send({"op": "reply", "id": id, "ackId": ack_id, "args": to_wire(list(args))})

    def disconnect(self, id):
        """Disconnect socket ``id`` from the client side."""
        self._send({"op": "disconnect", "id": id})

    # -- waiting -------------------------------------------------------------

    def wait_for(self, predicate, timeout=DEFAULT_TIMEOUT):
        """Return the first message not yet returned for which ``predicate`` is true.

        Raises AssertionError, listing every message seen, on timeout, when
        the driver reports an error the predicate does not match, or when the
        driver has exited.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index, message in enumerate(self._messages):
                    if index in self._consumed:
                        continue
                    if predicate(message):
                        self._consumed.add(index)
                        return message
                    if message["type"] == "error":
                        # A refused command would otherwise show up as a slow timeout.
                        self._consumed.add(index)
                        raise AssertionError(f"driver error: {message}\n{self._history()}")
                if self._eof:
                    raise AssertionError(f"driver exited before the awaited message\n{self._history()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching message within {timeout}s\n{self._history()}")
                self._cond.wait(remaining)

    def wait_connected(self, id, timeout=DEFAULT_TIMEOUT):
        """Wait for socket ``id`` to connect; return the ``connect`` message.

        Fails at once if the connection is refused instead.
        """
        message = self._wait_outcome(id, timeout)
        if message["type"] != "connect":
            raise AssertionError(f"socket {id!r} was refused: {message}\n{self._history()}")
        return message

    def wait_connect_error(self, id, timeout=DEFAULT_TIMEOUT):
        """Wait for socket ``id`` to be refused; return the ``connect_error`` message.

        Fails at once if the socket connects instead.
        """
        message = self._wait_outcome(id, timeout)
        if message["type"] != "connect_error":
            raise AssertionError(f"socket {id!r} connected, expected a refusal: {message}\n{self._history()}")
        return message

    def wait_event(self, id, event, timeout=DEFAULT_TIMEOUT):
        """Wait for ``event`` on socket ``id``; return its args (a list)."""
        message = self.wait_for(
            lambda m: m["type"] == "event" and m["id"] == id and m["event"] == event, timeout)
        return message["args"]

    def wait_ack(self, id, req, timeout=DEFAULT_TIMEOUT):
        """Wait for the ack of request ``req`` on socket ``id``; return its args (a list).

        Fails if socket.io-client reported the ack as timed out or lost to a disconnect.
        """
        message = self.wait_for(
            lambda m: m["type"] == "ack" and m["id"] == id and m["req"] == req, timeout)
        if "error" in message:
            raise AssertionError(f"ack {req} on {id!r} failed: {message['error']}\n{self._history()}")
        return message["args"]

    def wait_disconnect(self, id, timeout=DEFAULT_TIMEOUT):
        """Wait for socket ``id`` to disconnect; return the reason socket.io-client gives."""
        message = self.wait_for(lambda m: m["type"] == "disconnect" and m["id"] == id, timeout)
        return message["reason"]

    # -- inspection ----------------------------------------------------------

    def events(self, id, event=None):
        """The ``event`` messages received so far on socket ``id`` (of one name if given)."""
        with self._cond:
            return [
                m for m in self._messages
                if m["type"] == "event" and m["id"] == id and (event is None or m["event"] == event)
            ]

    @property
    def messages(self):
        """Every message received so far, in order."""
        with self._cond:
            return list(self._messages)

    @property
    def stderr(self):
        """What the driver wrote to stderr so far."""
        with self._cond:
            return "".join(self._stderr)

    # -- internals -----------------------------------------------------------

    def _emit_like(self, command, args, ack, timeout):
        with self._write_lock:
            req = self._next_req
            self._next_req += 1
        command.update(args=to_wire(list(args)), ack=bool(ack), req=req)
        if timeout is not None:
            command["timeout"] = int(timeout * 1000)
        self._send(command)
        return req

    def _wait_outcome(self, id, timeout):
        return self.wait_for(
            lambda m: m["type"] in ("connect", "connect_error") and m["id"] == id, timeout)

    def _send(self, command):
        if self._proc is None:
            raise RuntimeError("JsDriver is not started; use it as a context manager or call start()")
        line = json.dumps(command) + "\n"
        with self._write_lock:
            try:
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
            except (BrokenPipeError, ValueError) as exc:
                raise RuntimeError(f"the driver is gone ({exc}); stderr:\n{self.stderr}") from None

    def _read_stdout(self):
        for line in self._proc.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                message = {"type": "invalid", "line": line.rstrip("\n")}
            for key in ("args", "data", "raw"):
                if key in message:
                    message[key] = from_wire(message[key])
            with self._cond:
                self._messages.append(message)
                self._cond.notify_all()
        # Node has exited: collect its last words before waiters report them.
        self._stderr_reader.join(timeout=2)
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _read_stderr(self):
        for line in self._proc.stderr:
            with self._cond:
                self._stderr.append(line)

    def _history(self):
        lines = [f"messages seen ({len(self._messages)}):"]
        lines += [f"  {m}" for m in self._messages]
        if self._stderr:
            lines.append("driver stderr:")
            lines += [f"  {line.rstrip()}" for line in self._stderr]
        return "\n".join(lines)


@pytest.fixture
def js():
    """A started JsDriver, closed after the test; import it into a test module to use it."""
    with JsDriver() as driver:
        yield driver
