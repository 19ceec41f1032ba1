"""The publish API in-process: POST /api/emit and /api/disconnect, the API key, every 4xx.

The same API through two processes and a broker is in test_scale_out.py.
"""

from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder
from flask import Request

from router.http.api_key import check_api_key

KEY = "s3cret-key-for-tests"

CONFIG = """
server:
  api_key: "${ROUTER_API_KEY:-}"
  max_http_buffer_size: 2000
namespaces:
  /chat:
    on_connect:
      - emit: {event: welcome, data: "{{ sid }}"}
    events:
      join:
        - room.join: {room: "{{ data }}"}
        - ack: {data: true}
  /other:
"""

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def router(build_router):
    return build_router(CONFIG, environ={"ROUTER_API_KEY": KEY})


@pytest.fixture
def http(router):
    return router.app.test_client()


@pytest.fixture
def chat_client(router, connect):
    """A /chat test client with its ``sid`` (from the welcome event)."""

    def make():
        client = connect(router, "/chat")
        [welcome] = client.get_received("/chat")
        client.sid = welcome["args"][0]
        return client

    return make


def received(client, namespace="/chat"):
    return [(item["name"], item["args"]) for item in client.get_received(namespace)]


def test_emit_to_the_namespace_a_room_and_one_client(router, http, connect, chat_client):
    alice, bob = chat_client(), chat_client()
    other = connect(router, "/other")
    assert alice.emit("join", "news", callback=True, namespace="/chat") is True

    response = http.post("/api/emit", json={"namespace": "/chat", "event": "hello", "data": {"x": 1}},
                         headers=AUTH)
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "namespace": "/chat", "event": "hello", "to": None}
    assert received(alice) == received(bob) == [("hello", [{"x": 1}])]
    assert received(other, "/other") == []

    response = http.post("/api/emit", json={"namespace": "/chat", "event": "room", "args": [1, "two"],
                                            "room": "news"}, headers=AUTH)
    assert response.get_json()["to"] == "news"
    assert received(alice) == [("room", [1, "two"])]
    assert received(bob) == []

    response = http.post("/api/emit", json={"namespace": "/chat", "event": "direct", "sid": bob.sid},
                         headers={"X-API-Key": KEY})
    assert response.status_code == 200
    assert received(bob) == [("direct", [])]  # no data: the event alone
    assert received(alice) == []


def test_disconnect_a_client(http, chat_client):
    alice, bob = chat_client(), chat_client()
    response = http.post("/api/disconnect", json={"namespace": "/chat", "sid": alice.sid}, headers=AUTH)
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "namespace": "/chat", "sid": alice.sid}
    assert not alice.is_connected("/chat")
    assert bob.is_connected("/chat")


@pytest.mark.parametrize("headers, message", [
    ({}, "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"),
    ({"Authorization": "Bearer wrong"}, "invalid API key"),
    ({"X-API-Key": "wrong"}, "invalid API key"),
    ({"Authorization": f"Basic {KEY}"}, "missing API key: send 'Authorization: Bearer <key>' or "
                                        "'X-API-Key: <key>'"),
])
def test_a_missing_or_wrong_key_is_401(http, headers, message):
    for path in ("/api/emit", "/api/disconnect"):
        response = http.post(path, json={"namespace": "/chat", "event": "x"}, headers=headers)
        assert response.status_code == 401
        assert response.get_json() == {"error": message}
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="socketio-router"'


@pytest.mark.parametrize("environ", [{}, {"ROUTER_API_KEY": ""}])
def test_the_api_is_off_without_a_key(build_router, environ):
    router = build_router(CONFIG, environ=environ)
    response = router.app.test_client().post("/api/emit", json={"namespace": "/chat", "event": "x"},
                                              headers={"Authorization": "Bearer "})
    assert response.status_code == 404
    assert response.get_json() == {
        "error": 'the publish API is off; set server.api_key (e.g. "${ROUTER_API_KEY}") to turn it on'}


