"""Presence and room history in process (Flask-SocketIO test clients): the notices and their
fields, no self notice, no double notice, a user's tabs as one member, disconnect and room.close
as leaves; history order, size, ttl, replay and the member rule; the members API, the gauge,
`check`, startup errors, and a store that cannot be reached."""

from __future__ import annotations

import logging
import time

import pytest

from router.errors import StartupError
from tests.conftest import PLUGINS_DIR

CHAT = f"""
plugins_dir: {PLUGINS_DIR}
server:
  api_key: test-key-0123456789
namespaces:
  /chat:
    auth: [claimed]
    rooms:
      presence: {{key: sub, fields: [sub, name]}}
      history: {{size: 3, ttl: 1h}}
    events:
      join:
        - room.join: {{room: "{{{{ data.room }}}}"}}
        - ack: {{data: true}}
      quiet_join:
        rooms: {{presence: {{fields: [name], announce: false}}}}
        steps:
          - room.join: {{room: "{{{{ data.room }}}}"}}
      untracked_join:
        rooms: {{presence: null}}
        steps:
          - room.join: {{room: "{{{{ data.room }}}}"}}
      leave:
        - room.leave: {{room: "{{{{ data.room }}}}"}}
      close:
        - room.close: {{room: "{{{{ data.room }}}}"}}
      say:
        - room.relay: {{room: "{{{{ data.room }}}}", event: said, data: {{text: "{{{{ data.text }}}}"}}}}
      tell:
        - emit: {{to: "{{{{ data.to }}}}", event: told, data: "{{{{ data.text }}}}"}}
      shout:
        - broadcast: {{event: shouted}}
      who:
        - room.members: {{room: "{{{{ data.room }}}}"}}
      backlog:
        - room.history: {{room: "{{{{ data.room }}}}"}}
      last_two:
        - room.history: {{room: "{{{{ data.room }}}}", limit: 2}}
      peek:
        - room.history: {{room: "{{{{ data.room }}}}", require_member: false}}
      catch_up:
        - room.history: {{room: "{{{{ data.room }}}}", replay: true}}
        - emit: {{event: caught_up}}
        - ack: {{data: done}}
  /plain:
    events:
      join:
        - room.join: {{room: "{{{{ data }}}}"}}
      say:
        - room.relay: {{room: "{{{{ data }}}}", event: said}}
"""


@pytest.fixture
def chat(build_router):
    return build_router(CHAT)


@pytest.fixture
def user(chat, connect):
    def make(sub, name=None, namespace="/chat"):
        auth = {"identity": {"sub": sub, "name": name or sub.title()}}
        return connect(chat, namespace, auth=auth)

    return make


def call(client, event, data, namespace="/chat"):
    return client.emit(event, data, namespace=namespace, callback=True)


def notices(client, namespace="/chat"):
    return [m["args"][0] for m in client.get_received(namespace) if m["name"] == "presence"]


def received(client, namespace="/chat"):
    return [(m["name"], m["args"]) for m in client.get_received(namespace)]


# -- presence ------------------------------------------------------------------------------------

def test_the_others_hear_a_join_with_the_fields_and_the_joiner_hears_nothing(user):
    alice, bob = user("alice"), user("bob", "Bob B.")
    assert call(alice, "join", {"room": "lobby"}) is True
    assert notices(alice) == []  # alone: nobody to tell, and never itself
    assert call(bob, "join", {"room": "lobby"}) is True
    assert notices(alice) == [{"room": "lobby", "action": "join",
                               "member": {"sub": "bob", "name": "Bob B.", "connections": 1}}]
    assert notices(bob) == []


def test_a_repeated_join_announces_nothing(user):
    alice, bob = user("alice"), user("bob")
    call(alice, "join", {"room": "lobby"})
    call(bob, "join", {"room": "lobby"})
    notices(alice)
    assert call(bob, "join", {"room": "lobby"}) is True
    assert notices(alice) == []
    assert call(alice, "who", {"room": "lobby"}) == [
        {"sub": "alice", "name": "Alice", "connections": 1}, {"sub": "bob", "name": "Bob", "connections": 1}]


