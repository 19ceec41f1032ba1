"""Auth and abuse controls against a real ``python router.py``, driven by real clients:
python-socketio, the official socket.io-client (Node), and raw WebSocket frames."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import jwt
import pytest
import socketio
import websocket

from jsclient import JsDriver
from tests.support.router_process import ROOT

SECRET = "integration-secret-0123456789-abcdefghij"
FLOOD_CLIENT = Path(__file__).parent / "support" / "flood_client.py"


def token(**claims) -> str:
    body = {"sub": "alice", "aud": "chat", "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, SECRET, algorithm="HS256")


class Client:
    """A python-socketio client on one namespace whose every event lands in a queue."""

    def __init__(self, url: str, namespace: str, **connect_kwargs):
        self.namespace = namespace
        self.events: queue.Queue = queue.Queue()
        self.refusal: queue.Queue = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", lambda name, *args: self.events.put((name, args[0] if args else None)),
                    namespace=namespace)
        self.sio.on("connect_error", lambda data: self.refusal.put(data), namespace=namespace)
        self.disconnected = threading.Event()
        self.sio.on("disconnect", lambda *reason: self.disconnected.set(), namespace=namespace)
        connect_kwargs.setdefault("transports", ["websocket"])
        try:
            self.sio.connect(url, namespaces=[namespace], wait_timeout=10, **connect_kwargs)
        except socketio.exceptions.ConnectionError:
            pass

    @property
    def connected(self) -> bool:
        return self.namespace in self.sio.namespaces

    def call(self, event, data=None, timeout=10):
        return self.sio.call(event, data, namespace=self.namespace, timeout=timeout)

    def emit(self, event, data=None):
        self.sio.emit(event, data, namespace=self.namespace)

    def next_event(self, name=None, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if name is None or event[0] == name:
                return event

    def close(self):
        if self.sio.connected:
            self.sio.disconnect()


@pytest.fixture
def clients():
    made: list[Client] = []

    def make(url, namespace, **kwargs):
        client = Client(url, namespace, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


CONFIG = """
server:
  max_http_buffer_size: 20000
  cors_allowed_origins: "*"
  cors_allow_any_origin: true
