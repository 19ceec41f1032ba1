"""A real `python router.py` process driven by real clients: python-socketio and socket.io-client."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from jsclient import js  # noqa: F401  (a fixture)
from tests.support.py_client import PyClient
from tests.support.router_process import ROOT

CHAT_TOKEN = {"token": "dev-token"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def chat_server(router_process, tmp_path):
    """configs/chat.yaml as shipped, with its CORS origin moved to the port it gets (and its
    plugins_dir, relative to configs/, made absolute for the copy)."""
    port = free_port()
    text = (ROOT / "configs" / "chat.yaml").read_text().replace("5000", str(port))
    text = text.replace("plugins_dir: ../plugins ", f"plugins_dir: {ROOT / 'plugins'} ")
    path = tmp_path / "chat.yaml"
    path.write_text(text)
    return router_process(path, "--port", str(port))


@pytest.fixture
def py_clients():
    clients = []

    def make(url, namespace="/chat", auth=CHAT_TOKEN, **kwargs):
        client = PyClient(url, namespace, auth=auth, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_rooms_acks_and_broadcast_with_python_clients(chat_server, py_clients, transport):
    alice, bob, carol = (py_clients(chat_server.url, transports=[transport]).connect() for _ in range(3))
    for client in (alice, bob, carol):
        assert set(client.wait_event("welcome")[0]) == {"sid"}
    assert alice.call("join", {"room": "r1", "user": "alice"}) is True
    assert bob.call("join", {"room": "r1", "user": "bob"}) is True
    assert carol.call("join", {"room": "r2", "user": "carol"}) is True
    # room.relay includes the sender unless include_self: false, as emit(to=room) does
    assert alice.wait_event("status") == ("alice has entered the room.",)
    assert alice.wait_event("status") == ("bob has entered the room.",)

    bob.emit("say", {"room": "r1", "user": "bob", "text": "hi"})
    assert alice.wait_event("message") == ({"user": "bob", "text": "hi"},)
    assert bob.wait_event("message") == ({"user": "bob", "text": "hi"},)
    # carol's own room message arrives; nothing from r1 came before it
    carol.emit("say", {"room": "r2", "user": "carol", "text": "mine"})
    assert carol.wait_event("message") == ({"user": "carol", "text": "mine"},)
    assert carol.events("message") == []
    assert carol.events("status") == [("carol has entered the room.",)]

    carol.emit("shout", {"all": True})
    for client in (alice, bob, carol):
        assert client.wait_event("shout") == ({"all": True},)
    assert alice.call("ping") == "pong"


def test_refusal_and_unknown_namespace_with_python_client(chat_server, py_clients):
    refused = py_clients(chat_server.url, auth={"token": "wrong"})
    assert refused.try_connect() == {"message": "unauthorized", "reason": "invalid token", "rule": "token",
                                     "data": {"reason": "invalid token", "rule": "token"}}
    missing = py_clients(chat_server.url, auth=None)
    assert missing.try_connect()["reason"] == "missing token (auth field 'token')"
    unknown = py_clients(chat_server.url, namespace="/nowhere")
    assert unknown.try_connect() == {"message": "Invalid namespace"}
    assert "refused" in chat_server.logs() and "reason=invalid token" in chat_server.logs()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_js_clients_rooms_acks_binary_and_order(chat_server, js, transport):
    url = chat_server.url
    for name in ("a", "b", "c"):
        js.connect(name, url, "/chat", auth=CHAT_TOKEN, transports=[transport])
    for name in ("a", "b", "c"):
        js.wait_connected(name)
        js.wait_event(name, "welcome")
        # on_connect steps run after the connection is accepted: connect comes first
        kinds = [m["type"] if m["type"] != "event" else m["event"] for m in js.messages if m.get("id") == name]
        assert kinds.index("connect") < kinds.index("welcome")
    assert js.wait_ack("a", js.emit("a", "join", {"room": "r1", "user": "a"}, ack=True)) == [True]
    assert js.wait_ack("b", js.emit("b", "join", {"room": "r1", "user": "b"}, ack=True)) == [True]
    assert js.wait_ack("c", js.emit("c", "join", {"room": "r2", "user": "c"}, ack=True)) == [True]
    js.emit("a", "say", {"room": "r1", "user": "a", "text": "hello"})
    assert js.wait_event("b", "message") == [{"user": "a", "text": "hello"}]
    assert js.wait_event("a", "message") == [{"user": "a", "text": "hello"}]
    js.emit("c", "say", {"room": "r2", "user": "c", "text": "own"})
    assert js.wait_event("c", "message") == [{"user": "c", "text": "own"}]
    assert [m["args"] for m in js.events("c", "message")] == [[{"user": "c", "text": "own"}]]

    blob = bytes(range(200))
    js.send("a", blob, {"meta": 1})
    assert js.wait_event("a", "message") == [blob, {"meta": 1}]
    js.emit("b", "shout", "everyone")
    for name in ("a", "b", "c"):
        assert js.wait_event(name, "shout") == ["everyone"]
    js.emit("c", "bye")
    assert js.wait_disconnect("c") == "io server disconnect"


def test_js_client_refusal_reason(chat_server, js):
    js.connect("x", chat_server.url, "/chat", auth={"token": "nope"})
    error = js.wait_connect_error("x")
    assert error["message"] == "unauthorized"
    assert error["data"] == {"rule": "token", "reason": "invalid token"}
    js.connect("y", chat_server.url, "/missing")
    assert js.wait_connect_error("y")["message"] == "Invalid namespace"


def test_failing_step_answers_that_client_alone(chat_server, js):
    for name in ("a", "b"):
        js.connect(name, chat_server.url, "/chat", auth=CHAT_TOKEN)
        js.wait_connected(name)
    js.emit("a", "join", {"user": "no room"})
    [error] = js.wait_event("a", "error")
    assert error == {"message": "room.join failed: template '{{ data.room }}': 'dict object' has no attribute 'room'"}
    assert js.wait_ack("b", js.emit("b", "ping", ack=True)) == ["pong"]
    assert js.events("b", "error") == []


def test_demo_config_classic_events(router_process, js):
    server = router_process(ROOT / "configs" / "demo.yaml")
    for name in ("a", "b"):
        js.connect(name, server.url, "/test")
        js.wait_connected(name)
        assert js.wait_event(name, "my_response")[0]["data"] == "Connected"
    js.emit("a", "my_event", {"data": "echo me"})
    assert js.wait_event("a", "my_response")[0]["data"] == "echo me"
    js.emit("a", "my_broadcast_event", {"data": "all"})
    for name in ("a", "b"):
        assert js.wait_event(name, "my_response")[0]["data"] == "all"
    for name in ("a", "b"):
        js.emit(name, "join", {"room": "blue"})
        assert js.wait_event(name, "my_response")[0]["data"].startswith("In room")
    js.emit("b", "my_room_event", {"room": "blue", "data": "to room"})
    for name in ("a", "b"):
        assert js.wait_event(name, "my_response")[0]["data"] == "to room"
    js.emit("a", "my_ping")
    js.wait_event("a", "my_pong")
    js.emit("a", "close_room", {"room": "blue"})
    for name in ("a", "b"):
        assert js.wait_event(name, "my_response")[0]["data"] == "Room blue is closing."
    js.emit("a", "disconnect_request")
    assert js.wait_event("a", "my_response")[0]["data"] == "Disconnected!"
    assert js.wait_disconnect("a") == "io server disconnect"


@pytest.mark.parametrize("mode", ["gevent", "threading"])
def test_other_async_modes_serve(router_process, write_config, py_clients, mode):
    path = write_config(f"""
        server:
          async_mode: {mode}
        namespaces:
          /m:
            on_connect:
              - emit: {{event: mode, data: {mode}}}
            events:
              ping:
                - echo: {{event: pong}}
                - ack: {{data: "{{{{ data }}}}"}}
    """)
    server = router_process(path)
    assert f"async_mode={mode}" in server.logs()
    client = py_clients(server.url, "/m", auth=None, transports=["websocket"]).connect()
    assert client.wait_event("mode") == (mode,)
    assert client.call("ping", 42) == 42
    assert client.wait_event("pong") == (42,)
