"""A small HTTP backend for the http step and rule, run as its own process by the tests.

    python tests/support/backend.py SECRET     # prints its port, serves until stdin closes
    with BackendProcess(SECRET) as backend: ... backend.url ...   # the same, from a test

A threading stdlib server, so slow answers do not hold up quick ones. Routes (any method):

  /echo, /echo/*   200, what it got: {"method", "path", "json", "headers", "signature_valid"}
  /orders          200 {"id": 7, "room": <json.room or "orders">, "item": <json.item>}
  /reject          409 {"message": "out of stock"};  /reject/plain: 422 with a text body
  /fail            503 {"message": "database down"} (a client must never see it)
  /slow?s=N        sleeps N seconds, then 200 {"slept": N}
  /signed          200 {"verified": true} if the signature checks out under SECRET, else 401
  /socket/auth     the auth decision, from the auth payload's "token":
                   "good" -> 200 {"identity": {"sub": "alice", "role": "admin"}},
                   "flat" -> 200 {"sub": "bob"}, "bad" -> 401 {"reason": "token revoked"},
                   "crash" -> 500, "list" -> 200 [1, 2], "slow" -> sleeps 2 s
  /calls?path=P    200 {"count": how many requests /P has had}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

if __package__ in (None, ""):  # run as a script: tests.support is importable from the root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.support.processes import terminate  # noqa: E402


def verify(secret: bytes, timestamp: str, signature: str, body: bytes, tolerance: int = 300) -> bool:
    """The verifier of docs/backend.md, as a backend would write it."""
    try:
        if abs(time.time() - int(timestamp)) > tolerance:
            return False  # too old (or from the future): a replay
    except (TypeError, ValueError):
        return False
    expected = "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature or "")


class Backend(BaseHTTPRequestHandler):
    secret = b""
    calls: dict[str, int] = {}
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"  # keep-alive, as real backends do

    def log_message(self, *args):  # quiet
        pass

    def handle_any(self):
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.lock:
            self.calls[url.path] = self.calls.get(url.path, 0) + 1
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        signed = verify(self.secret, self.headers.get("X-Router-Timestamp"),
                        self.headers.get("X-Router-Signature"), body)
        path = url.path
        if path == "/echo" or path.startswith("/echo/"):
            return self.answer(200, {"method": self.command, "path": self.path, "json": data,
                                     "headers": dict(self.headers.items()), "signature_valid": signed})
        if path == "/orders":
            data = data if isinstance(data, dict) else {}
            return self.answer(200, {"id": 7, "room": data.get("room", "orders"), "item": data.get("item")})
        if path == "/reject":
            return self.answer(409, {"message": "out of stock"})
        if path == "/reject/plain":
            return self.answer(422, b"nope", "text/plain")
        if path == "/fail":
            return self.answer(503, {"message": "database down at db1.internal:5432"})
        if path == "/slow":
            seconds = float(query.get("s", "1"))
            time.sleep(seconds)
            return self.answer(200, {"slept": seconds})
        if path == "/signed":
            return self.answer(200 if signed else 401, {"verified": signed})
        if path == "/socket/auth":
            return self.decide(data or {})
        if path == "/calls":
            with self.lock:
                return self.answer(200, {"count": self.calls.get(query.get("path", ""), 0)})
        return self.answer(404, {"message": f"no route {path}"})

    def decide(self, request: dict):
        auth = request.get("auth") if isinstance(request.get("auth"), dict) else {}
        token = auth.get("token")
        if token == "good":
            return self.answer(200, {"identity": {"sub": "alice", "role": "admin"},
                                     "seen": {k: request.get(k) for k in ("namespace", "headers", "query")}})
        if token == "flat":
            return self.answer(200, {"sub": "bob"})
        if token == "bad":
            return self.answer(401, {"reason": "token revoked"})
        if token == "list":
            return self.answer(200, [1, 2])
        if token == "slow":
            time.sleep(2)
            return self.answer(200, {"sub": "late"})
        return self.answer(500, {"message": "auth service crashed"})

    def answer(self, status: int, body, content_type: str = "application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 50 clients call at once: no SYN may wait for a retry

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a caller that gave up waiting
            super().handle_error(request, client_address)


class BackendProcess:
    """This file as a process on a free port; ``url`` is its base URL. A context manager."""

    def __init__(self, secret: str = ""):
        self.secret = secret
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> "BackendProcess":
        self.process = subprocess.Popen([sys.executable, __file__, self.secret], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.stop()
            raise AssertionError(f"the test backend did not start (it printed {port!r})")
        self.url = f"http://127.0.0.1:{port}"
        return self

    def calls(self, path: str) -> int:
        """How many requests ``path`` has had."""
        with urlopen(f"{self.url}/calls?path={path}", timeout=5) as answer:
            return json.load(answer)["count"]

    def stop(self) -> None:
        if self.process is not None:
            self.process.stdin.close()
            terminate(self.process)

    def __enter__(self) -> "BackendProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    Backend.secret = (sys.argv[1] if len(sys.argv) > 1 else "").encode()
    server = Server(("127.0.0.1", 0), Backend)
    print(server.server_address[1], flush=True)

    def exit_when_stdin_closes():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