def test_a_users_tabs_are_one_member_announced_once(user):
    alice, bob_one, bob_two = user("alice"), user("bob"), user("bob")
    call(alice, "join", {"room": "lobby"})
    call(bob_one, "join", {"room": "lobby"})
    call(bob_two, "join", {"room": "lobby"})
    assert [n["action"] for n in notices(alice)] == ["join"]
    assert notices(bob_one) == []  # its other tab joining is the same member
    assert call(alice, "who", {"room": "lobby"}) == [
        {"sub": "alice", "name": "Alice", "connections": 1}, {"sub": "bob", "name": "Bob", "connections": 2}]

    call(bob_one, "leave", {"room": "lobby"})
    assert notices(alice) == []  # one tab is still there
    assert call(alice, "who", {"room": "lobby"})[1]["connections"] == 1
    bob_two.disconnect(namespace="/chat")  # a disconnect is a leave
    assert notices(alice) == [{"room": "lobby", "action": "leave",
                               "member": {"sub": "bob", "name": "Bob", "connections": 0}}]
    assert call(alice, "who", {"room": "lobby"}) == [{"sub": "alice", "name": "Alice", "connections": 1}]


def test_without_a_key_each_connection_is_a_member_with_its_sid(build_router, connect):
    app = build_router("""
        namespaces:
          /chat:
            rooms: {presence: {}}
            on_connect:
              - emit: {event: welcome, data: "{{ sid }}"}
            events:
              join:
                - room.join: {room: "{{ data }}"}
              who:
                - room.members: {room: "{{ data }}"}
    """)
    alice, bob = connect(app, "/chat"), connect(app, "/chat")
    sids = [client.get_received("/chat")[0]["args"][0] for client in (alice, bob)]
    alice.emit("join", "r1", namespace="/chat")
    bob.emit("join", "r1", namespace="/chat")
    assert notices(alice) == [{"room": "r1", "action": "join", "member": {"sid": sids[1]}}]
    assert call(bob, "who", "r1") == [{"sid": sid} for sid in sorted(sids)]
    bob.disconnect(namespace="/chat")
    assert notices(alice) == [{"room": "r1", "action": "leave", "member": {"sid": sids[1]}}]


def test_room_close_and_leave_are_leaves(user):
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    for client in (alice, bob, carol):
        call(client, "join", {"room": "lobby"})
    for client in (alice, bob, carol):
        client.get_received("/chat")
    alice.emit("leave", {"room": "lobby"}, namespace="/chat")
    assert [n["member"]["sub"] for n in notices(bob)] == ["alice"]
    assert [n["action"] for n in notices(carol)] == ["leave"]
    alice.emit("close", {"room": "lobby"}, namespace="/chat")
    # the members go one after another: each leave reaches those not yet removed
    assert [(n["action"], n["member"]["sub"]) for n in notices(carol)] == [("leave", "bob")]
    assert notices(bob) == []
    assert call(alice, "who", {"room": "lobby"}) == []


def test_an_event_may_track_quietly_or_not_at_all(user):
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    call(alice, "join", {"room": "lobby"})
    bob.emit("quiet_join", {"room": "lobby"}, namespace="/chat")
    carol.emit("untracked_join", {"room": "lobby"}, namespace="/chat")
    assert notices(alice) == []
    # bob is tracked with the event's own fields (no key: one member per connection)
    members = call(alice, "who", {"room": "lobby"})
    assert sorted(members, key=len) == [{"sid": members[0].get("sid") or members[1]["sid"], "name": "Bob"},
                                        {"sub": "alice", "name": "Alice", "connections": 1}]


def test_the_gauge_counts_this_processs_members(chat, user):
    alice, bob = user("alice"), user("bob")
    call(alice, "join", {"room": "lobby"})
    call(bob, "join", {"room": "lobby"})
    call(bob, "join", {"room": "other"})
    text = chat.app.test_client().get("/metrics").get_data(as_text=True)
    assert 'socketio_router_presence_members{namespace="/chat"} 3.0' in text
    assert 'socketio_router_presence_members{namespace="/plain"} 0.0' in text


