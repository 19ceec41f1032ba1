"""--reload against a real process: a good edit is swapped in with the clients kept, a broken edit
keeps the old config, a change only a new process can apply restarts it."""

from __future__ import annotations

import os
import queue
import signal
import threading
import time

import pytest
import requests
import socketio

from jsclient import JsDriver

CONFIG = """
plugins_dir: {plugins}
namespaces:
  /chat:
    events:
      ping: {{ack: {{data: {answer}}}}}
      greet:
        - hello: {{}}
"""

PLUGIN = '''
from router import NoOptions, step

@step("hello", NoOptions)
def hello(ctx, options):
    ctx.set_ack("{text}")
'''


def wait_for_log(router, text: str, times: int = 1, timeout: float = 60) -> None:
    """Wait until ``text`` has been logged ``times`` times (stdout and stderr are read apart, so
    counts, not offsets)."""
    found = threading.Event()
    deadline = time.monotonic() + timeout
    while not found.wait(0.1):
        logs = router.logs()
        if logs.count(text) >= times:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged {times} time(s) within {timeout}s:\n{logs}")
        if router.process.poll() is not None:
            raise AssertionError(f"the router exited ({router.process.returncode}):\n{logs}")


def call(url: str, event: str) -> object:
    client = socketio.Client(reconnection=False)
    client.connect(url, namespaces=["/chat"], wait_timeout=10)
    try:
        return client.call(event, namespace="/chat", timeout=10)
    finally:
        client.disconnect()


def touch_later(path) -> None:
    # mtime resolution: make sure an edit within the same instant still counts as a change
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def reloading(tmp_path, router_process):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "hello.py").write_text(PLUGIN.format(text="hello v1"))
    config = tmp_path / "chat.yaml"
    config.write_text(CONFIG.format(plugins=plugins, answer="pong"))
    router = router_process(config, "--reload")
    wait_for_log(router, "reload: watching")
    return router, config, plugins


def test_a_good_edit_is_served_without_refusing_a_connection(reloading):
    router, config, plugins = reloading
    assert call(router.url, "ping") == "pong"
    port = router.port

    # Probe the server all through the reload: the socket is handed over, never closed.
    stop, answers, failures = threading.Event(), [], []

    def probe() -> None:
        while not stop.is_set():
            try:
                answers.append(requests.get(router.url + "/healthz", timeout=5).status_code)
            except requests.RequestException as exc:
                failures.append(repr(exc))

    prober = threading.Thread(target=probe)
    prober.start()
    client = socketio.Client(reconnection=False)
    reasons: queue.Queue = queue.Queue()
    client.on("disconnect", lambda reason=None: reasons.put(reason), namespace="/chat")
    client.connect(router.url, namespaces=["/chat"], transports=["websocket"], wait_timeout=10)
    sid = client.get_sid("/chat")
    try:
        config.write_text(CONFIG.format(plugins=plugins, answer="pang"))
        touch_later(config)
        wait_for_log(router, "reload: the new configuration is serving (swapped in place")
        assert call(router.url, "ping") == "pang"
        # The client connected before the edit is still there, and answered the new way.
        assert client.call("ping", namespace="/chat", timeout=10) == "pang"
        assert client.get_sid("/chat") == sid
    finally:
        stop.set()
        prober.join(10)
        client.disconnect()
    assert router.port == port
    assert failures == []
    assert answers and set(answers) == {200}
    assert reasons.get(timeout=10) == "client disconnect"  # only when it left, itself
    assert "config reloaded in place: 1 client connection(s) kept" in router.logs()

    (plugins / "hello.py").write_text(PLUGIN.format(text="hello v2"))
    touch_later(plugins / "hello.py")
    wait_for_log(router, "reload: the new configuration is serving (swapped in place", times=2)
    assert call(router.url, "greet") == "hello v2"  # the plugin was imported anew
    assert len(router.urls()) == 1  # never a new process


