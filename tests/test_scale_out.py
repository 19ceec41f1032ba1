"""Two router processes on one real broker behave as one server (Redis and RabbitMQ).

Every test runs once per broker; the test id names it (``[redis]``, ``[rabbitmq]``), and
each test has its own channel. Exactly once is checked by sending a marker after the
messages under test: one publisher's messages reach a process in order, so when the
marker has arrived everywhere, anything else sent before it has too.
"""

from __future__ import annotations

import pytest
import requests

from jsclient import js  # noqa: F401  (a fixture)
from tests.support.cluster import (API_KEY, BROKERS, cluster_config, delete_amqp_exchange,
                                   subscribed, unique_channel)
from tests.support.cluster import clients  # noqa: F401  (a fixture)
from tests.support.py_client import PyClient
from tests.support.router_process import ROOT, run_cli

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(params=list(BROKERS))
def broker(request):
    """(name, url, channel) of a shared broker, with a channel of this test's own."""
    name, url, channel = request.param, BROKERS[request.param], unique_channel("scale")
    yield name, url, channel
    if name == "rabbitmq":
        delete_amqp_exchange(url, channel)


@pytest.fixture
def cluster(broker, router_process, write_config):
    """``cluster(extra_yaml="", b_args=())`` -> (config path, process A, process B), both subscribed."""

    def start(extra: str = "", b_args: tuple = ()):
        _, url, channel = broker
        config = write_config(cluster_config(url, channel, extra))
        env = {"ROUTER_API_KEY": API_KEY}
        a = router_process(config, env=env)
        b = router_process(config, *b_args, env=env)
        for process in (a, b):
            subscribed(process)
        return config, a, b

    return start


def api(process, path, body):
    return requests.post(process.url + path, json=body, headers={"Authorization": f"Bearer {API_KEY}"},
                         timeout=10)


def test_broadcast_relay_close_and_disconnect_cross_processes_once(cluster, clients, js, broker):
    _, a, b = cluster()
    alice, dave = clients(a), clients(a, transport="polling")
    bob = clients(b)
    js.connect("carol", b.url, "/chat", transports=["websocket"])
    js.wait_connected("carol")
    carol_sid = js.wait_event("carol", "welcome")[0]["sid"]

    for client in (alice, bob):
        assert client.call("join", "r1") is True
    assert js.wait_ack("carol", js.emit("carol", "join", "r1", ack=True)) == [True]
    for client in (alice, bob, dave):
        assert client.call("join", "lobby") is True
    assert js.wait_ack("carol", js.emit("carol", "join", "lobby", ack=True)) == [True]

    # broadcast from A: everyone, on both processes
    alice.emit("shout", {"from": "alice"})
    for client in (alice, bob, dave):
        assert client.wait_event("shout") == ({"from": "alice"},)
    assert js.wait_event("carol", "shout") == [{"from": "alice"}]

    # room relay from B: the room's members on both processes, not dave
    assert bob.call("say", {"room": "r1", "text": "hi r1"}) == "sent"
    for client in (alice, bob):
        assert client.wait_event("message") == ("hi r1",)
    assert js.wait_event("carol", "message") == ["hi r1"]

    # a sid is a room too: from A to carol on B, and to her alone
    assert alice.call("whisper", {"to": carol_sid, "text": "psst"}) == "whispered"
    assert js.wait_event("carol", "whisper") == ["psst"]

    # room close from A empties r1 on B too: the marker sent after it proves B has applied it
    assert alice.call("close", "r1") == "closed"
    alice.emit("shout", "marker-1")
    for client in (alice, bob, dave):
        assert client.wait_event("shout") == ("marker-1",)
    assert js.wait_event("carol", "shout") == ["marker-1"]
    assert bob.call("say", {"room": "r1", "text": "after close"}) == "sent"
    bob.emit("shout", "marker-2")
    for client in (alice, bob, dave):
        assert client.wait_event("shout") == ("marker-2",)
    assert js.wait_event("carol", "shout") == ["marker-2"]

    # a disconnect asked on A reaches carol on B; her on_disconnect relays to the lobby
    response = api(a, "/api/disconnect", {"namespace": "/chat", "sid": carol_sid})
    assert response.status_code == 200, response.text
    assert js.wait_disconnect("carol") == "io server disconnect"
    for client in (alice, bob, dave):
        assert client.wait_event("gone") == (carol_sid,)
    assert dave.received == [], f"more than once: {dave.received}"
    # a client leaving A is announced on B
    dave_sid = dave.sid
    dave.close()
    for client in (alice, bob):
        assert client.wait_event("gone") == (dave_sid,)

    alice.emit("shout", "marker-3")
    for client in (alice, bob):
        assert client.wait_event("shout") == ("marker-3",)
        assert client.received == [], f"{client.sid} got more than once: {client.received}"
    assert [(m["event"], m["args"]) for m in js.events("carol")] == [
        ("welcome", [{"sid": carol_sid}]), ("shout", [{"from": "alice"}]), ("message", ["hi r1"]),
        ("whisper", ["psst"]), ("shout", ["marker-1"]), ("shout", ["marker-2"])]