def test_the_members_api_answers_behind_the_key(chat, user):
    alice = user("alice")
    call(alice, "join", {"room": "lobby"})
    http = chat.app.test_client()
    key = {"Authorization": "Bearer test-key-0123456789"}
    answer = http.get("/api/rooms/lobby/members?namespace=/chat", headers=key)
    assert answer.status_code == 200
    assert answer.get_json() == {"namespace": "/chat", "room": "lobby",
                                 "members": [{"sub": "alice", "name": "Alice", "connections": 1}]}
    assert http.get("/api/rooms/lobby/members?namespace=/chat").status_code == 401
    assert http.get("/api/rooms/lobby/members", headers=key).get_json()["error"] == \
        "give the namespace: ?namespace=/chat"
    assert http.get("/api/rooms/lobby/members?namespace=/plain", headers=key).status_code == 404
    assert http.get("/api/rooms/lobby/members?namespace=/nope", headers=key).status_code == 400
    assert http.post("/api/rooms/lobby/members?namespace=/chat", headers=key).status_code == 405


def test_a_class_namespace_is_tracked_where_it_joins_rooms(build_router, connect):
    app = build_router(f"""
        plugins_dir: {PLUGINS_DIR}
        namespaces:
          /classy:
            class: "auth_samples:HandWrittenRooms"
            rooms: {{presence: {{}}}}
    """)
    alice, bob = connect(app, "/classy"), connect(app, "/classy")
    alice.emit("join", {"room": "r1"}, namespace="/classy")
    bob.emit("join", {"room": "r1"}, namespace="/classy")
    assert [n["action"] for n in notices(alice, "/classy")] == ["join"]
    assert len(app.dispatcher.presence.members("/classy", "r1")) == 2


# -- history -------------------------------------------------------------------------------------

def test_history_keeps_the_last_size_messages_oldest_first(user):
    alice, bob = user("alice"), user("bob")
    call(alice, "join", {"room": "lobby"})
    for number in range(5):
        alice.emit("say", {"room": "lobby", "text": f"m{number}"}, namespace="/chat")
    call(bob, "join", {"room": "lobby"})
    messages = call(bob, "backlog", {"room": "lobby"})
    assert [(m["event"], m["args"]) for m in messages] == [
        ("said", [{"text": "m2"}]), ("said", [{"text": "m3"}]), ("said", [{"text": "m4"}])]
    assert all(m["at"].endswith("+00:00") and "T" in m["at"] for m in messages)
    assert [m["args"][0]["text"] for m in call(bob, "last_two", {"room": "lobby"})] == ["m3", "m4"]


def test_only_room_messages_of_steps_are_kept(chat, user):
    alice = user("alice")
    call(alice, "join", {"room": "lobby"})
    sid = next(iter(chat.socketio.server.manager.rooms["/chat"]["lobby"]))  # alice's own
    alice.emit("tell", {"to": "lobby", "text": "to the room"}, namespace="/chat")
    alice.emit("tell", {"to": sid, "text": "to a sid"}, namespace="/chat")  # a sid room: never kept
    alice.emit("shout", "everyone", namespace="/chat")  # broadcast: not a room's
    chat.socketio.emit("news", "from the server", namespace="/chat", to="lobby")  # not a step's
    assert [(m["event"], m["args"]) for m in call(alice, "backlog", {"room": "lobby"})] == [
        ("told", ["to the room"])]


def test_history_older_than_its_ttl_is_gone(chat, user):
    now = [1_000_000.0]
    chat.dispatcher.history.clock = lambda: now[0]
    alice = user("alice")
    call(alice, "join", {"room": "lobby"})
    alice.emit("say", {"room": "lobby", "text": "old"}, namespace="/chat")
    now[0] += 3000
    alice.emit("say", {"room": "lobby", "text": "new"}, namespace="/chat")
    now[0] += 1000  # "old" is 4000 s old, past the 1h ttl
    assert [m["args"][0]["text"] for m in call(alice, "backlog", {"room": "lobby"})] == ["new"]
    assert call(alice, "backlog", {"room": "lobby"})[0]["at"] == "1970-01-12T14:36:40.000+00:00"


