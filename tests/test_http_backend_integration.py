"""The http step and rule in a real ``python router.py``, in each async mode, against a real
backend process, driven by python-socketio and the official socket.io-client (Node)."""

from __future__ import annotations

import statistics
import threading
import time

import pytest
import requests

from jsclient import js  # noqa: F401  (a fixture)
from tests.support.backend import BackendProcess
from tests.support.py_client import PyClient
from tests.test_ops_endpoints import samples, value

SECRET = "webhook-secret-0123456789abcdefghijkl"
CLOSED_PORT_URL = "http://127.0.0.1:9/nothing"  # the discard port: nothing listens on loopback
GOOD = {"token": "good"}
SLOW_CLIENTS = 50

CONFIG = """
server:
  async_mode: MODE
namespaces:
  /shop:
    auth:
      - http: {url: "BACKEND/socket/auth", timeout: 1s, secret: "SECRET"}
    events:
      order:
        - http: {url: BACKEND/orders, body: "{{ data }}", secret: "SECRET"}
        - ack: {data: "{{ response.json }}"}
        - emit: {event: order_placed, data: {id: "{{ response.json.id }}", status: "{{ response.status }}"}}
      whoami: {ack: {data: "{{ identity }}"}}
      signed:
        - http: {url: BACKEND/signed, secret: "SECRET"}
        - ack: {data: "{{ response.json }}"}
      reject: [{http: {url: BACKEND/reject}}, ack]
      fail: [{http: {url: BACKEND/fail}}, ack]
      late: [{http: {url: "BACKEND/slow?s=3", timeout: 300ms}}, ack]
      down: [{http: {url: "CLOSED"}}, ack]
  /busy:                          # 50 clients connect at once: a roomier auth timeout
    auth:
      - http: {url: "BACKEND/socket/auth", timeout: 10s, secret: "SECRET"}
    events:
      slow:
        - http: {url: "BACKEND/slow?s=1", timeout: 10s}
        - ack: {data: "{{ response.json }}"}
      limited:
        - http: {url: "BACKEND/slow?s=1", max_in_flight: 3}
        - ack: {data: "{{ response.json }}"}
      echo: ack
"""


@pytest.fixture(scope="module")
def http_backend():
    with BackendProcess(SECRET) as process:
        yield process


@pytest.fixture(scope="module", params=["eventlet", "gevent", "threading"])
def router(request, http_backend, tmp_path_factory):
    from tests.support.router_process import RouterProcess

    path = tmp_path_factory.mktemp(request.param) / "shop.yaml"
    path.write_text(CONFIG.replace("MODE", request.param).replace("BACKEND", http_backend.url)
                    .replace("SECRET", SECRET).replace("CLOSED", CLOSED_PORT_URL))
    with RouterProcess(path) as process:
        yield process


@pytest.fixture
def py_clients(router):
    made = []

    def make(auth=GOOD, namespace="/shop"):
        client = PyClient(router.url, namespace, auth=auth, transports=["websocket"])
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_the_answer_reaches_the_later_steps(router, py_clients, js):
    alice = py_clients().connect()
    assert alice.call("order", {"item": "book", "room": "eu"}) == {"id": 7, "room": "eu", "item": "book"}
    assert alice.wait_event("order_placed") == ({"id": 7, "status": 200},)
    js.connect("bob", router.url, "/shop", auth=GOOD, transports=["websocket"])
    js.wait_connected("bob")
    assert js.wait_ack("bob", js.emit("bob", "order", {"item": "pen"}, ack=True)) == \
        [{"id": 7, "room": "orders", "item": "pen"}]
    assert js.wait_ack("bob", js.emit("bob", "signed", ack=True)) == [{"verified": True}]