namespaces:
  /secure:
    auth:
      - jwt: {secret: "${JWT_SECRET}", algorithms: [HS256], audience: chat}
    rooms:
      allow: "^room-[a-z0-9]{1,16}$"
    rate: 10/s
    events:
      join:
        - room.join: {room: "{{ data.room }}"}
        - ack: {data: true}
      whoami:
        - ack: {data: "{{ identity.sub }}"}
  /admin:
    auth:
      - origin: {allow: ["https://admin.example.com"]}
  /office:
    auth:
      - ip: {allow: [10.0.0.0/8]}
  /raw:
    max_payload_bytes: 5000
    unknown_events: error
    events:
      echo: echo
      join:
        - room.join: {room: "{{ data.room }}"}
        - ack: {data: true}
  /flood:
    rate: {events: 20/s, burst: 20, disconnect_after: null}
    events:
      say:
        - room.relay: {room: "{{ data.room }}", event: said, data: "{{ data.n }}", include_self: false}
        - ack: {data: "{{ data.n }}"}
      join:
        - room.join: {room: "{{ data.room }}"}
        - ack: {data: true}
  /strict:
    rate: {events: 20/s, disconnect_after: 50, abuse_window: 10}
    events:
      say: {ack: {data: ok}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.support.router_process import RouterProcess

    path = tmp_path_factory.mktemp("abuse") / "abuse.yaml"
    path.write_text(CONFIG)
    process = RouterProcess(path, env={"JWT_SECRET": SECRET}).start()
    yield process
    process.stop()


def assert_alive(server, clients):
    """The server process runs and a fresh client still gets its echo."""
    assert server.process.poll() is None, server.logs()
    witness = clients(server.url, "/raw")
    assert witness.connected
    witness.emit("echo", "still here")
    assert witness.next_event("echo") == ("echo", "still here")


# -- the issue's /secure example ----------------------------------------------------------------

def test_configs_secure_yaml_serves_jwt_rooms_and_rate(router_process, clients):
    process = router_process(ROOT / "configs" / "secure.yaml", env={"JWT_SECRET": SECRET})
    alice = clients(process.url, "/secure", auth={"token": token()})
    bob = clients(process.url, "/secure", auth={"token": token(sub="bob")})
    assert alice.connected and bob.connected
    assert alice.call("whoami") == "alice" and bob.call("whoami") == "bob"
    assert alice.call("join", {"room": "room-42"}) is True
    bob_sid = bob.sio.get_sid("/secure")
    assert alice.call("join", {"room": bob_sid}) is None
    assert alice.next_event("error") == ("error", {
        "message": f"room.join failed: room {bob_sid!r} is another client's private room", "event": "join"})
    expired = clients(process.url, "/secure", auth={"token": token(exp=int(time.time()) - 10)})
    assert not expired.connected
    assert expired.refusal.get(timeout=10) == {"message": "unauthorized", "rule": "jwt",
                                               "reason": "token expired",
                                               "data": {"rule": "jwt", "reason": "token expired"}}
    assert "refused" in process.logs() and "rule=jwt reason=token expired" in process.logs()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socketio_client_reads_the_refusal_reason(server, transport):
    with JsDriver() as driver:
        driver.connect("forged", server.url, "/secure", auth={"token": token(aud="billing")},
                       transports=[transport])
        refused = driver.wait_connect_error("forged")
        assert refused["message"] == "unauthorized"
        assert refused["data"] == {"rule": "jwt", "reason": "wrong audience"}
        driver.connect("ok", server.url, "/secure", auth={"token": token()}, transports=[transport])
        driver.wait_connected("ok")
        assert driver.wait_ack("ok", driver.emit("ok", "whoami", {}, ack=True)) == ["alice"]


# -- origin and ip rules on every transport -----------------------------------------------------

@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_origin_rule_holds_on_every_transport(server, transport):
    with JsDriver() as driver:
        driver.connect("evil", server.url, "/admin", transports=[transport],
                       headers={"Origin": "https://evil.example.com"})
        assert driver.wait_connect_error("evil")["data"] == {
            "rule": "origin", "reason": "origin 'https://evil.example.com' is not allowed"}
        driver.connect("admin", server.url, "/admin", transports=[transport],
                       headers={"Origin": "https://admin.example.com"})
        driver.wait_connected("admin")


def test_spoofed_forwarded_for_is_ignored(server, clients):
    spoofer = clients(server.url, "/office", headers={"X-Forwarded-For": "10.0.0.5"})
    assert not spoofer.connected
    assert spoofer.refusal.get(timeout=10)["reason"] == "address 127.0.0.1 is not in the allowed ranges"


# -- malformed packets and oversized payloads ---------------------------------------------------

def raw_socket(server):
    """A WebSocket speaking Engine.IO by hand, connected to /raw."""
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket",
                                     timeout=10)
    assert ws.recv().startswith("0{")  # the Engine.IO open packet
    ws.send("40/raw,")
    assert ws.recv().startswith("40/raw,{")
    return ws


def frames_until(ws, predicate, limit=50):
    for _ in range(limit):
        frame = ws.recv()
        if frame == "2":  # Engine.IO ping
            ws.send("3")
            continue
        if predicate(frame):
            return frame
    raise AssertionError("no matching frame")


MALFORMED = [
    '42/raw,["echo"',                              # truncated JSON
    '42/raw,{"not": "a list"}',                    # data that is not an array
    '42/raw,[]',                                   # no event name
    '42/raw,[null]',
    '42/raw,[{"event": "echo"}]',                  # an object as the event name
    '42/raw,123456789012345678901234567890["echo","x"]',  # an absurd ack id
    '42/raw,' + "[" * 100_000 + "]" * 100_000,     # nesting deep enough to overflow a parser
    '42/raw,["echo",' + "[" * 3000 + "]" * 3000 + "]",
    '452-/raw,["echo",{"_placeholder":true,"num":0}]',  # binary promised, never sent
    '44/raw,{"message":"forged"}',                 # a CONNECT_ERROR from a client
    '43/raw,99["x"]',                              # an ack nobody asked for
    '4',
    '4x',
    '49/raw,',
    '40/raw,',                                     # connect twice
    '42/nowhere,["echo",1]',                       # a namespace never joined
    '42/raw,["connect",{"token":"x"},{"token":"x"}]',
    '42/raw,["disconnect"]',
    b'42/raw,["echo","\xed\xa0\x80"]',           # a text frame that is not UTF-8
]