def test_a_broken_edit_keeps_the_running_server_and_prints_the_error(reloading):
    router, config, plugins = reloading
    config.write_text(CONFIG.format(plugins=plugins, answer="pong").replace("ack:", "akc:"))
    touch_later(config)
    wait_for_log(router, "still serving the previous one")
    logs = router.logs()
    assert f"{config}:6: namespaces['/chat'].events.ping[0]: unknown step plugin 'akc'" in logs
    assert "Hint: did you mean 'ack'?" in logs
    assert "reload: the new configuration has an error (above); still serving the previous one" in logs
    assert call(router.url, "ping") == "pong"
    assert requests.get(router.url + "/healthz", timeout=5).status_code == 200

    (plugins / "hello.py").write_text("def broken(:\n")
    touch_later(plugins / "hello.py")
    wait_for_log(router, "syntax error in plugin")
    assert call(router.url, "greet") == "hello v1"

    (plugins / "hello.py").write_text(PLUGIN.format(text="fixed"))
    config.write_text(CONFIG.format(plugins=plugins, answer="fixed"))
    touch_later(config)
    wait_for_log(router, "reload: the new configuration is serving")
    assert call(router.url, "ping") == "fixed"


def test_sigterm_stops_the_supervisor_and_its_server(reloading):
    router, config, plugins = reloading
    assert call(router.url, "ping") == "pong"
    router.signal(signal.SIGTERM)
    assert router.wait(15) == 0, router.logs()
    assert "SIGTERM: shutting down" in router.logs()
    with pytest.raises(requests.ConnectionError):
        requests.get(router.url + "/healthz", timeout=2)


ROOMS = """
server:
  api_key: the-key
  async_mode: MODE
namespaces:
  /chat:
    auth:
      - token: {values: [TOKEN]}
    events:
      join:
        - room.join: {room: "{{ data }}"}
        - ack: {data: true}
      say:
        - room.relay: {room: "{{ data.room }}", event: said, data: "{{ data.text }}SUFFIX"}
"""


def rooms_config(token: str = "t1", suffix: str = "", mode: str = "eventlet") -> str:
    return ROOMS.replace("TOKEN", token).replace("SUFFIX", suffix).replace("MODE", mode)


def member(url: str, token: str = "t1", room: str = "lobby", **options) -> socketio.Client:
    """A client of /chat in ``room``."""
    client = socketio.Client(**{"reconnection": False, **options})
    client.connect(url, namespaces=["/chat"], transports=["websocket"], auth={"token": token},
                   wait_timeout=10)
    assert client.call("join", room, namespace="/chat", timeout=10) is True
    return client


def wait_until(condition, timeout: float = 20, what: str = "the condition") -> None:
    waiting = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        waiting.wait(0.05)


def refusal_of(url: str, token: str) -> dict:
    """The connect_error data a client with ``token`` gets."""
    refused: queue.Queue = queue.Queue()
    client = socketio.Client(reconnection=False)
    client.on("connect_error", refused.put, namespace="/chat")
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(url, namespaces=["/chat"], transports=["websocket"], auth={"token": token},
                       wait_timeout=10)
    return refused.get(timeout=10)


@pytest.fixture
def js():
    """A socket.io-client (Node) driver, closed after the test."""
    with JsDriver() as driver:
        yield driver


