"""The --reload swap in process (router/server/live.py): clients stay, the new config answers."""

from __future__ import annotations

import textwrap
import threading
import time

import pytest

from router.compile.load import load_source
from router.config.models import PROCESS_LEVEL_KEYS, SWAPPED_KEYS, ServerConfig
from router.config.source import parse_config_text
from router.server import live
from tests.conftest import PLUGINS_DIR

BEFORE = f"""
plugins_dir: {PLUGINS_DIR}
server: {{api_key: k1}}
namespaces:
  /chat:
    auth:
      - token: {{values: [old-token]}}
    unknown_events: error
    events:
      join:
        - room.join: {{room: "{{{{ data }}}}"}}
        - ack: {{data: true}}
      say:
        - room.relay: {{room: "{{{{ data.room }}}}", event: said, data: "{{{{ data.text }}}}"}}
      ping:
        - ack: {{data: pong}}
      gone:
        - ack: {{data: still here}}
      loud: echo
  /old:
    events:
      ping: {{ack: {{data: old}}}}
"""

AFTER = f"""
plugins_dir: {PLUGINS_DIR}
server: {{api_key: k2}}
namespaces:
  /chat:
    auth:
      - token: {{values: [new-token]}}
    unknown_events: error
    events:
      join:
        - room.join: {{room: "{{{{ data }}}}"}}
        - ack: {{data: true}}
      say:
        - room.relay: {{room: "{{{{ data.room }}}}", event: said, data: "{{{{ data.text }}}} (v2)"}}
      ping:
        - ack: {{data: "pong v2 #{{{{ count }}}}"}}
      hello:
        - ack: {{data: new event}}
      loud:
        - shout: {{text: "{{{{ data }}}}"}}
  /new:
    events:
      ping: {{ack: {{data: new}}}}
"""


def compiled(text: str):
    return load_source(parse_config_text(textwrap.dedent(text).lstrip(), "test.yaml", {}))


def events(client, namespace="/chat"):
    return [(message["name"], message["args"]) for message in client.get_received(namespace)]


def test_every_server_key_is_either_swapped_or_needs_a_new_process():
    assert PROCESS_LEVEL_KEYS.isdisjoint(SWAPPED_KEYS)
    unclassified = set(ServerConfig.model_fields) - PROCESS_LEVEL_KEYS - SWAPPED_KEYS
    assert not unclassified, (f"decide whether a --reload can swap server.{sorted(unclassified)} "
                              f"in place; add it to SWAPPED_KEYS or PROCESS_LEVEL_KEYS "
                              f"(router/config/models.py)")


def test_clients_keep_their_session_rooms_and_counts_and_the_new_steps_answer(build_router, connect):
    router = build_router(BEFORE)
    alice = connect(router, "/chat", auth={"token": "old-token"})
    bob = connect(router, "/chat", auth={"token": "old-token"})
    sids = dict(router.dispatcher.connections)
    assert alice.emit("join", "lobby", namespace="/chat", callback=True) is True
    assert bob.emit("join", "lobby", namespace="/chat", callback=True) is True
    assert alice.emit("ping", namespace="/chat", callback=True) == "pong"

    assert live.process_changes(router, compiled(AFTER)) == []
    assert live.swap(router, compiled(AFTER)) == 2

    assert router.dispatcher.connections == sids  # the same sids, auth and identity
    assert alice.is_connected("/chat") and bob.is_connected("/chat")
    # The event counter went on: this is alice's second event since she connected... and third.
    assert alice.emit("ping", namespace="/chat", callback=True) == "pong v2 #3"
    bob.emit("say", {"room": "lobby", "text": "hi"}, namespace="/chat")
    assert events(alice) == [("said", ["hi (v2)"])]  # still in the room, and the new step sent it
    assert alice.emit("hello", namespace="/chat", callback=True) == "new event"
    alice.emit("gone", namespace="/chat")
    assert events(alice) == [("error", [{"message": "unknown event 'gone' on /chat", "event": "gone",
                                         "code": "unknown_event"}])]
    # echo ran without a Flask request context; a plugin step needs one: registered anew.
    assert router.registered.events[("/chat", "loud")] is False
    alice.emit("loud", "hey", namespace="/chat")
    assert events(alice) == [("shout", ["HEY"])]
    metrics = router.dispatcher.metrics.exposition().decode()
    assert 'socketio_router_events_received_total{event="ping",namespace="/chat"} 2.0' in metrics
    assert 'socketio_router_events_received_total{event="hello",namespace="/chat"} 1.0' in metrics


def test_auth_rules_change_for_new_connects_only(build_router, connect, refusal):
    router = build_router(BEFORE)
    alice = connect(router, "/chat", auth={"token": "old-token"})
    live.swap(router, compiled(AFTER))
    assert alice.emit("ping", namespace="/chat", callback=True) == "pong v2 #1"
    assert refusal(router, "/chat", auth={"token": "old-token"})["message"] == "unauthorized"
    assert refusal(router, "/chat", auth={"token": "new-token"}) is None


def test_a_removed_namespace_disconnects_its_clients_and_refuses_new_ones(build_router, connect,
                                                                         refusal, caplog):
    router = build_router(BEFORE)
    old = connect(router, "/old")
    live.swap(router, compiled(AFTER))
    assert not old.is_connected("/old")
    assert "namespace /old is not in the config any more: disconnecting its 1 client(s)" in caplog.text
    assert refusal(router, "/old") == {"message": "Invalid namespace"}
    new = connect(router, "/new")
    assert new.emit("ping", namespace="/new", callback=True) == "new"