def test_malformed_packets_close_the_senders_connection_and_nobody_elses(server, clients):
    bystander = clients(server.url, "/raw")
    bystander.call("join", {"room": "room-1"})
    survived, cut_off = [], []
    for frame in MALFORMED:
        ws = raw_socket(server)
        try:
            ws.send(frame, opcode=websocket.ABNF.OPCODE_TEXT)
            try:
                ws.send('42/raw,["echo","after"]')
                frames_until(ws, lambda f: f == '42/raw,["echo","after"]')
                survived.append(frame)
            except (websocket.WebSocketException, OSError):
                cut_off.append(frame)
        finally:
            ws.close()
        bystander.emit("echo", repr(frame[:20]))
        assert bystander.next_event("echo") == ("echo", repr(frame[:20])), f"after {frame[:40]!r}"
    ws = raw_socket(server)
    ws.send_binary(bytes(range(256)) * 4)
    ws.close()
    assert_alive(server, clients)
    # Packets a client may send are answered as such; the others cut their sender off.
    assert survived == ['42/raw,123456789012345678901234567890["echo","x"]', '43/raw,99["x"]', '40/raw,',
                        '42/nowhere,["echo",1]', '42/raw,["connect",{"token":"x"},{"token":"x"}]',
                        '42/raw,["disconnect"]']
    logs = server.logs()
    # One line per malformed packet (the binary one waits for its attachment, and invalid
    # UTF-8 ends at the WebSocket layer), and no traceback from engine.io.
    assert logs.count("malformed packet from") >= len(cut_off) - 2
    assert "message handler error" not in logs


def test_a_packet_with_a_non_string_event_name_is_malformed(server):
    ws = raw_socket(server)
    try:
        ws.send('42/raw,[1,2]')
        with pytest.raises((websocket.WebSocketConnectionClosedException, OSError)):
            frames_until(ws, lambda f: False)
    finally:
        ws.close()
    assert "an event must be a list starting with the event name, a string; closing its connection" \
        in server.logs()


def test_oversized_payloads(server, clients):
    client = clients(server.url, "/raw")
    client.emit("echo", "x" * 7000)  # above max_payload_bytes, below max_http_buffer_size
    assert client.next_event() == ("error", {"message": "payload too large: 7002 bytes, the limit is 5000",
                                             "event": "echo", "code": "payload_too_large", "limit": 5000})
    assert client.connected
    # Above max_http_buffer_size engine.io cuts the connection itself: that client alone.
    other = clients(server.url, "/raw")
    client.emit("echo", "x" * 30000)
    assert client.disconnected.wait(10)
    other.emit("echo", "fine")
    assert other.next_event("echo") == ("echo", "fine")
    assert_alive(server, clients)


# -- floods -------------------------------------------------------------------------------------

def flood(server, namespace, rate, seconds, payload):
    return subprocess.Popen([sys.executable, str(FLOOD_CLIENT), server.url, namespace, "say", str(rate),
                             str(seconds), json.dumps(payload)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_a_flood_at_ten_times_the_rate_costs_other_clients_nothing(server, clients):
    observer = clients(server.url, "/flood")
    assert observer.call("join", {"room": "room-good"}) is True
    speaker = clients(server.url, "/flood")
    flooder = flood(server, "/flood", rate=200, seconds=3, payload={"room": "room-flood"})
    try:
        # The well-behaved client: 30 messages at 10/s, half its limit, while the flood runs.
        latencies = []
        started = time.monotonic()
        for n in range(30):
            due = started + n / 10
            time.sleep(max(0.0, due - time.monotonic()))  # pacing the sender, not synchronisation
            sent = time.monotonic()
            assert speaker.call("say", {"room": "room-good", "n": n}) == n
            latencies.append(time.monotonic() - sent)
        heard = [observer.next_event("said")[1] for _ in range(30)]
        assert heard == list(range(30))  # every message, in order
        report = json.loads(flooder.communicate(timeout=30)[0])
    finally:
        if flooder.poll() is None:
            flooder.kill()
            flooder.wait()
    assert report["sent"] >= 500  # 10x the 20/s limit for 3 s (slack for a busy machine)
    accepted = report["sent"] - report["errors"].get("rate_limited", 0)
    assert accepted <= 20 + 20 * (report["seconds"] + 1), report  # burst + rate x duration
    assert report["errors"]["rate_limited"] >= report["sent"] - accepted  # the excess was told why
    assert not report["disconnected"]
    assert max(latencies) < 2.0, latencies
    print(f"\nflood: {report}; speaker round trips max {max(latencies) * 1000:.0f} ms, "
          f"median {sorted(latencies)[15] * 1000:.0f} ms")


def test_a_client_that_keeps_flooding_is_disconnected(server, clients):
    flooder = flood(server, "/strict", rate=200, seconds=5, payload={})
    report = json.loads(flooder.communicate(timeout=30)[0])
    assert report["disconnected"], report
    assert report["errors"].get("abuse") == 1 and report["errors"]["rate_limited"] >= 50
    assert report["seconds"] < 4.5  # cut off well before the flood would have ended
    client = clients(server.url, "/strict")
    assert client.call("say", {}) == "ok"