def test_publish_api_reaches_clients_of_both_processes(cluster, clients):
    _, a, b = cluster()
    alice, carol = clients(a), clients(a)
    bob = clients(b)
    for client in (alice, bob):
        assert client.call("join", "news") is True

    response = api(b, "/api/emit", {"namespace": "/chat", "event": "news", "data": {"n": 1}})
    assert response.status_code == 200
    assert response.json() == {"ok": True, "namespace": "/chat", "event": "news", "to": None}
    for client in (alice, bob, carol):
        assert client.wait_event("news") == ({"n": 1},)

    response = api(a, "/api/emit", {"namespace": "/chat", "event": "room-news", "args": [1, "two"],
                                    "room": "news"})
    assert response.status_code == 200
    for client in (alice, bob):
        assert client.wait_event("room-news") == (1, "two")

    response = api(b, "/api/emit", {"namespace": "/chat", "event": "direct", "data": "for alice",
                                    "sid": alice.sid})
    assert response.status_code == 200
    assert alice.wait_event("direct") == ("for alice",)

    api(a, "/api/emit", {"namespace": "/chat", "event": "marker"})
    api(b, "/api/emit", {"namespace": "/chat", "event": "marker"})
    for client in (alice, bob, carol):
        assert client.wait_event("marker") == ()
        assert client.wait_event("marker") == ()
        assert client.received == [], f"more than once: {client.received}"


def test_emit_command_reaches_clients_of_both_processes(cluster, clients, broker):
    name, url, channel = broker
    config, a, b = cluster()
    alice, bob = clients(a), clients(b)
    assert bob.call("join", "ops") is True

    result = run_cli("emit", "--config", str(config), "--namespace", "/chat", "--event", "news",
                     "--data", '{"x": 1}', env={"ROUTER_API_KEY": API_KEY})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"sent 'news' to every client of /chat through channel {channel!r}")
    if name == "redis":  # Redis counts the subscribers of a publish; AMQP's fanout does not say
        assert "2 router process(es) subscribed" in result.stdout
    for client in (alice, bob):
        assert client.wait_event("news") == ({"x": 1},)

    result = run_cli("emit", "--config", str(config), "--namespace", "/chat", "--event", "alert",
                     "--args", '["disk", 93]', "--room", "ops", env={"ROUTER_API_KEY": API_KEY})
    assert result.returncode == 0, result.stderr
    assert bob.wait_event("alert") == ("disk", 93)

    alice.emit("shout", "marker")
    for client in (alice, bob):
        assert client.wait_event("shout") == ("marker",)
        assert client.received == [], f"more than once: {client.received}"


TIMER_YAML = """
timers:
  tick:
    every: 0.2
    namespace: /chat
    event: tick
    data: {n: "{{ count }}", at: "{{ now }}", timer: "{{ timer }}"}
"""


def test_timers_run_in_one_process_and_reach_both(cluster, clients):
    _, a, b = cluster(TIMER_YAML, b_args=("--no-timers",))
    assert "timers: off in this process" in b.logs()
    assert "timer 'tick': 'tick' every 0.2 s to /chat" in a.logs()
    alice, bob = clients(a), clients(b)
    for client in (alice, bob):
        ticks = [client.wait_event("tick")[0] for _ in range(4)]
        numbers = [tick["n"] for tick in ticks]
        # one timer in the cluster: consecutive numbers, no second sequence interleaved
        assert numbers == list(range(numbers[0], numbers[0] + 4)), numbers
        assert {tick["timer"] for tick in ticks} == {"tick"}
        assert all(tick["at"].endswith("+00:00") for tick in ticks)


def test_the_shipped_cluster_config(router_process):
    channel = unique_channel("shipped")
    env = {"ROUTER_API_KEY": API_KEY, "ROUTER_CHANNEL": channel}
    a = router_process(ROOT / "configs" / "cluster.yaml", env=env)
    b = router_process(ROOT / "configs" / "cluster.yaml", "--no-timers", env=env)
    for process in (a, b):
        subscribed(process)
    assert "timer 'clock': 'clock' every 60 s to /chat" in a.logs()
    assert "timers: off in this process" in b.logs()
    alice = PyClient(a.url, "/chat", auth={"token": "dev-token"}, transports=["websocket"]).connect()
    bob = PyClient(b.url, "/chat", auth={"token": "dev-token"}, transports=["polling"]).connect()
    try:
        assert alice.call("join", {"room": "r", "user": "alice"}) is True
        assert bob.call("join", {"room": "r", "user": "bob"}) is True
        assert alice.wait_event("status") == ("alice has entered the room.",)
        assert alice.wait_event("status") == ("bob has entered the room.",)
        alice.emit("say", {"room": "r", "user": "alice", "text": "hi"})
        assert bob.wait_event("message") == ({"user": "alice", "text": "hi"},)
        response = api(a, "/api/emit", {"namespace": "/chat", "event": "news", "data": "all", "room": "r"})
        assert response.status_code == 200
        assert bob.wait_event("news") == ("all",)
    finally:
        alice.close(), bob.close()


def test_processes_in_every_async_mode_form_one_cluster(broker, router_process, write_config):
    _, url, channel = broker
    processes = []
    for mode in ("eventlet", "gevent", "threading"):
        text = cluster_config(url, channel).replace("server:\n", f"server:\n  async_mode: {mode}\n", 1)
        processes.append(router_process(write_config(text), env={"ROUTER_API_KEY": API_KEY}))
    for process in processes:
        subscribed(process)
    members = [PyClient(process.url, "/chat", transports=["websocket"]).connect() for process in processes]
    try:
        for client in members:
            client.wait_event("welcome")
        for number, sender in enumerate(members):
            sender.emit("shout", f"from-{number}")
            for client in members:
                assert client.wait_event("shout") == (f"from-{number}",)
        assert all(client.received == [] for client in members)
    finally:
        for client in members:
            client.close()