def test_clients_in_rooms_stay_and_receive_what_was_published_during_the_swap(tmp_path, router_process, js):
    config = tmp_path / "rooms.yaml"
    config.write_text(rooms_config())
    router = router_process(config, "--reload")
    wait_for_log(router, "reload: watching")
    alice, bob = member(router.url), member(router.url)
    sids = alice.get_sid("/chat"), bob.get_sid("/chat")
    # socket.io-client (Node) in the room too
    js.connect("carol", router.url, namespace="/chat", auth={"token": "t1"}, transports=["websocket"])
    carol = js.wait_connected("carol")["sid"]
    assert js.wait_ack("carol", js.emit("carol", "join", "lobby", ack=True)) == [True]
    news: list = []
    alice.on("news", news.append, namespace="/chat")
    said: queue.Queue = queue.Queue()
    alice.on("said", said.put, namespace="/chat")

    # A backend publishes to the room all through the swap; every message it was told was sent
    # must reach alice, in order, once.
    published: list[int] = []
    stop = threading.Event()

    def publish() -> None:
        number = 0
        while not stop.is_set():
            answer = requests.post(router.url + "/api/emit", timeout=10,
                                   headers={"X-API-Key": "the-key"},
                                   json={"namespace": "/chat", "event": "news", "data": number,
                                         "room": "lobby"})
            assert answer.status_code == 200, answer.text
            published.append(number)
            number += 1

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        wait_until(lambda: len(published) >= 5, what="the first publishes")
        config.write_text(rooms_config(token="t2", suffix=" (v2)"))
        touch_later(config)
        wait_for_log(router, "reload: the new configuration is serving (swapped in place")
        after_swap = len(published)
        wait_until(lambda: len(published) >= after_swap + 5, what="publishes after the swap")
    finally:
        stop.set()
        publisher.join(20)
    wait_until(lambda: len(news) >= len(published), what="alice receiving every published message")
    assert news == published
    wait_until(lambda: len(js.events("carol", "news")) >= len(published),
               what="carol receiving every published message")
    assert [message["args"] for message in js.events("carol", "news")] == [[n] for n in published]

    assert (alice.get_sid("/chat"), bob.get_sid("/chat")) == sids
    bob.emit("say", {"room": "lobby", "text": "hi"}, namespace="/chat")
    assert said.get(timeout=10) == "hi (v2)"  # still in the room, and the edited step relays it
    assert js.wait_event("carol", "said") == ["hi (v2)"]
    assert [(m["type"], m.get("sid")) for m in js.messages if m["type"] in ("connect", "disconnect")] \
        == [("connect", carol)]
    # The auth rule changed for new connects only: alice and bob came in with t1 and stay.
    assert refusal_of(router.url, "t1")["message"] == "unauthorized"
    member(router.url, token="t2").disconnect()
    assert alice.connected and bob.connected
    alice.disconnect()
    bob.disconnect()


@pytest.mark.parametrize("mode", ["gevent", "threading"])
def test_the_swap_keeps_clients_in_every_async_mode(tmp_path, router_process, mode):
    config = tmp_path / "rooms.yaml"
    config.write_text(rooms_config(mode=mode))
    router = router_process(config, "--reload")
    wait_for_log(router, "reload: watching")
    alice, bob = member(router.url), member(router.url)
    said: queue.Queue = queue.Queue()
    alice.on("said", said.put, namespace="/chat")
    sid = alice.get_sid("/chat")
    config.write_text(rooms_config(mode=mode, suffix=" (v2)"))
    touch_later(config)
    wait_for_log(router, "reload: the new configuration is serving (swapped in place")
    bob.emit("say", {"room": "lobby", "text": "hi"}, namespace="/chat")
    assert said.get(timeout=10) == "hi (v2)"
    assert alice.get_sid("/chat") == sid
    alice.disconnect()
    bob.disconnect()


def test_a_change_of_port_restarts_on_the_new_port(tmp_path, router_process):
    first, second = free_port(), free_port()
    config = tmp_path / "rooms.yaml"
    config.write_text(rooms_config().replace("server:\n", f"server:\n  port: {first}\n"))
    router = router_process(config, "--reload", port_from_config=True)
    wait_for_log(router, "reload: watching")
    assert router.port == first
    config.write_text(rooms_config().replace("server:\n", f"server:\n  port: {second}\n"))
    touch_later(config)
    wait_for_log(router, "reload: the new configuration is serving (in a new process")
    logs = router.logs()
    assert logs.count("this needs a new process") == 1
    assert ("server.port changed: this needs a new process; restarting on the new address, "
            "clients must connect there") in logs
    assert router.urls()[-1] == f"http://127.0.0.1:{second}"
    member(router.urls()[-1]).disconnect()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{first}/healthz", timeout=2)