def test_each_failure_reaches_the_client_without_internals(router, py_clients, js):
    alice = py_clients().connect()
    for event in ("reject", "fail", "late", "down"):
        alice.emit(event)
    received = [alice.wait_event("error", timeout=10)[0] for _ in range(4)]
    assert sorted(received, key=lambda error: error["event"]) == [
        {"message": "the backend is unavailable", "event": "down", "code": "backend_unavailable"},
        {"message": "the backend is unavailable", "event": "fail", "code": "backend_unavailable",
         "status": 503},
        {"message": "the backend did not answer in time", "event": "late", "code": "backend_unavailable"},
        {"message": "out of stock", "event": "reject", "code": "backend_rejected", "status": 409},
    ]
    js.connect("bob", router.url, "/shop", auth=GOOD)
    js.wait_connected("bob")
    js.emit("bob", "fail")
    assert js.wait_event("bob", "error") == [{"message": "the backend is unavailable", "event": "fail",
                                              "code": "backend_unavailable", "status": 503}]
    logs = router.logs()
    assert "database down" not in str(received)
    assert "events.fail[0]: POST " in logs and "/fail: answered 503 after" in logs
    assert f"events.down[0]: POST {CLOSED_PORT_URL}: cannot connect (" in logs


def test_the_auth_rule_admits_refuses_and_fails_closed(router, py_clients, js):
    assert py_clients().connect().call("whoami") == {"sub": "alice", "role": "admin"}
    assert py_clients({"token": "bad"}).try_connect() == {
        "message": "unauthorized", "rule": "http", "reason": "token revoked",
        "data": {"rule": "http", "reason": "token revoked"}}
    for token in ("crash", "slow", "list"):  # a 500, no answer within 1 s, not an object
        assert py_clients({"token": token}).try_connect()["reason"] == "auth backend unavailable"
    js.connect("mallory", router.url, "/shop", auth={"token": "bad"})
    assert js.wait_connect_error("mallory")["data"] == {"rule": "http", "reason": "token revoked"}


def test_a_slow_backend_slows_no_one_else(router, py_clients, js, http_backend):
    for index in range(SLOW_CLIENTS):
        js.connect(f"c{index}", router.url, "/busy", auth=GOOD, transports=["websocket"])
    for index in range(SLOW_CLIENTS):
        js.wait_connected(f"c{index}", timeout=30)
    watcher = py_clients(namespace="/busy").connect()
    assert watcher.call("echo", "warm") == "warm"
    before = http_backend.calls("/slow")
    started = time.monotonic()
    requests_ = {f"c{index}": js.emit(f"c{index}", "slow", ack=True) for index in range(SLOW_CLIENTS)}
    _wait_until(lambda: http_backend.calls("/slow") >= before + SLOW_CLIENTS, timeout=10)
    # Every slow call is now waiting on the backend: the watcher's echoes must not wait with them.
    echoes = []
    for number in range(10):
        sent = time.perf_counter()
        assert watcher.call("echo", number) == number
        echoes.append(time.perf_counter() - sent)
    answered_meanwhile = sum(1 for m in js.messages if m["type"] == "ack")
    assert answered_meanwhile < SLOW_CLIENTS, "the echoes did not overlap the slow calls"
    assert statistics.median(echoes) < 0.050, echoes
    assert max(echoes) < 0.5, echoes  # a blocked hub would hold each for about a second
    for client, req in requests_.items():
        assert js.wait_ack(client, req, timeout=15) == [{"slept": 1.0}]
    # 50 calls of 1 s each ran side by side, not one after another
    assert time.monotonic() - started < 8


def test_max_in_flight_refuses_the_overflow_at_once(router, js):
    js.connect("eager", router.url, "/busy", auth=GOOD, transports=["websocket"])
    js.wait_connected("eager")
    reqs = [js.emit("eager", "limited", ack=True) for _ in range(6)]
    busy = [js.wait_event("eager", "error", timeout=5) for _ in range(3)]
    assert busy == [[{"message": "the backend is busy; try again", "event": "limited",
                      "code": "backend_unavailable"}]] * 3
    acks = sorted((js.wait_ack("eager", req, timeout=15) for req in reqs), key=len)
    assert acks == [[], [], [], [{"slept": 1.0}], [{"slept": 1.0}], [{"slept": 1.0}]]
    found = samples(requests.get(f"{router.url}/metrics", timeout=5).text)
    assert value(found, "socketio_router_backend_calls_total", namespace="/busy",
                 step="events.limited[0]", outcome="busy") == 3
    assert value(found, "socketio_router_backend_calls_total", namespace="/busy",
                 step="events.limited[0]", outcome="ok") == 3


def _wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        pause.wait(0.02)