@pytest.mark.parametrize("body, status, error", [
    ({"event": "x"}, 400, "invalid request: namespace: required"),
    ({"namespace": "chat", "event": "x"}, 400, "invalid request: namespace: a namespace starts with '/', e.g. '/chat'"),
    ({"namespace": "/caht", "event": "x"}, 400, "namespace '/caht' is not served by this config; did you mean '/chat'?"),
    ({"namespace": "/chat", "event": ""}, 400, "invalid request: event: String should have at least 1 character"),
    ({"namespace": "/chat", "event": "connect"}, 400,
     "invalid request: event: 'connect' is reserved by Socket.IO; pick another event name"),
    ({"namespace": "/chat", "event": 7}, 400, "invalid request: event: Input should be a valid string"),
    ({"namespace": "/chat", "event": "x", "data": 1, "args": [1]}, 400,
     "invalid request: give either data (one value) or args (several values), not both"),
    ({"namespace": "/chat", "event": "x", "room": "r", "sid": "s"}, 400,
     "invalid request: give either room or sid, not both"),
    ({"namespace": "/chat", "event": "x", "args": "notalist"}, 400, "invalid request: args: Input should be a valid list"),
    ({"namespace": "/chat", "event": "x", "to": "r"}, 400,
     "invalid request: to: unknown field; the fields are namespace, event, data, args, room, sid, volatile"),
])
def test_bad_fields_are_400_naming_the_field(http, body, status, error):
    response = http.post("/api/emit", json=body, headers=AUTH)
    assert response.status_code == status
    assert response.get_json()["error"] == error


def test_problems_list_every_field(http):
    response = http.post("/api/emit", json={"namespace": 1, "event": None, "extra": True}, headers=AUTH)
    assert response.status_code == 400
    assert [p["field"] for p in response.get_json()["problems"]] == ["namespace", "event", "extra"]


@pytest.mark.parametrize("data, content_type, status, error", [
    ("{not json", "application/json", 400, "the body is not valid JSON: Expecting property name "
                                           "enclosed in double quotes: line 1 column 2 (char 1)"),
    ('{"namespace": "/chat", "event": "x", "data": NaN}', "application/json", 400,
     "the body is not valid JSON: NaN is not a JSON value"),
    ("[1, 2]", "application/json", 400, "the body must be a JSON object, got list"),
    ("namespace=/chat&event=x", "application/x-www-form-urlencoded", 415,
     "send a JSON object with 'Content-Type: application/json'"),
    ('{"namespace": "/chat", "event": "x", "data": "' + "x" * 3000 + '"}', "application/json", 413,
     "the body is larger than 2000 bytes (server.max_http_buffer_size)"),
])
def test_bad_bodies(http, data, content_type, status, error):
    response = http.post("/api/emit", data=data, content_type=content_type, headers=AUTH)
    assert response.status_code == status
    assert response.get_json() == {"error": error}


def test_other_methods_are_405_after_the_key(http):
    response = http.get("/api/emit", headers=AUTH)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.get_json() == {"error": "use POST, not GET"}
    assert http.get("/api/emit").status_code == 401  # without the key, nothing else is told


def test_a_bad_request_does_not_disturb_connected_clients(http, chat_client):
    alice = chat_client()
    http.post("/api/emit", data="{", content_type="application/json", headers=AUTH)
    http.post("/api/emit", json={"namespace": "/chat", "event": "ok", "data": 1}, headers=AUTH)
    assert alice.is_connected("/chat")
    assert received(alice) == [("ok", [1])]


def request_with(headers):
    return Request(EnvironBuilder(headers=headers).get_environ())


@pytest.mark.parametrize("headers, expected, accepted", [
    ({"Authorization": "Bearer k1"}, "k1", True),
    ({"Authorization": "bearer   k1  "}, "k1", True),
    ({"X-API-Key": "k1"}, "k1", True),
    ({"Authorization": "Bearer k2", "X-API-Key": "k1"}, "k1", False),  # the Authorization header wins
    ({"Authorization": "Bearer k1"}, "k1-longer", False),
    ({"Authorization": "Bearer "}, "", False),
    ({}, None, False),
    ({"X-API-Key": "anything"}, None, False),  # no key configured: nobody is let in
])
def test_check_api_key(headers, expected, accepted):
    assert check_api_key(request_with(headers), expected) is accepted


@pytest.mark.parametrize("volatile", [True, False])
def test_a_volatile_emit_is_marked_as_such(router, http, chat_client, volatile):
    from router.delivery import sends_are_volatile

    alice = chat_client()
    marks = []
    emit = router.socketio.emit

    def recording_emit(*args, **kwargs):
        marks.append(sends_are_volatile())
        return emit(*args, **kwargs)

    router.socketio.emit = recording_emit
    body = {"namespace": "/chat", "event": "price", "data": 42, **({"volatile": True} if volatile else {})}
    assert http.post("/api/emit", json=body, headers=AUTH).status_code == 200
    assert marks == [volatile] and received(alice) == [("price", [42])]