def test_replay_sends_the_original_events_before_the_next_steps(user):
    alice, bob = user("alice"), user("bob")
    call(alice, "join", {"room": "lobby"})
    alice.emit("say", {"room": "lobby", "text": "one"}, namespace="/chat")
    alice.emit("say", {"room": "lobby", "text": "two"}, namespace="/chat")
    call(bob, "join", {"room": "lobby"})
    bob.get_received("/chat")
    assert call(bob, "catch_up", {"room": "lobby"}) == "done"
    assert received(bob) == [("said", [{"text": "one"}]), ("said", [{"text": "two"}]),
                             ("caught_up", [{"room": "lobby"}])]
    # a replay is not said again: the history is unchanged
    assert len(call(bob, "backlog", {"room": "lobby"})) == 2


def test_only_a_member_reads_the_history_unless_told(user):
    alice, eve = user("alice"), user("eve")
    call(alice, "join", {"room": "lobby"})
    alice.emit("say", {"room": "lobby", "text": "secret"}, namespace="/chat")
    eve.emit("backlog", {"room": "lobby"}, namespace="/chat")
    assert received(eve) == [("error", [{"message": "room.history failed: not in room", "event": "backlog"}])]
    assert [m["args"] for m in call(eve, "peek", {"room": "lobby"})] == [[{"text": "secret"}]]


def test_a_namespace_without_history_gets_the_plain_context(chat, connect):
    from router.plugin_api import StepContext
    from router.runtime.dispatch import RecordingContext

    assert not issubclass(chat.dispatcher.context_class("/plain"), RecordingContext)
    assert issubclass(chat.dispatcher.context_class("/chat"), RecordingContext)
    client = connect(chat, "/plain")
    client.emit("join", "r1", namespace="/plain")
    client.emit("say", "r1", namespace="/plain")
    assert received(client, "/plain") == [("said", ["r1"])]
    assert chat.dispatcher.history.keeps("/plain") is False


def test_without_presence_or_history_the_contract_classes_serve(build_router):
    from router.plugin_api import StepContext

    app = build_router("""
        namespaces:
          /chat:
            events:
              ping: echo
    """)
    assert app.dispatcher.presence is None and app.dispatcher.history is None
    assert app.dispatcher.context_class("/chat") is StepContext
    assert app.socketio.server.manager.room_watch is None


# -- startup ---------------------------------------------------------------------------------------

def problems(build_router, text):
    with pytest.raises(StartupError) as info:
        build_router(text)
    return [problem.render() for problem in info.value.problems]


def test_the_room_steps_need_what_they_read(build_router):
    found = problems(build_router, """
        namespaces:
          /chat:
            events:
              who:
                - room.members: {room: lobby}
              backlog:
                - room.history: {room: lobby}
    """)
    assert found == [
        "test.yaml:5: namespaces['/chat'].events.who[0]: room.members needs rooms.presence in namespace "
        "/chat\n  Hint: add rooms: {presence: {}} to /chat",
        "test.yaml:7: namespaces['/chat'].events.backlog[0]: room.history needs rooms.history in "
        "namespace /chat\n  Hint: add rooms: {history: {size: 50, ttl: 1h}} to /chat"]


def test_history_is_a_namespaces_and_its_keys_are_checked(build_router):
    found = problems(build_router, """
        namespaces:
          /chat:
            rooms:
              presence: {key: "not a field", ttl: 0}
              history: {size: 0}
            events:
              say:
                rooms: {history: {size: 5}}
                steps: [echo]
    """)
    assert any("rooms.presence.key" in p and "should match pattern" in p for p in found), found
    assert any("rooms.presence.ttl" in p and "no time at all" in p for p in found), found
    assert any("rooms.history.size" in p for p in found), found
    assert any("history is kept per room of the namespace" in p for p in found), found


