"""Connection state recovery against real router processes, with socket.io-client and python-socketio.

A client's connection is cut at the TCP level (tests/support/tcp_proxy.py closes both of
its sockets, as a network that drops does), messages are sent meanwhile, and the client
comes back: it must be ``recovered``, with its sid, rooms and identity, and receive what
it missed in order, nothing twice, before anything new. The store's own rules (caps,
expiry, what a packet reaches) are tested in process in tests/test_recovery_store.py.
"""

from __future__ import annotations

import re
import signal
import time
import uuid

import pytest
import requests
import socketio

from jsclient import js  # noqa: F401  (a fixture)
from tests.support.cluster import BROKERS, subscribed, unique_channel, wait_for_log
from tests.support.py_client import PyClient
from tests.support.recovering_client import RecoveringClient
from tests.support.router_process import ROOT, run_cli
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(120)

CONFIG = """
server:
  connection_state_recovery: {{max_disconnection: {window}, skip_auth: {skip_auth}}}
  {server}
plugins_dir: {plugins}
namespaces:
  /chat:
    auth: [claimed]
    on_connect:
      - emit: {{event: welcome, data: {{recovered: "{{{{ recovered }}}}", name: "{{{{ identity.name }}}}"}}}}
    events:
      join:
        - room.join: {{room: "{{{{ data }}}}"}}
        - ack: {{data: true}}
      say:
        - room.relay: {{room: "{{{{ data.room }}}}", event: said, data: "{{{{ data.text }}}}"}}
        - ack: {{data: sent}}
      whisper:
        - emit: {{to: "{{{{ data.to }}}}", event: whisper, data: "{{{{ data.text }}}}"}}
        - ack: {{data: whispered}}
      shout:
        - broadcast: {{event: shout, data: "{{{{ data }}}}"}}
        - ack: {{data: shouted}}
      blink:
        - broadcast: {{event: blink, data: "{{{{ data }}}}", volatile: true}}
      whoami:
        - ack: {{data: {{name: "{{{{ identity.name }}}}", count: "{{{{ count }}}}", recovered: "{{{{ recovered }}}}"}}}}
"""

ALICE = {"identity": {"name": "alice"}}
BOB = {"identity": {"name": "bob"}}


def recovery_config(write_config, window="30s", skip_auth="true", server=""):
    return write_config(CONFIG.format(window=window, skip_auth=skip_auth, server=server,
                                      plugins=ROOT / "tests" / "plugins"))


def texts(events: list[list]) -> list:
    """The payloads of events (their offset, the last argument, left out)."""
    return [args[0] for args in events]


class Chat:
    """A router with a proxy in front for the client under test, and a sender beside it."""

    def __init__(self, router):
        self.router = router
        self.proxy = TcpProxy("127.0.0.1", router.port)
        self.via_proxy = f"http://127.0.0.1:{self.proxy.port}"
        self.sender = PyClient(router.url, "/chat", auth=BOB, transports=["websocket"]).connect()
        assert self.sender.call("join", "lobby") is True

    def alice_in_lobby(self, first: str = "one") -> RecoveringClient:
        """Alice, through the proxy, in the lobby, having received ``first`` there."""
        alice = RecoveringClient(self.via_proxy, auth=ALICE).connect()
        assert alice.call("join", "lobby") is True
        self.say(first)
        assert texts(alice.wait_for(1, "said")) == [first]
        return alice

    def say(self, *lines: str) -> None:
        for line in lines:
            assert self.sender.call("say", {"room": "lobby", "text": line}) == "sent"

    def cut(self, sid: str) -> None:
        """Drop the proxied connections at the TCP level; return once the router saw it."""
        self.proxy.cut()
        wait_for_log(self.router, re.escape(f"disconnect {sid} from /chat (transport close)"))

    def close(self) -> None:
        self.sender.close()
        self.proxy.close()


@pytest.fixture
def chat(write_config, router_process):
    made = []

    def start(**options):
        made.append(Chat(router_process(recovery_config(write_config, **options))))
        return made[-1]

    yield start
    for each in made:
        each.close()


