"""The WebSocket transport (router/upstream/websocket_frames.py), in every async mode, with real
processes and real clients: large and fragmented messages arrive whole, a frame over the cap
closes only its sender (judged on its header), and a flooding client is slowed down by its
byte budget while another client's echo stays quick. Timing targets live in the bench."""

from __future__ import annotations

import ast
import inspect
import json
import random
import textwrap
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websocket import ABNF

from router.upstream import websocket_frames
from router.upstream.websocket_frames import IntakeBudget
from tests.support.py_client import PyClient
from tests.support.raw_websocket import RawSocketIO
from tests.support.router_process import RouterProcess

MODES = ["eventlet", "gevent", "threading"]
CAP = 300_000  # max_http_buffer_size of the test servers
NAMESPACE = "/frames"

CONFIG = """
    server:
      async_mode: {mode}
      max_http_buffer_size: {cap}
      max_queued_bytes_per_client: null  # a client that stops reading here is not cut off (see test_outbound_queues.py)
      {extra}
    namespaces:
      /frames:
        events:
          echo: [echo, ack]
          count:
            - ack: {{data: true}}
          shout: [broadcast]
"""


def start_router(tmp_path_factory, mode: str, extra: str = "") -> RouterProcess:
    path = tmp_path_factory.mktemp(f"frames-{mode}") / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG.format(mode=mode, cap=CAP, extra=extra)).lstrip())
    return RouterProcess(path).start()


@pytest.fixture(scope="module", params=MODES)
def router(request, tmp_path_factory):
    process = start_router(tmp_path_factory, request.param)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(router):
    connected = PyClient(router.url, NAMESPACE, transports=["websocket"]).connect()
    yield connected
    connected.client.disconnect()


# -- what the override relies on ------------------------------------------------------------


def assigned_on_self(cls: type) -> set[str]:
    """The names a class or its bases assign as ``self.<name> = ...`` in their source."""
    names = set()
    for klass in cls.__mro__[:-1]:
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id == "self":
                names.add(node.attr)
    return names


@pytest.mark.filterwarnings("ignore:\\s*Eventlet is deprecated")
@pytest.mark.parametrize("mode", MODES)
def test_engineio_keeps_a_websocket_class_per_server_that_install_replaces(mode):
    import engineio

    server = engineio.Server(async_mode=mode)
    shared = server._async
    websocket_frames.install(server, websocket_frames.Intake(1000, 2000))
    assert issubclass(server._async["websocket"], websocket_frames.WebSocketApp)
    assert server._async["websocket"].intake.bytes_per_second == 1000
    assert shared["websocket"] is not server._async["websocket"]  # the module's table is untouched


# -- the byte budget ------------------------------------------------------------------------


@pytest.mark.parametrize("server, rate, burst", [
    ("{}", 4_000_000, 2_000_000),  # the defaults: burst twice max_http_buffer_size
    ("{max_http_buffer_size: 5000000}", 4_000_000, 10_000_000),
    ("{max_client_bytes_per_second: 100000, max_client_burst_bytes: 50000}", 100_000, 50_000),
    ("{max_client_bytes_per_second: null}", None, 2_000_000),
])
def test_the_config_sets_each_servers_budget(build_router, server, rate, burst):
    router_app = build_router(f"""
        server: {server}
        namespaces:
          /a: {{}}
    """)
    intake = router_app.socketio.server.eio._async["websocket"].intake
    assert (intake.bytes_per_second, intake.burst_bytes) == (rate, burst)
    assert (intake.budget(time.sleep) is None) == (rate is None)




class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_client_within_its_burst_never_waits():
    fake = FakeTime()
    budget = IntakeBudget(rate=1000, burst=5000, sleep=fake.sleep, clock=fake.clock)
    for _ in range(5):
        assert budget.wait() == 0
        budget.spend(1000)
    assert budget.wait() == 0 and fake.slept == []


def test_a_client_over_its_budget_waits_until_the_debt_is_repaid():
    fake = FakeTime()
    budget = IntakeBudget(rate=1000, burst=2000, sleep=fake.sleep, clock=fake.clock)
    budget.spend(5000)  # one read larger than the burst still gets through
    assert budget.wait() == pytest.approx(3.0)
    fake.now += 1.0  # time passes: a second's worth of budget comes back, no more than the burst
    budget.spend(1000)
    assert budget.wait() == 0
    fake.now += 60
    budget.spend(0)
    assert budget.tokens == 2000


# -- large, binary and fragmented messages ---------------------------------------------------