def test_a_change_only_a_new_process_applies_restarts_and_clients_reconnect(tmp_path, router_process, js):
    config = tmp_path / "rooms.yaml"
    config.write_text(rooms_config())
    router = router_process(config, "--reload")
    wait_for_log(router, "reload: watching")
    # socket.io-client reconnects after the goodbye of a graceful stop, "transport close"
    # (python-socketio's client does not); the driver's sockets do not reconnect by themselves.
    js.connect("js", router.url, namespace="/chat", auth={"token": "t1"}, transports=["websocket"])
    first = js.wait_connected("js")["sid"]
    config.write_text(rooms_config().replace("server:\n", "server:\n  ping_interval: 10\n"))
    touch_later(config)
    wait_for_log(router, "reload: the new configuration is serving (in a new process")
    assert router.logs().count("this needs a new process") == 1
    assert "server.ping_interval changed: this needs a new process; restarting, clients reconnect" \
        in router.logs()
    assert js.wait_disconnect("js", timeout=10) == "transport close"
    js.connect("again", router.url, namespace="/chat", auth={"token": "t1"}, transports=["websocket"])
    again = js.wait_connected("again")["sid"]  # the new process, on the same socket
    assert again != first
    request = js.emit("again", "join", "lobby", ack=True)
    assert js.wait_ack("again", request) == [True]


def free_port() -> int:
    import socket as sockets

    with sockets.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_with_recovery_on_redis_a_swap_keeps_clients_and_a_restart_recovers_them(tmp_path, router_process, js):
    from tests.support.cluster import BROKERS, subscribed, unique_channel

    recovery = (f'  message_queue: "{BROKERS["redis"]}"\n  channel: "{unique_channel("reload")}"\n'
                f"  connection_state_recovery: {{max_disconnection: 1m}}\n")
    config = tmp_path / "rooms.yaml"
    config.write_text(rooms_config().replace("server:\n", "server:\n" + recovery))
    router = router_process(config, "--reload")
    wait_for_log(router, "reload: watching")
    subscribed(router)
    js.connect("carol", router.url, namespace="/chat", auth={"token": "t1"}, transports=["websocket"],
               reconnect=0.2)
    carol = js.wait_connected("carol")
    assert js.wait_ack("carol", js.emit("carol", "join", "lobby", ack=True)) == [True]
    sender = member(router.url)

    def say(text: str) -> None:
        sender.emit("say", {"room": "lobby", "text": text}, namespace="/chat")

    # An edit of a step: swapped in place, nobody disconnected, offsets go on.
    say("one")
    config.write_text(rooms_config(suffix=" (v2)").replace("server:\n", "server:\n" + recovery))
    touch_later(config)
    wait_for_log(router, "reload: the new configuration is serving (swapped in place")
    say("two")
    js.wait_for(lambda m: m["type"] == "event" and m["event"] == "said" and m["args"][0] == "two (v2)")

    # A change only a new process applies: the old one says "come back", the new one recovers it.
    config.write_text(rooms_config(suffix=" (v3)").replace("server:\n", "server:\n  ping_interval: 10\n" + recovery))
    touch_later(config)
    assert js.wait_disconnect("carol", timeout=30) == "transport close"
    again = js.wait_connected("carol", timeout=30)
    wait_for_log(router, "reload: the new configuration is serving (in a new process")
    assert again["recovered"] is True and again["sid"] == carol["sid"]
    sender.disconnect()
    sender = member(router.url)  # python-socketio's client does not reconnect by itself
    say("three")  # relayed by the new process to the room the recovered client is back in
    js.wait_for(lambda m: m["type"] == "event" and m["event"] == "said" and m["args"][0] == "three (v3)")
    said = [message["args"] for message in js.events("carol", "said")]
    assert [args[0] for args in said] == ["one", "two (v2)", "three (v3)"]
    assert len({args[-1] for args in said}) == 3  # each with its own offset, none twice
    sender.disconnect()