@pytest.mark.parametrize("mode", ["eventlet", "gevent", "threading"])
def test_a_python_client_cut_at_the_tcp_level_gets_its_sid_rooms_identity_and_what_it_missed(chat, mode):
    room = chat(server=f"async_mode: {mode}")
    alice = RecoveringClient(room.via_proxy, auth=ALICE).connect()
    assert alice.wait_for(1, "welcome")[0][0] == {"recovered": False, "name": "alice"}
    assert alice.call("join", "lobby") is True
    room.say("one")
    assert texts(alice.wait_for(1, "said")) == ["one"]
    sid, pid = alice.sid, alice.pid
    assert isinstance(pid, str) and len(pid) >= 16 and pid != sid

    room.cut(sid)
    room.say("two", "three")
    assert room.sender.call("whisper", {"to": sid, "text": "psst"}) == "whispered"
    assert room.sender.call("shout", "everyone") == "shouted"
    room.proxy.restore()
    alice.resume()  # the same auth, with pid and offset

    assert (alice.sid, alice.pid) == (sid, pid)
    # What it missed, in order, then what its on_connect steps send, seeing recovered: true.
    assert alice.wait_for(2, "welcome")[1][0] == {"recovered": True, "name": "alice"}
    assert [(name, args[0]) for name, args in alice.received] == [
        ("welcome", {"recovered": False, "name": "alice"}), ("said", "one"), ("said", "two"),
        ("said", "three"), ("whisper", "psst"), ("shout", "everyone"),
        ("welcome", {"recovered": True, "name": "alice"})]
    # Back in its room, with its identity and its event count.
    room.say("four")
    assert texts(alice.wait_for(4, "said")) == ["one", "two", "three", "four"]
    assert alice.call("whoami", None) == {"name": "alice", "count": 2, "recovered": True}  # join, whoami
    offsets = [args[-1] for _, args in alice.received]
    assert len(offsets) == len(set(offsets)), f"an offset twice: {alice.received}"
    metrics = requests.get(f"{room.router.url}/metrics", timeout=10).text
    assert 'socketio_router_recoveries_total{namespace="/chat",outcome="recovered"} 1.0' in metrics
    alice.close()


def test_a_client_back_before_the_server_saw_its_old_connection_drop_recovers(chat):
    room = chat()
    alice = room.alice_in_lobby()
    sid = alice.sid
    room.proxy.freeze()  # the old connection hangs, open: the server sees no drop (Node: new session)
    room.say("two", "three")
    alice.resume(room.router.url)
    assert alice.sid == sid
    assert alice.wait_for(2, "welcome")[1][0] == {"recovered": True, "name": "alice"}
    assert texts(alice.wait_for(3, "said")) == ["one", "two", "three"]
    wait_for_log(room.router, re.escape(f"{sid} is back on a new connection; its old one is closed"))
    room.proxy.restore()
    alice.close()


def test_socket_io_client_recovers_by_itself_after_a_tcp_cut(chat, js):  # noqa: F811
    room = chat()
    js.connect("alice", room.via_proxy, "/chat", auth=ALICE, transports=["websocket"], reconnect=0.1)
    first = js.wait_connected("alice")
    assert first["recovered"] is False
    js.wait_event("alice", "welcome")
    assert js.wait_ack("alice", js.emit("alice", "join", "lobby", ack=True)) == [True]
    room.say("one")
    said = js.wait_event("alice", "said")
    assert said[0] == "one" and isinstance(said[1], str)  # the offset, as Node's server appends it

    room.proxy.refusing = True  # its reconnection attempts fail until the drop is seen
    room.cut(first["sid"])
    assert js.wait_disconnect("alice") == "transport close"
    room.say("two", "three")
    room.proxy.restore()

    again = js.wait_connected("alice")
    assert again["recovered"] is True and again["sid"] == first["sid"]
    room.say("four")
    js.wait_for(lambda m: m["type"] == "event" and m["event"] == "said" and m["args"][0] == "four")
    said = [event["args"] for event in js.events("alice", "said")]
    assert [args[0] for args in said] == ["one", "two", "three", "four"]
    assert len({args[1] for args in said}) == 4
    # socket.io-client's own replay comes before the new session's on_connect emit.
    names = [event["event"] for event in js.events("alice")]
    assert names.index("welcome", 1) > names.index("said", 2)


def test_after_the_window_or_with_a_forged_pid_the_client_connects_as_new(chat):
    room = chat(window="1s")
    alice = room.alice_in_lobby()
    sid, pid = alice.sid, alice.pid

    intruder = RecoveringClient(room.router.url, auth={"identity": {"name": "mallory"},
                                                       "pid": str(uuid.uuid4()), "offset": alice.offset})
    intruder.connect()
    assert intruder.sid != sid
    assert intruder.wait_for(1, "welcome")[0][0] == {"recovered": False, "name": "mallory"}
    intruder.close()

    room.cut(sid)
    time.sleep(1.5)  # the time under test: the window of 1s passes (no event marks it)
    room.proxy.restore()
    alice.resume()
    assert alice.sid != sid and alice.pid != pid
    assert alice.wait_for(2, "welcome")[1][0] == {"recovered": False, "name": "alice"}
    room.say("two")  # not in the lobby any more: a shout after it is the next thing it gets
    assert room.sender.call("shout", "after") == "shouted"
    alice.wait_for(1, "shout")
    assert texts(alice.wait_for(1, "said")) == ["one"]
    alice.close()


def test_without_skip_auth_a_recovered_client_passes_the_rules_again(chat):
    room = chat(skip_auth="false")
    alice = room.alice_in_lobby()
    room.cut(alice.sid)
    room.proxy.restore()
    alice.auth = {"identity": {"name": "alice-renamed"}}
    alice.resume()
    assert alice.call("whoami", None) == {"name": "alice-renamed", "count": 2, "recovered": True}
    # And one that no longer passes them is refused, as any client would be.
    room.proxy.refusing = True
    room.cut(alice.sid)
    room.proxy.restore()
    alice.auth = {}
    with pytest.raises(socketio.exceptions.ConnectionError):
        alice.resume()
    wait_for_log(room.router, re.escape("rule=claimed reason=no identity in auth"))