def text_of(size: int, seed: int) -> str:
    """``size`` characters, mostly ASCII, with some that JSON escapes or UTF-8 encodes in several bytes."""
    rng = random.Random(seed)
    return "".join(rng.choice("abcxyz019 {}\"\\é☃😀") for _ in range(size))


def frame_size(payload: str) -> int:
    """The bytes of the WebSocket frame python-socketio sends for ``call("echo", payload)``."""
    return len(f"42{NAMESPACE},999" + json.dumps(["echo", payload], separators=(",", ":")))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(0, CAP), seed=st.integers(0, 2**32))
def test_text_messages_up_to_the_cap_arrive_whole(client, size, seed):
    payload = text_of(size, seed)
    while frame_size(payload) > CAP:  # escapes take several bytes: trim to the cap
        payload = payload[:len(payload) - (frame_size(payload) - CAP + 5) // 2 - 1]
    assert client.call("echo", payload, timeout=30) == payload


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(0, CAP), seed=st.integers(0, 2**32))
def test_binary_messages_up_to_the_cap_arrive_whole(client, size, seed):
    payload = random.Random(seed).randbytes(size)
    assert client.call("echo", payload, timeout=30) == payload


def test_a_frame_exactly_at_the_cap_passes_and_one_byte_more_closes_the_connection(router):
    raw = RawSocketIO(router.url, NAMESPACE)
    try:
        head = f'42{NAMESPACE},["count","'
        raw.ws.send(head + "x" * (CAP - len(head) - 2) + '"]')
        raw.ws.send(raw.event_packet("count", "still here", ack=1))
        assert raw.recv_packet() == f"43{NAMESPACE},1[true]"
        raw.ws.send(head + "x" * (CAP - len(head) - 1) + '"]')
        code, reason = raw.recv_close()
        assert code == 1009 and f"exceeds limit of {CAP} bytes" in reason, (code, reason)
    finally:
        raw.close()


