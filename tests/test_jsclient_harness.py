"""The JS client harness (tests/jsclient.py + tests/js/driver.mjs) against a plain python-socketio server.

No router here: tests/support/echo_server.py stands in, so a harness bug is
never mistaken for a router bug.
"""

import selectors
import subprocess
import sys
from pathlib import Path

import pytest

from jsclient import JsDriver, from_wire, to_wire

ECHO_SERVER = Path(__file__).parent / "support" / "echo_server.py"
TRANSPORTS = [["websocket"], ["polling"]]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    # stderr goes to a file: an unread pipe would block the server once full.
    stderr_path = tmp_path_factory.mktemp("echo_server") / "stderr.txt"
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(ECHO_SERVER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=15)
        port = proc.stdout.readline().strip() if ready else ""
        if not port.isdigit():
            pytest.fail(f"echo server gave no port within 15 s: {port!r}\n{stderr_path.read_text()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.fixture
def driver():
    with JsDriver() as d:
        yield d


@pytest.fixture(params=TRANSPORTS, ids=lambda t: t[0])
def transports(request):
    return request.param


def test_wire_encoding_round_trips_nested_bytes():
    value = [b"\x00\xff", {"a": [b"x", 1, None], "b": "text"}, bytearray(b"y")]
    wire = to_wire(value)
    assert wire[0] == {"$binary": "AP8="}
    assert from_wire(wire) == [b"\x00\xff", {"a": [b"x", 1, None], "b": "text"}, b"y"]


def test_connect_passes_auth_query_and_headers(driver, server_url, transports):
    driver.connect("a", server_url, auth={"token": "t1"}, transports=transports,
                   query={"room": "lobby"}, headers={"X-Harness": "yes"})
    connected = driver.wait_connected("a")
    assert connected["transport"] == transports[0]
    welcome = driver.wait_event("a", "welcome")
    assert welcome == [{"sid": connected["sid"], "auth": {"token": "t1"},
                        "query": {"room": "lobby"}, "header": "yes"}]


def test_emit_reports_events_and_every_ack_argument(driver, server_url, transports):
    driver.connect("a", server_url, transports=transports)
    driver.wait_connected("a")
    req = driver.emit("a", "echo", "hi", 2, {"x": [1, None]}, ack=True)
    assert driver.wait_ack("a", req) == ["hi", 2, {"x": [1, None]}]
    assert driver.wait_event("a", "echo") == ["hi", 2, {"x": [1, None]}]
    assert [m["args"] for m in driver.events("a", "echo")] == [["hi", 2, {"x": [1, None]}]]


def test_ack_of_a_handler_returning_none_has_no_args(driver, server_url):
    driver.connect("a", server_url, transports=["websocket"])
    driver.wait_connected("a")
    req = driver.emit("a", "silent", 1, ack=True)
    assert driver.wait_ack("a", req) == []


def test_send_and_message_events(driver, server_url, transports):
    driver.connect("a", server_url, transports=transports)
    driver.wait_connected("a")
    driver.send("a", "hello", {"n": 1})
    assert driver.wait_event("a", "message") == ["echo", "hello", {"n": 1}]


def test_wait_event_consumes_one_delivery_at_a_time(driver, server_url):
    driver.connect("a", server_url, transports=["websocket"])
    driver.wait_connected("a")
    driver.emit("a", "echo", 1)
    driver.emit("a", "echo", 2)
    assert driver.wait_event("a", "echo") == [1]
    assert driver.wait_event("a", "echo") == [2]


def test_binary_round_trip(driver, server_url, transports):
    blob = bytes(range(256))
    driver.connect("a", server_url, transports=transports)
    driver.wait_connected("a")
    req = driver.emit("a", "binary", blob, ack=True)
    assert driver.wait_ack("a", req) == [{"len": 256, "reversed": blob[::-1]}]
    assert driver.wait_event("a", "binary") == [{"blob": blob, "nested": [blob, {"again": blob}]}]


def test_reply_answers_a_server_ack(driver, server_url):
    driver.connect("a", server_url, transports=["websocket"])
    driver.wait_connected("a")
    driver.emit("a", "ask", "ready?")
    question = driver.wait_for(lambda m: m["type"] == "event" and m["event"] == "question")
    assert question["args"] == ["ready?"]
    driver.reply("a", question["ackId"], "yes", b"\x01")
    assert driver.wait_event("a", "answer") == [["yes", b"\x01"]]


def test_refusal_with_a_flat_payload_keeps_extra_keys_in_raw_only(driver, server_url, transports):
    driver.connect("p", server_url, namespace="/private", transports=transports)
    error = driver.wait_connect_error("p")
    # socket.io-client reads only payload.message and payload.data.
    assert error["message"] == "unauthorized"
    assert error["data"] is None
    assert error["raw"] == {"message": "unauthorized", "rule": "token"}


def test_refusal_with_message_and_data_args(driver, server_url, transports):
    driver.connect("p", server_url, namespace="/private", auth={"style": "args"}, transports=transports)
    error = driver.wait_connect_error("p")
    assert error["message"] == "unauthorized"
    assert error["data"] == {"rule": "token"}
    assert error["raw"] == {"message": "unauthorized", "data": {"rule": "token"}}


def test_refusal_by_returning_false(driver, server_url):
    driver.connect("p", server_url, namespace="/private", auth={"style": "false"}, transports=["websocket"])
    error = driver.wait_connect_error("p")
    assert error["message"] == "Connection rejected by server"
    assert error["data"] is None


def test_unknown_namespace_refusal_has_an_empty_message(driver, server_url):
    driver.connect("x", server_url, namespace="/nope", transports=["websocket"])
    error = driver.wait_connect_error("x")
    # python-socketio sends a bare string, which socket.io-client cannot read a message from.
    assert error["message"] == ""
    assert error["raw"] == "Unable to connect"


def test_private_namespace_accepts_the_token(driver, server_url):
    driver.connect("p", server_url, namespace="/private", auth={"token": "secret"}, transports=["polling"])
    assert driver.wait_connected("p")["sid"]


def test_disconnect_reasons(driver, server_url):
    driver.connect("a", server_url, transports=["websocket"])
    driver.connect("b", server_url, transports=["websocket"])
    driver.wait_connected("a")
    driver.wait_connected("b")
    driver.emit("a", "kick")
    assert driver.wait_disconnect("a") == "io server disconnect"
    driver.disconnect("b")
    assert driver.wait_disconnect("b") == "io client disconnect"


def test_ack_timeout_is_reported_not_dropped(driver, server_url):
    driver.connect("a", server_url, transports=["websocket"])
    driver.wait_connected("a")
    # python-socketio acks a handler that returns None (with no args), but
    # never acks an event that has no handler.
    req = driver.emit("a", "no-such-event", ack=True, timeout=0.2)
    ack = driver.wait_for(lambda m: m["type"] == "ack" and m["req"] == req)
    assert ack["error"] == "operation has timed out"
    with pytest.raises(AssertionError, match="operation has timed out"):
        driver.wait_ack("a", driver.emit("a", "no-such-event", ack=True, timeout=0.2))


def test_driver_errors_fail_fast_with_history(driver, server_url):
    with pytest.raises(AssertionError, match="no socket with id"):
        driver.emit("ghost", "echo", ack=True)
        driver.wait_ack("ghost", 1)
    driver.connect("a", server_url, transports=["websocket"])
    driver.wait_connected("a")
    with pytest.raises(AssertionError, match="reserved event name"):
        driver.wait_ack("a", driver.emit("a", "connect", ack=True))


def test_wait_for_times_out_with_the_messages_seen(driver):
    with pytest.raises(AssertionError, match=r"no matching message within 0.2s[\s\S]*'type': 'ready'"):
        driver.wait_for(lambda m: False, timeout=0.2)


def test_close_ends_the_node_process(server_url):
    with JsDriver() as d:
        d.connect("a", server_url, transports=["websocket"])
        d.wait_connected("a")
        proc = d._proc
    assert proc.poll() is not None
