"""Presence and history across real router processes on Redis, with python-socketio and
socket.io-client: members of every process, a process killed with SIGKILL, history written on one
process and read on another, and a Redis restart while clients join.

Each test has a channel of its own, so its keys ({channel}:rooms:...) never meet another test's."""

from __future__ import annotations

import signal
import time

import pytest
import requests

from jsclient import js  # noqa: F401  (a fixture)
from tests.support.cluster import API_KEY, BROKERS, subscribed, unique_channel, wait_for_log
from tests.support.py_client import PyClient
from tests.support.redis_server import own_redis  # noqa: F401  (a fixture)
from tests.support.router_process import ROOT

pytestmark = pytest.mark.timeout(120)

TTL = 2  # seconds: the members of a process that stops answering leave within it

PRESENCE_YAML = """
server:
  message_queue: "{url}"
  channel: "{channel}"
  api_key: "${{ROUTER_API_KEY}}"
plugins_dir: {plugins}
namespaces:
  /chat:
    auth: [claimed]
    rooms:
      allow: "^[a-z0-9-]{{1,32}}$"
      presence: {{key: sub, fields: [sub, name], ttl: {ttl}}}
      history: {{size: 5, ttl: 1h}}
    events:
      join:
        - room.join: {{room: "{{{{ data.room }}}}"}}
        - ack: {{data: true}}
      leave:
        - room.leave: {{room: "{{{{ data.room }}}}"}}
        - ack: {{data: true}}
      say:
        - room.relay: {{room: "{{{{ data.room }}}}", event: said, data: {{text: "{{{{ data.text }}}}", from: "{{{{ identity.name }}}}"}}}}
        - ack: {{data: sent}}
      who:
        - room.members: {{room: "{{{{ data.room }}}}"}}
      backlog:
        - room.history: {{room: "{{{{ data.room }}}}", limit: 20}}
"""


def presence_config(write_config, url, channel, ttl=TTL):
    return write_config(PRESENCE_YAML.format(url=url, channel=channel, ttl=ttl,
                                             plugins=ROOT / "tests" / "plugins"))


@pytest.fixture
def users():
    """``users(process, sub, name)`` -> a connected PyClient with that identity; closed after."""
    made = []

    def make(process, sub, name=None):
        client = PyClient(process.url, "/chat", auth={"identity": {"sub": sub, "name": name or sub}},
                          transports=["websocket"]).connect()
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def start_pair(router_process, config):
    env = {"ROUTER_API_KEY": API_KEY}
    a, b = router_process(config, env=env), router_process(config, env=env)
    for process in (a, b):
        subscribed(process)
    return a, b


