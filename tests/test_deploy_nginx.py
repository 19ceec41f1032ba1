"""The shipped deploy/nginx.conf in front of two router processes on Redis.

Sticky sessions (ip_hash) make long-polling work through the proxy; without them it
breaks; with ``server.transports: [websocket]`` round robin is enough.
"""

from __future__ import annotations

import json
import re

import pytest
import requests
import socketio

from jsclient import JsDriver
from tests.support.cluster import API_KEY, BROKERS, cluster_config, subscribed, unique_channel
from tests.support.nginx import Nginx, render_shipped
from tests.support.py_client import PyClient
from tests.support.redis_server import free_port

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def deployment(router_process, write_config, tmp_path):
    """``deployment(sticky=True, websocket_only=False)`` -> (nginx, router A, router B)."""
    started = []

    def start(sticky: bool = True, websocket_only: bool = False):
        text = cluster_config(BROKERS["redis"], unique_channel("nginx"))
        if websocket_only:
            text = text.replace("server:\n", "server:\n  transports: [websocket]\n", 1)
        config = write_config(text)
        ports = [free_port(), free_port()]
        routers = [router_process(config, "--port", str(port), env={"ROUTER_API_KEY": API_KEY})
                   for port in ports]
        for router in routers:
            subscribed(router)
        listen = free_port()
        nginx = Nginx(tmp_path / f"nginx{len(started)}", render_shipped(listen, ports, sticky), listen)
        started.append(nginx.start())
        return nginx, *routers

    yield start
    for nginx in started:
        nginx.stop()


@pytest.fixture
def clients():
    made = []

    def make(url, transport, connect=True):
        client = PyClient(url, "/chat", transports=[transport])
        made.append(client)
        if connect:
            client.connect()
            client.sid = client.wait_event("welcome")[0]["sid"]
        return client

    yield make
    for client in made:
        client.close()


def test_long_polling_and_websocket_through_nginx_with_sticky_sessions(deployment, clients):
    nginx, a, b = deployment()
    proxied = clients(nginx.url, "polling")
    for _ in range(10):  # each a polling round trip, all of them to the process holding the session
        assert proxied.call("join", "room") is True
    direct = [clients(a.url, "polling"), clients(b.url, "polling")]  # one of them is on the other process
    for client in direct:
        assert client.call("join", "room") is True

    assert proxied.call("say", {"room": "room", "text": "through nginx"}) == "sent"
    for client in (proxied, *direct):
        assert client.wait_event("message") == ("through nginx",)
    for client in direct:
        assert client.call("say", {"room": "room", "text": f"to {client.url}"}) == "sent"
        assert proxied.wait_event("message") == (f"to {client.url}",)

    with JsDriver() as js:  # socket.io-client, polling only, then with its default upgrade
        for id, transports in (("polling", ["polling"]), ("upgrade", None)):
            js.connect(id, nginx.url, "/chat", transports=transports)
            js.wait_connected(id)
            assert js.wait_ack(id, js.emit(id, "join", "room", ack=True)) == [True]
        proxied.call("say", {"room": "room", "text": "to js"})
        for id in ("polling", "upgrade"):
            assert js.wait_event(id, "message") == ["to js"]

    websocket = clients(nginx.url, "websocket")
    assert websocket.call("join", "room") is True
    assert proxied.call("say", {"room": "room", "text": "to websocket"}) == "sent"
    assert websocket.wait_event("message") == ("to websocket",)

    # The publish API answers through the proxy too.
    response = requests.post(nginx.url + "/api/emit", headers={"X-API-Key": API_KEY}, timeout=10,
                             json={"namespace": "/chat", "event": "news", "room": "room"})
    assert response.status_code == 200
    for client in (proxied, websocket, *direct):
        assert client.wait_event("news") == ()


def test_same_origin_check_sees_the_proxied_host(deployment):
    nginx, _, _ = deployment()
    handshake = nginx.url + "/socket.io/?EIO=4&transport=polling"
    # The router allows its own origin only; behind nginx that is nginx's address, port included.
    response = requests.get(handshake, headers={"Origin": nginx.url}, timeout=10)
    assert response.status_code == 200 and response.text.startswith("0{")
    response = requests.get(handshake, headers={"Origin": "http://evil.example"}, timeout=10)
    assert response.status_code == 400


def polling_session(base_url):
    """An Engine.IO handshake, then the packet that opens /chat, as two HTTP requests."""
    url = base_url + "/socket.io/?EIO=4&transport=polling"
    handshake = requests.get(url, timeout=10)
    assert handshake.status_code == 200, handshake.text
    sid = json.loads(handshake.text[1:])["sid"]
    return requests.post(f"{url}&sid={sid}", data="40/chat,", timeout=10)


def test_long_polling_breaks_without_sticky_sessions(deployment):
    nginx, _, _ = deployment(sticky=False)
    # Round robin sends the second request to the other process, which knows no such session.
    for _ in range(3):
        response = polling_session(nginx.url)
        assert response.status_code == 400
        assert "Invalid session" in response.text
    sticky, _, _ = deployment(sticky=True)
    for _ in range(3):
        response = polling_session(sticky.url)
        assert (response.status_code, response.text) == (200, "OK")


def test_websocket_only_needs_no_sticky_sessions(deployment, clients):
    nginx, a, b = deployment(sticky=False, websocket_only=True)
    proxied = [clients(nginx.url, "websocket") for _ in range(4)]
    connects = [len(re.findall(r"INFO socketio_router: connect \S+ on /chat", router.logs()))
                for router in (a, b)]
    assert min(connects) >= 1, f"round robin should spread clients over both processes: {connects}"

    proxied[0].emit("shout", "to all")
    for client in proxied:
        assert client.wait_event("shout") == ("to all",)
    proxied[-1].emit("shout", "marker")
    for client in proxied:
        assert client.wait_event("shout") == ("marker",)
        assert client.received == [], f"more than once: {client.received}"

    polling = clients(nginx.url, "polling", connect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        polling.connect(timeout=5)