def test_fragmented_text_arrives_whole_with_a_ping_between_the_fragments(router):
    raw = RawSocketIO(router.url, NAMESPACE)
    try:
        payload = text_of(CAP // 4, seed=7)  # about 2.5 bytes a character once JSON-escaped
        raw.send_fragments(raw.event_packet("echo", payload, ack=5), pieces=5, ping_between=True)
        frames = [raw.recv_frame() for _ in range(6)]  # four PONGs, the echo, the ack
        pongs = [data for opcode, data in frames if opcode == ABNF.OPCODE_PONG]
        texts = [data.decode() for opcode, data in frames if opcode == ABNF.OPCODE_TEXT]
        assert pongs == [b"between fragments"] * 4
        assert texts == [f"42{NAMESPACE},{json.dumps(['echo', payload], separators=(',', ':'))}",
                         f"43{NAMESPACE},5{json.dumps([payload], separators=(',', ':'))}"]
    finally:
        raw.close()


def test_a_fragmented_binary_attachment_arrives_whole(router):
    raw = RawSocketIO(router.url, NAMESPACE)
    try:
        attachment = random.Random(3).randbytes(CAP - 10)
        placeholder = '{"_placeholder":true,"num":0}'
        raw.ws.send(f'451-{NAMESPACE},9["echo",{placeholder}]')
        raw.send_fragments(attachment, pieces=7)
        received = [raw.recv_packet() for _ in range(4)]  # the echo and the ack, each with its bytes
        assert received == [f'451-{NAMESPACE},["echo",{placeholder}]', attachment,
                            f'461-{NAMESPACE},9[{placeholder}]', attachment]
    finally:
        raw.close()


def test_a_message_sent_just_before_the_close_frame_is_still_delivered(router, client):
    raw = RawSocketIO(router.url, NAMESPACE)
    farewell = raw.event_packet("shout", "goodbye").encode()
    close = ABNF.create_frame(b"\x03\xe8", ABNF.OPCODE_CLOSE)
    # One write: the server reads the message and the close frame in the same chunk.
    raw.ws.sock.sendall(ABNF.create_frame(farewell, ABNF.OPCODE_TEXT).format() + close.format())
    assert raw.recv_close()[0] == 1000
    raw.close()
    assert client.wait_event("shout") == ("goodbye",)


def test_a_client_that_stops_reading_still_has_what_it_sends_read(router, client):
    raw = RawSocketIO(router.url, NAMESPACE)
    try:
        # Far more answers than the socket buffers hold: the server's writes to it block...
        for number in range(40):
            raw.ws.send(raw.event_packet("echo", "x" * (CAP // 2), ack=number))
        # ...while its reads go on: this broadcast reaches the other client.
        raw.ws.send(raw.event_packet("shout", "still read"))
        assert client.wait_event("shout", timeout=20) == ("still read",)
    finally:
        raw.close()


# -- oversized frames ------------------------------------------------------------------------


def test_a_frame_announced_over_the_cap_is_refused_on_its_header_and_closes_only_its_sender(router,
                                                                                            client):
    raw = RawSocketIO(router.url, NAMESPACE)
    try:
        raw.send_header_only(100 * CAP)  # no payload follows: the header alone is judged
        code, reason = raw.recv_close()
    finally:
        raw.close()
    assert code == 1009 and f"frame with {100 * CAP} bytes exceeds limit of {CAP} bytes" in reason
    assert client.call("echo", "still served", timeout=10) == "still served"
    deadline = time.monotonic() + 10
    while f"with {100 * CAP} bytes" not in router.logs() and time.monotonic() < deadline:
        time.sleep(0.05)  # the log line is written by another process: poll for it
    lines = [line for line in router.logs().splitlines() if f"with {100 * CAP} bytes" in line]
    assert len(lines) == 1, lines
    assert "closing the WebSocket of" in lines[0] and "server.max_http_buffer_size" in lines[0]


def test_fragments_that_add_up_to_more_than_the_cap_close_the_connection(router, client):
    raw = RawSocketIO(router.url, NAMESPACE)
    try:
        raw.send_fragments(raw.event_packet("count", "x" * (CAP + 10)), pieces=3)
        code, reason = raw.recv_close()
    finally:
        raw.close()
    assert code == 1009 and f"exceeds limit of {CAP} bytes" in reason, (code, reason)
    assert client.call("echo", "still served", timeout=10) == "still served"


# -- fair intake -----------------------------------------------------------------------------

RATE, BURST, MESSAGE, FLOOD_SECONDS = 500_000, 250_000, 50_000, 3.0


@pytest.mark.parametrize("mode", MODES)
def test_a_flooding_client_is_slowed_to_its_budget_while_another_clients_echo_stays_quick(
        mode, tmp_path_factory):
    router = start_router(tmp_path_factory, mode, extra=f"max_client_bytes_per_second: {RATE}\n"
                                                        f"      max_client_burst_bytes: {BURST}")
    try:
        other = PyClient(router.url, NAMESPACE, transports=["websocket"]).connect()
        flooder = RawSocketIO(router.url, NAMESPACE)
        acked: list[float] = []

        def count_acks():
            try:
                while True:
                    if flooder.recv_packet().startswith(f"43{NAMESPACE},"):
                        acked.append(time.monotonic())
            except Exception:  # closed at the end of the test
                return

        threading.Thread(target=count_acks, daemon=True).start()
        round_trips: list[float] = []
        stop = threading.Event()

        def echo_meanwhile():
            while not stop.is_set():
                sent = time.monotonic()
                assert other.call("echo", "ping", timeout=10) == "ping"
                round_trips.append(time.monotonic() - sent)
                stop.wait(0.05)

        echoes = threading.Thread(target=echo_meanwhile, daemon=True)
        start = time.monotonic()
        echoes.start()
        sent = 0
        while time.monotonic() - start < FLOOD_SECONDS:  # each send waits for TCP
            flooder.ws.send(flooder.event_packet("count", "x" * MESSAGE, ack=sent))
            sent += 1
        stop.set()
        echoes.join(15)
        taken = sum(1 for moment in acked if moment - start <= FLOOD_SECONDS) * MESSAGE
        flooder.close()
        other.client.disconnect()
    finally:
        router.stop()
    allowed = BURST + RATE * FLOOD_SECONDS
    # Generous bounds: what the server took is about its budget, far below what TCP let through
    # a loopback connection would carry in three seconds unmetered (hundreds of MB).
    assert allowed * 0.3 <= taken <= allowed * 1.5 + MESSAGE, (taken, allowed, sent)
    assert len(round_trips) >= 5 and max(round_trips) < 1.0, round_trips


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_the_frames_the_router_writes_itself_are_the_ones_websockets_would(length):
    from websockets.frames import Frame, Opcode

    from router.upstream.websocket_frames import _frame

    data = bytes(range(256)) * (length // 256) + bytes(length % 256)
    text = "é" * (length // 2) + "x" * (length % 2)  # two bytes a character in UTF-8
    assert _frame(data) == Frame(Opcode.BINARY, data).serialize(mask=False, extensions=[])
    assert _frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