def test_volatile_packets_carry_an_offset_but_are_not_replayed(chat):
    room = chat()
    alice = RecoveringClient(room.via_proxy, auth=ALICE).connect()
    alice.wait_for(1, "welcome")
    room.sender.emit("blink", "now")
    # An offset after it, as after every event: socket.io-client takes a string last
    # argument for the offset, so "now" would be the offset it asks back (Node's wart).
    assert texts(alice.wait_for(1, "blink")) == ["now"] and alice.offset != "now"
    room.cut(alice.sid)
    room.sender.emit("blink", "missed")
    assert room.sender.call("shout", "kept") == "shouted"
    room.proxy.restore()
    alice.resume()
    assert alice.wait_for(2, "welcome")[1][0]["recovered"] is True
    assert texts(alice.wait_for(1, "shout")) == ["kept"]
    assert texts(alice.wait_for(1, "blink")) == ["now"]


def test_a_replay_larger_than_the_outgoing_queue_connects_as_new(chat):
    room = chat(server="max_queued_messages_per_client: 5")
    alice = room.alice_in_lobby("first")
    room.cut(alice.sid)
    room.say(*[f"line {n}" for n in range(8)])
    room.proxy.restore()
    alice.resume()
    assert alice.wait_for(2, "welcome")[1][0]["recovered"] is False
    wait_for_log(room.router, "more than its outgoing queue holds")
    alice.close()


# -- a cluster on Redis ---------------------------------------------------------------------------

def redis_cluster(write_config, router_process, server: str = ""):
    """(config, first, second): two routers with recovery on a channel of their own, subscribed."""
    queue = f'message_queue: "{BROKERS["redis"]}"\n  channel: "{unique_channel("recovery")}"'
    config = recovery_config(write_config, server=queue + (f"\n  {server}" if server else ""))
    first, second = router_process(config), router_process(config)
    subscribed(first)
    subscribed(second)
    return config, first, second


def test_a_client_recovers_on_another_process_of_a_redis_cluster(write_config, router_process):
    config, first, second = redis_cluster(write_config, router_process)
    room = Chat(first)
    try:
        alice = room.alice_in_lobby()
        sid = alice.sid
        room.cut(sid)
        room.say("two")
        other = PyClient(second.url, "/chat", auth=BOB, transports=["websocket"]).connect()
        assert other.call("join", "lobby") is True
        assert other.call("say", {"room": "lobby", "text": "three"}) == "sent"
        # `emit` from outside, through the queue: numbered and logged as the routers do it.
        result = run_cli("emit", "--config", str(config), "--namespace", "/chat", "--event", "said",
                         "--room", "lobby", "--data", '"from the command line"')
        assert result.returncode == 0, result.stderr
        alice.resume(second.url)  # back through the other process
        assert alice.sid == sid
        assert alice.wait_for(2, "welcome")[1][0] == {"recovered": True, "name": "alice"}
        room.say("four")  # from the first process, to a room it has on the second
        assert texts(alice.wait_for(5, "said")) == ["one", "two", "three", "from the command line", "four"]
        offsets = [args[-1] for _, args in alice.received]
        assert len(offsets) == len(set(offsets))
        other.close()
        alice.close()
    finally:
        room.close()


def test_sigterm_with_recovery_tells_clients_to_come_back_and_they_recover_on_another_process(
        write_config, router_process, js):  # noqa: F811
    # shutdown_reconnect: false would say goodbye for good; with recovery the router says "come back".
    _, first, second = redis_cluster(write_config, router_process, "shutdown_reconnect: false")
    room = Chat(second)  # the sender stays on the process that keeps running
    try:
        proxy = TcpProxy("127.0.0.1", first.port)
        js.connect("alice", f"http://127.0.0.1:{proxy.port}", "/chat", auth=ALICE, transports=["websocket"],
                   reconnect=0.5)
        first_connect = js.wait_connected("alice")
        assert js.wait_ack("alice", js.emit("alice", "join", "lobby", ack=True)) == [True]
        room.say("one")
        js.wait_event("alice", "said")
        proxy.target = ("127.0.0.1", second.port)  # where its reconnection will land
        first.process.send_signal(signal.SIGTERM)
        assert js.wait_disconnect("alice") == "transport close"
        room.say("two")
        again = js.wait_connected("alice")
        assert again["recovered"] is True and again["sid"] == first_connect["sid"]
        room.say("three")
        js.wait_for(lambda m: m["type"] == "event" and m["event"] == "said" and m["args"][0] == "three")
        assert [event["args"][0] for event in js.events("alice", "said")] == ["one", "two", "three"]
        assert first.process.wait(30) == 0
        proxy.close()
    finally:
        room.close()