def eventually(check, timeout=10.0, what="the condition"):
    """Poll ``check()`` (bounded) until it returns a truthy value; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s (last: {value!r})")
        time.sleep(0.05)


def names(members):
    return [(member.get("sub"), member.get("connections")) for member in members]


def members_api(process, room):
    answer = requests.get(f"{process.url}/api/rooms/{room}/members", params={"namespace": "/chat"},
                          headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["members"]


def test_members_and_notices_across_two_processes(router_process, write_config, users, js):
    a, b = start_pair(router_process, presence_config(write_config, BROKERS["redis"], unique_channel("presence")))
    alice = users(a, "alice", "Alice")
    bob = users(b, "bob", "Bob")
    assert alice.call("join", {"room": "lobby"}) is True
    assert bob.call("join", {"room": "lobby"}) is True
    # alice (on A) hears bob join on B; bob hears nothing of his own join
    assert alice.wait_event("presence") == (
        {"room": "lobby", "action": "join", "member": {"sub": "bob", "name": "Bob", "connections": 1}},)

    # carol on B through socket.io-client, with two tabs: one member, two connections, one notice
    for tab, process in (("carol1", a), ("carol2", b)):
        js.connect(tab, process.url, "/chat", auth={"identity": {"sub": "carol", "name": "Carol"}},
                   transports=["websocket"])
        js.wait_connected(tab)
        assert js.wait_ack(tab, js.emit(tab, "join", {"room": "lobby"}, ack=True)) == [True]
    assert alice.wait_event("presence")[0]["member"] == {"sub": "carol", "name": "Carol", "connections": 1}
    # alice's own notice went out on A before bob joined, to a room bob was not in yet; through the
    # queue it reaches B's lobby as that room is when it arrives, so bob may hear it, before carol's.
    heard = bob.wait_event("presence")[0]["member"]["sub"]
    if heard == "alice":
        heard = bob.wait_event("presence")[0]["member"]["sub"]
    assert heard == "carol"

    expected = [("alice", 1), ("bob", 1), ("carol", 2)]
    for client in (alice, bob):
        assert names(eventually(lambda c=client: (m := c.call("who", {"room": "lobby"}))
                                and names(m) == expected and m, what="three members")) == expected
    assert js.wait_ack("carol1", js.emit("carol1", "who", {"room": "lobby"}, ack=True))[0] == [
        {"sub": "alice", "name": "Alice", "connections": 1}, {"sub": "bob", "name": "Bob", "connections": 1},
        {"sub": "carol", "name": "Carol", "connections": 2}]
    assert names(members_api(a, "lobby")) == names(members_api(b, "lobby")) == expected

    # one tab of carol leaves: still a member; the other disconnects: gone, announced once
    assert js.wait_ack("carol1", js.emit("carol1", "leave", {"room": "lobby"}, ack=True)) == [True]
    assert names(eventually(lambda: (m := alice.call("who", {"room": "lobby"})) and len(m) == 3
                            and m[2]["connections"] == 1 and m)) == [("alice", 1), ("bob", 1), ("carol", 1)]
    js.disconnect("carol2")
    for client in (alice, bob):
        assert client.wait_event("presence") == (
            {"room": "lobby", "action": "leave", "member": {"sub": "carol", "name": "Carol", "connections": 0}},)
    assert names(alice.call("who", {"room": "lobby"})) == [("alice", 1), ("bob", 1)]
    assert alice.events("presence") == [] and bob.events("presence") == []
    assert "socketio_router_presence_members{namespace=\"/chat\"} 1.0" in requests.get(
        a.url + "/metrics", timeout=10).text


def test_a_killed_process_leaves_no_member_behind(router_process, write_config, users):
    a, b = start_pair(router_process, presence_config(write_config, BROKERS["redis"], unique_channel("presence")))
    alice, bob = users(a, "alice"), users(b, "bob")
    dave = users(b, "dave")
    for client in (alice, bob, dave):
        assert client.call("join", {"room": "lobby"}) is True
    eventually(lambda: len(alice.call("who", {"room": "lobby"})) == 3, what="three members")
    joined = {alice.wait_event("presence")[0]["member"]["sub"] for _ in range(2)}
    assert joined == {"bob", "dave"}

    killed = time.monotonic()
    b.signal(signal.SIGKILL)
    b.wait()
    # B's members drop out of the list within the ttl, and A's members hear that they left
    eventually(lambda: names(alice.call("who", {"room": "lobby"})) == [("alice", 1)], timeout=TTL + 3,
               what="only alice left")
    assert time.monotonic() - killed < TTL + 1.5
    left = [alice.wait_event("presence", timeout=10)[0] for _ in range(2)]
    assert sorted((notice["action"], notice["member"]["sub"]) for notice in left) == [
        ("leave", "bob"), ("leave", "dave")]
    assert alice.events("presence") == []
    wait_for_log(a, r"process \w+ stopped answering; its 2 member\(s\) left")


def test_a_stopped_process_takes_its_members_along_announced_once(router_process, write_config, users):
    import redis

    channel = unique_channel("presence")
    a, b = start_pair(router_process, presence_config(write_config, BROKERS["redis"], channel))
    processes = redis.Redis.from_url(BROKERS["redis"])
    eventually(lambda: processes.zcard(f"{channel}:rooms:processes") == 2, what="both processes live")
    alice, bob = users(a, "alice"), users(b, "bob")
    assert alice.call("join", {"room": "lobby"}) is True
    assert bob.call("join", {"room": "lobby"}) is True
    assert alice.wait_event("presence")[0]["action"] == "join"
    b.signal(signal.SIGTERM)
    assert b.wait(15) == 0
    assert alice.wait_event("presence") == (
        {"room": "lobby", "action": "leave", "member": {"sub": "bob", "name": "bob", "connections": 0}},)
    assert names(alice.call("who", {"room": "lobby"})) == [("alice", 1)]
    assert processes.zcard(f"{channel}:rooms:processes") == 1  # B took itself out as it stopped
    processes.close()
    time.sleep(TTL + 1.5)  # past the ttl, when a process that vanished would be collected
    assert alice.events("presence") == [], "the stopped process's member was announced twice"
    assert "stopped answering" not in a.logs()


def test_history_is_shared_across_processes(router_process, write_config, users, js):
    a, b = start_pair(router_process, presence_config(write_config, BROKERS["redis"], unique_channel("history")))
    alice, bob = users(a, "alice", "Alice"), users(b, "bob", "Bob")
    assert alice.call("join", {"room": "lobby"}) is True
    for number in range(7):
        assert alice.call("say", {"room": "lobby", "text": f"m{number}"}) == "sent"
    assert bob.call("join", {"room": "lobby"}) is True
    assert bob.call("say", {"room": "lobby", "text": "from b"}) == "sent"

    def texts():
        messages = bob.call("backlog", {"room": "lobby"})
        return [message["args"][0]["text"] for message in messages]

    # the last 5 (size), oldest first, from both processes
    assert eventually(lambda: texts() == ["m3", "m4", "m5", "m6", "from b"] and texts())
    messages = alice.call("backlog", {"room": "lobby"})
    assert [m["event"] for m in messages] == ["said"] * 5
    assert messages[-1]["args"] == [{"text": "from b", "from": "Bob"}]
    assert messages[0]["at"].endswith("+00:00")

    js.connect("carol", b.url, "/chat", auth={"identity": {"sub": "carol"}}, transports=["websocket"])
    js.wait_connected("carol")
    refused = js.emit("carol", "backlog", {"room": "lobby"}, ack=True)
    assert js.wait_event("carol", "error")[0]["message"] == "room.history failed: not in room"
    js.wait_ack("carol", refused)
    assert js.wait_ack("carol", js.emit("carol", "join", {"room": "lobby"}, ack=True)) == [True]
    answer = js.wait_ack("carol", js.emit("carol", "backlog", {"room": "lobby"}, ack=True))[0]
    assert [m["args"][0]["text"] for m in answer] == ["m3", "m4", "m5", "m6", "from b"]


def test_redis_restart_while_clients_join(own_redis, router_process, write_config, users):
    own_redis.start()
    a, b = start_pair(router_process, presence_config(write_config, own_redis.url, unique_channel("restart")))
    alice, bob = users(a, "alice"), users(b, "bob")
    assert alice.call("join", {"room": "lobby"}) is True
    assert bob.call("join", {"room": "lobby"}) is True
    assert alice.wait_event("presence")[0]["member"]["sub"] == "bob"
    eventually(lambda: len(alice.call("who", {"room": "lobby"})) == 2, what="two members")

    own_redis.stop()
    carol = users(a, "carol")
    started = time.monotonic()
    assert carol.call("join", {"room": "lobby"}) is True  # promptly: nothing waits on Redis
    assert carol.call("say", {"room": "lobby", "text": "during"}) == "sent"
    # this process's view: the members and messages of A alone
    assert names(carol.call("who", {"room": "lobby"})) == [("alice", 1), ("carol", 1)]
    assert [m["args"][0]["text"] for m in carol.call("backlog", {"room": "lobby"})] == ["during"]
    assert time.monotonic() - started < 2.0
    assert alice.wait_event("presence")[0]["member"]["sub"] == "carol"
    dave = users(b, "dave")
    assert dave.call("join", {"room": "lobby"}) is True
    assert names(dave.call("who", {"room": "lobby"})) == [("bob", 1), ("dave", 1)]
    wait_for_log(a, "shared rooms redis://.*: unreachable")
    assert a.logs().count("presence and history answer from this process's view") == 1

    own_redis.start()  # empty: every process writes its members back
    for process in (a, b):
        wait_for_log(process, "shared rooms redis://.*: reachable again", timeout=20)
    expected = [("alice", 1), ("bob", 1), ("carol", 1), ("dave", 1)]
    for client in (alice, bob, carol, dave):
        assert names(eventually(lambda c=client: (m := c.call("who", {"room": "lobby"}))
                                and names(m) == expected and m, timeout=15, what="all four members")) == expected
    assert carol.call("say", {"room": "lobby", "text": "after"}) == "sent"
    assert eventually(lambda: [m["args"][0]["text"] for m in dave.call("backlog", {"room": "lobby"})]
                      == ["after"], what="the new history shared")