def test_the_publish_api_and_readyz_follow_the_swap(build_router, connect):
    router = build_router(BEFORE)
    client = connect(router, "/chat", auth={"token": "old-token"})
    client.emit("join", "lobby", namespace="/chat", callback=True)
    live.swap(router, compiled(AFTER))
    http = router.app.test_client()
    body = {"namespace": "/chat", "event": "news", "data": 1, "room": "lobby"}
    assert http.post("/api/emit", json=body, headers={"X-API-Key": "k1"}).status_code == 401
    assert http.post("/api/emit", json=body, headers={"X-API-Key": "k2"}).status_code == 200
    assert events(client) == [("news", [1])]
    assert http.get("/readyz").get_json()["namespaces"] == ["/chat", "/new"]


@pytest.mark.parametrize("edit, named", [
    (lambda text: text.replace("server: {api_key: k2}", "server: {api_key: k2, port: 5001}"),
     ["server.port"]),
    (lambda text: text.replace("server: {api_key: k2}",
                               "server: {api_key: k2, async_mode: gevent, ping_interval: 5}"),
     ["server.async_mode", "server.ping_interval"]),
    (lambda text: text.replace("  /new:\n    events:\n      ping: {ack: {data: new}}\n",
                               "  /old:\n    class: chat_namespace:ChatNamespace\n"),
     ["namespaces['/old'].class"]),
])
def test_what_only_a_new_process_can_apply_is_named(build_router, edit, named):
    router = build_router(BEFORE)
    assert live.process_changes(router, compiled(edit(AFTER))) == named


TIMED = f"""
plugins_dir: {PLUGINS_DIR}
server: {{async_mode: threading}}
namespaces:
  /chat: {{}}
  /classy:
    class: chat_namespace:ChatNamespace
timers:
  clock: {{every: 0.05, namespace: /chat, event: EVENT}}
"""


def received_until(client, event: str, namespace: str = "/chat", timeout: float = 10) -> list[str]:
    """The event names ``client`` received up to the first ``event`` (it has no blocking wait)."""
    names: list[str] = []
    waiting = threading.Event()
    deadline = time.monotonic() + timeout
    while event not in names:
        names += [item["name"] for item in client.get_received(namespace)]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {event!r} within {timeout}s, got {names}")
        waiting.wait(0.01)
    return names


def test_timers_start_over_and_class_namespaces_are_mounted_again(build_router, connect):
    router = build_router(TIMED.replace("EVENT", "tick"))
    alice, classy = connect(router, "/chat"), connect(router, "/classy")
    mounted = router.socketio.server.namespace_handlers["/classy"]
    router.timers.start()
    try:
        received_until(alice, "tick")
        live.swap(router, compiled(TIMED.replace("EVENT", "tock")))
        assert router.timers.running
        received_until(alice, "tock")
        assert received_until(alice, "tock") == ["tock"]  # the old timer stopped before it started
    finally:
        assert router.timers.stop() is True
    assert router.socketio.server.namespace_handlers["/classy"] is not mounted
    assert classy.emit("add", 2, 3, namespace="/classy", callback=True) == 5


def test_a_namespace_once_served_by_yaml_cannot_become_a_class_in_place(build_router):
    router = build_router(BEFORE)
    live.swap(router, compiled(AFTER))  # /old is gone, its handlers are still registered
    as_class = AFTER + "  /old:\n    class: chat_namespace:ChatNamespace\n"
    assert live.process_changes(router, compiled(as_class)) == ["namespaces['/old'].class"]
    live.swap(router, compiled(as_class.replace("/old:", "/classy:")))
    assert live.process_changes(router, compiled(AFTER)) == ["namespaces['/classy'].class"]


PRESENT = f"""
plugins_dir: {PLUGINS_DIR}
namespaces:
  /chat:
    rooms:
      presence: {{announce: false}}
      history: {{size: 5, ttl: 1h}}
    events:
      join:
        - room.join: {{room: lobby}}
        - ack: {{data: true}}
      say:
        - room.relay: {{room: lobby, event: said, data: "{{{{ data }}}}SUFFIX"}}
      who:
        - room.members: {{room: lobby}}
      backlog:
        - room.history: {{room: lobby}}
"""


def test_presence_and_history_survive_a_swap(build_router, connect):
    router = build_router(PRESENT.replace("SUFFIX", ""))
    alice, bob = connect(router, "/chat"), connect(router, "/chat")
    for client in (alice, bob):
        assert client.emit("join", namespace="/chat", callback=True) is True
    bob.emit("say", "before", namespace="/chat")
    members = alice.emit("who", namespace="/chat", callback=True)
    assert len(members) == 2
    presence, history = router.dispatcher.presence, router.dispatcher.history

    live.swap(router, compiled(PRESENT.replace("SUFFIX", " (v2)")))
    assert (router.dispatcher.presence, router.dispatcher.history) == (presence, history)
    bob.emit("say", "after", namespace="/chat")
    assert alice.emit("who", namespace="/chat", callback=True) == members
    backlog = alice.emit("backlog", namespace="/chat", callback=True)
    assert [message["args"] for message in backlog] == [["before"], ["after (v2)"]]
    # Other history settings start the history afresh (documented in docs/operations.md).
    live.swap(router, compiled(PRESENT.replace("size: 5", "size: 4")))
    assert alice.emit("backlog", namespace="/chat", callback=True) == []
    assert alice.emit("who", namespace="/chat", callback=True) == members