def test_a_replaying_history_step_leaves_the_callback_to_another(build_router):
    app = build_router("""
        namespaces:
          /chat:
            rooms: {history: {}}
            on_connect:
              - room.join: {room: lobby}
              - room.history: {room: lobby, replay: true}
            events:
              backlog:
                - room.history: {room: lobby}
                - ack: {data: twice}
    """.replace("ack: {data: twice}", "echo"))
    assert app is not None
    found = problems(build_router, """
        namespaces:
          /chat:
            rooms: {history: {}}
            events:
              backlog:
                - room.history: {room: lobby}
                - ack: {data: twice}
    """)
    assert "a callback is answered once; this event has two steps that answer it (room.history, ack)" \
        in found[0]


def test_check_prints_presence_and_history(build_router):
    from router.cli.check import routing_table

    table = routing_table(build_router(CHAT).compiled)
    assert ("  presence: key sub, fields sub name, announced, ttl 30s; joins by quiet_join (one member "
            "per connection, fields name, not announced, ttl 30s); untracked_join (off); this process "
            "only") in table.splitlines()
    assert "  history: last 3 per room, ttl 1h, at most 10000 rooms in memory; this process only" \
        in table.splitlines()


# -- a store that cannot be reached ----------------------------------------------------------------

def test_an_unreachable_store_answers_this_processs_view_and_logs_once(build_router, connect, caplog):
    from router.server.shared_rooms import RedisRooms

    app = build_router(CHAT)
    attempts = []

    def unreachable():
        attempts.append(1)
        raise ConnectionError("refused")

    store = RedisRooms("redis://:secret@127.0.0.1:1/0", "test", "process-1", 30.0,
                       app.socketio.server, client_factory=unreachable)
    store.presence = app.dispatcher.presence
    app.dispatcher.presence.store = app.dispatcher.history.store = store
    caplog.set_level(logging.INFO, logger="socketio_router.shared_rooms")
    store.beat()  # Redis is away from the start
    assert store.down and len(attempts) == 1
    alice = connect(app, "/chat", auth={"identity": {"sub": "alice", "name": "Alice"}})
    bob = connect(app, "/chat", auth={"identity": {"sub": "bob", "name": "Bob"}})
    call(alice, "join", {"room": "lobby"})
    call(bob, "join", {"room": "lobby"})
    assert [n["member"]["sub"] for n in notices(alice)] == ["bob"]  # this process's view: announced
    alice.emit("say", {"room": "lobby", "text": "local"}, namespace="/chat")
    started = time.monotonic()
    assert names(call(alice, "who", {"room": "lobby"})) == ["alice", "bob"]
    assert [m["args"] for m in call(alice, "backlog", {"room": "lobby"})] == [[{"text": "local"}]]
    assert time.monotonic() - started < 0.5  # answered at once, without trying Redis
    unreachable_lines = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable_lines) == 1, unreachable_lines
    assert "redis://:***@127.0.0.1:1/0" in unreachable_lines[0] and "secret" not in unreachable_lines[0]
    assert store.unshared >= 3  # two joins and a message were not shared


def names(members):
    return [member["sub"] for member in members]


def test_check_strict_warns_where_a_cluster_cannot_share_them():
    import textwrap

    from router.compile.load import load_source
    from router.config.lint import find_risks
    from router.config.source import parse_config_text

    def risks(queue, rooms):
        text = f"""
            server: {{message_queue: "{queue}"}}
            namespaces:
              /chat:
                auth: [{{token: {{values: ["${{T}}"]}}}}]
                rate: 5/s
                rooms: {rooms}
        """
        compiled = load_source(parse_config_text(textwrap.dedent(text).lstrip(), "c.yaml", {"T": "x"}))
        return [p.message for p in find_risks(compiled.config, compiled.source)]

    assert risks("amqp://127.0.0.1:5672//", "{presence: {}}") == [
        "namespace /chat tracks presence or history, which only a Redis message_queue shares: each "
        "process answers with its own"]
    assert risks("redis://127.0.0.1:6379/0", "{history: {}}") == [
        "namespace /chat keeps history without rooms.allow: a message to another process's client sid "
        "would be kept as a room's"]
    assert risks("redis://127.0.0.1:6379/0", '{history: {}, presence: {}, allow: "^[a-z]+$"}') == []
