"""In-process tests of every built-in step, templates and error paths (Flask-SocketIO test client)."""

from __future__ import annotations

import pytest

from tests.conftest import PLUGINS_DIR

CHAT = f"""
plugins_dir: {PLUGINS_DIR}
namespaces:
  /chat:
    on_connect:
      - emit: {{event: welcome, data: {{sid: "{{{{ sid }}}}"}}}}
    events:
      join:
        - room.join: {{room: "{{{{ data.room }}}}"}}
        - room.relay: {{room: "{{{{ data.room }}}}", event: status, data: "{{{{ data.user }}}} has entered the room.", include_self: false}}
        - ack: {{data: true}}
      leave:
        - room.leave: {{room: "{{{{ data.room }}}}"}}
      say:
        - room.relay: {{room: "{{{{ data.room }}}}", event: message, data: {{user: "{{{{ data.user }}}}", text: "{{{{ data.text }}}}"}}}}
      shout: broadcast
      quiet_shout:
        - broadcast: {{include_self: false}}
      close:
        - room.close: {{room: "{{{{ data.room }}}}"}}
      bye:
        - emit: {{event: bye, data: see you}}
        - disconnect
      ping:
        - ack: {{data: pong}}
      echo_back: echo
      renamed_echo:
        - echo: {{event: echoed}}
      pair:
        - emit: {{event: pair, args: ["{{{{ args[1] }}}}", "{{{{ args[0] }}}}"]}}
        - ack: {{args: [1, two, {{three: 3}}]}}
      default_ack: ack
      typed:
        - emit: {{event: typed, data: {{count: "{{{{ data.n + 1 }}}}", items: "{{{{ data.items }}}}", text: "n={{{{ data.n }}}}"}}}}
      to_sid:
        - emit: {{to: "{{{{ data.target }}}}", event: private, data: "{{{{ data.text }}}}"}}
      loud:
        - shout: {{text: "{{{{ data }}}}"}}
      empty_loud:
        - shout: {{text: "{{{{ data }}}}"}}
      boom:
        - emit: {{event: before_boom}}
        - explode
        - emit: {{event: never_sent}}
      message: echo
"""


@pytest.fixture
def chat(build_router):
    return build_router(CHAT)


def client(connect, router_app, namespace="/chat", **kwargs):
    c = connect(router_app, namespace, **kwargs)
    assert c.is_connected(namespace)
    c.get_received(namespace)  # drop the welcome
    return c


def names(received):
    # The test client unwraps the arguments of events named 'message' (its send() shape).
    return [(m["name"], [m["args"]] if m["name"] == "message" else m["args"]) for m in received]


def test_on_connect_runs_after_the_connection_is_accepted(chat, connect):
    c = connect(chat, "/chat")
    [welcome] = c.get_received("/chat")
    assert welcome["name"] == "welcome"
    assert welcome["args"] == [{"sid": chat.socketio.server.manager.sid_from_eio_sid(c.eio_sid, "/chat")}]


def test_join_relays_to_the_room_only_and_acks(chat, connect):
    alice, bob, carol = (client(connect, chat) for _ in range(3))
    assert alice.emit("join", {"room": "r1", "user": "alice"}, namespace="/chat", callback=True) is True
    assert bob.emit("join", {"room": "r1", "user": "bob"}, namespace="/chat", callback=True) is True
    assert carol.emit("join", {"room": "r2", "user": "carol"}, namespace="/chat", callback=True) is True
    assert names(alice.get_received("/chat")) == [("status", ["bob has entered the room."])]
    assert bob.get_received("/chat") == []  # include_self: false
    bob.emit("say", {"room": "r1", "user": "bob", "text": "hi"}, namespace="/chat")
    expected = [("message", [{"user": "bob", "text": "hi"}])]
    assert names(alice.get_received("/chat")) == expected
    assert names(bob.get_received("/chat")) == expected
    assert carol.get_received("/chat") == []


def test_leave_and_close_room(chat, connect):
    alice, bob = client(connect, chat), client(connect, chat)
    for c, user in ((alice, "a"), (bob, "b")):
        c.emit("join", {"room": "r", "user": user}, namespace="/chat")
    alice.get_received("/chat"), bob.get_received("/chat")
    bob.emit("leave", {"room": "r"}, namespace="/chat")
    alice.emit("say", {"room": "r", "user": "a", "text": "1"}, namespace="/chat")
    assert bob.get_received("/chat") == []
    assert len(alice.get_received("/chat")) == 1
    alice.emit("close", {"room": "r"}, namespace="/chat")
    alice.emit("say", {"room": "r", "user": "a", "text": "2"}, namespace="/chat")
    assert alice.get_received("/chat") == []


def test_broadcast_includes_sender_unless_told(chat, connect):
    alice, bob = client(connect, chat), client(connect, chat)
    alice.emit("shout", {"x": 1}, namespace="/chat")
    assert names(alice.get_received("/chat")) == [("shout", [{"x": 1}])]
    assert names(bob.get_received("/chat")) == [("shout", [{"x": 1}])]
    alice.emit("quiet_shout", "psst", namespace="/chat")
    assert alice.get_received("/chat") == []
    assert names(bob.get_received("/chat")) == [("quiet_shout", ["psst"])]


def test_emit_then_disconnect_in_order(chat, connect):
    c = client(connect, chat)
    c.emit("bye", namespace="/chat")
    assert not c.is_connected("/chat")
    assert [m["name"] for m in c.queue] == ["bye"]


def test_echo_keeps_event_name_and_all_arguments(chat, connect):
    c = client(connect, chat)
    c.emit("echo_back", {"a": 1}, [2, 3], "four", namespace="/chat")
    assert names(c.get_received("/chat")) == [("echo_back", [{"a": 1}, [2, 3], "four"])]
    c.emit("renamed_echo", "x", namespace="/chat")
    assert names(c.get_received("/chat")) == [("echoed", ["x"])]


def test_binary_payload_passes_untouched(chat, connect):
    c = client(connect, chat)
    blob = bytes(range(256))
    c.emit("echo_back", blob, {"meta": True}, namespace="/chat")
    assert names(c.get_received("/chat")) == [("echo_back", [blob, {"meta": True}])]


def test_unnamed_message_is_echoed(chat, connect):
    c = client(connect, chat)
    c.send("hello", namespace="/chat")
    [received] = c.get_received("/chat")
    assert (received["name"], received["args"]) == ("message", "hello")


def test_acks_one_value_several_values_and_default_payload(chat, connect):
    c = client(connect, chat)
    assert c.emit("ping", namespace="/chat", callback=True) == "pong"
    assert c.emit("pair", "a", "b", namespace="/chat", callback=True) == [1, "two", {"three": 3}]
    assert names(c.get_received("/chat")) == [("pair", ["b", "a"])]
    assert c.emit("default_ack", {"k": [1]}, namespace="/chat", callback=True) == {"k": [1]}
    assert c.emit("default_ack", 1, 2, namespace="/chat", callback=True) == [1, 2]


def test_single_expression_keeps_its_type_other_strings_render_text(chat, connect):
    c = client(connect, chat)
    c.emit("typed", {"n": 41, "items": [1, {"a": None}]}, namespace="/chat")
    assert names(c.get_received("/chat")) == [
        ("typed", [{"count": 42, "items": [1, {"a": None}], "text": "n=41"}])]


@pytest.mark.parametrize("payload", ["{{ 7*7 }}", "{{ ''.__class__.__mro__ }}", "{% for x in range(9) %}x{% endfor %}"])
def test_client_data_is_never_compiled_as_a_template(chat, connect, payload):
    alice, bob = client(connect, chat), client(connect, chat)
    for c in (alice, bob):
        c.emit("join", {"room": "r", "user": "u"}, namespace="/chat")
        c.get_received("/chat")
    alice.emit("say", {"room": "r", "user": payload, "text": payload}, namespace="/chat")
    assert names(bob.get_received("/chat")) == [("message", [{"user": payload, "text": payload}])]


def test_personal_sid_room_is_a_target(chat, connect):
    alice, bob = client(connect, chat), client(connect, chat)
    bob_sid = chat.socketio.server.manager.sid_from_eio_sid(bob.eio_sid, "/chat")
    alice.emit("to_sid", {"target": bob_sid, "text": "psst"}, namespace="/chat")
    assert names(bob.get_received("/chat")) == [("private", ["psst"])]
    assert alice.get_received("/chat") == []


def test_custom_plugin_from_plugins_dir(chat, connect):
    c = client(connect, chat)
    c.emit("loud", "hello", namespace="/chat")
    assert names(c.get_received("/chat")) == [("shout", ["HELLO"])]


def test_step_error_goes_to_that_client_alone(chat, connect):
    alice, bob = client(connect, chat), client(connect, chat)
    alice.emit("empty_loud", " ", namespace="/chat")
    assert names(alice.get_received("/chat")) == [
        ("error", [{"message": "shout failed: nothing to shout", "event": "empty_loud"}])]
    assert bob.get_received("/chat") == []
    bob.emit("ping", namespace="/chat", callback=True)  # the server still serves everyone


def test_missing_field_is_a_clear_error(chat, connect):
    c = client(connect, chat)
    c.emit("join", {"user": "nobody"}, namespace="/chat")
    [error] = c.get_received("/chat")
    assert error["name"] == "error"
    assert error["args"][0]["message"] == (
        "room.join failed: template '{{ data.room }}': 'dict object' has no attribute 'room'")


def test_wrong_room_type_is_a_clear_error(chat, connect):
    c = client(connect, chat)
    c.emit("join", {"room": {"nested": 1}, "user": "u"}, namespace="/chat")
    [error] = c.get_received("/chat")
    assert error["args"][0]["message"] == "room.join failed: room must be a non-empty string, got dict {'nested': 1}"


def test_unexpected_exception_stops_the_steps_and_hides_internals(chat, connect, caplog):
    c = client(connect, chat)
    c.emit("boom", namespace="/chat")
    received = names(c.get_received("/chat"))
    assert received == [("before_boom", []),
                        ("error", [{"message": "explode failed: internal error", "event": "boom"}])]
    assert "secret internal detail" in caplog.text  # the log keeps the traceback
    assert "step 2 (explode)" in caplog.text


def test_namespace_on_error_and_default_on_error(build_router, connect):
    router_app = build_router(f"""
        plugins_dir: {PLUGINS_DIR}
        on_error:
          - emit: {{event: default_error, data: "{{{{ event }}}}: {{{{ error }}}}"}}
        namespaces:
          /own:
            events:
              boom: explode
            on_error:
              - emit: {{event: own_error, data: "{{{{ error }}}}"}}
              - ack: {{data: failed}}
          /plain:
            events:
              boom: explode
    """)
    own = connect(router_app, "/own")
    assert own.emit("boom", namespace="/own", callback=True) == "failed"
    assert names(own.get_received("/own")) == [("own_error", ["explode failed: internal error"])]
    plain = connect(router_app, "/plain")
    plain.emit("boom", namespace="/plain")
    assert names(plain.get_received("/plain")) == [("default_error", ["boom: explode failed: internal error"])]


def test_on_disconnect_steps_reach_the_room(build_router, connect):
    router_app = build_router("""
        namespaces:
          /r:
            events:
              join:
                - room.join: {room: lobby}
                - ack: {data: ok}
            on_disconnect:
              - room.relay: {room: lobby, event: left, data: "{{ sid }}", include_self: false}
    """)
    alice, bob = connect(router_app, "/r"), connect(router_app, "/r")
    alice.emit("join", namespace="/r", callback=True)
    bob.emit("join", namespace="/r", callback=True)
    bob_sid = router_app.socketio.server.manager.sid_from_eio_sid(bob.eio_sid, "/r")
    bob.disconnect("/r")
    assert names(alice.get_received("/r")) == [("left", [bob_sid])]
    assert router_app.dispatcher.connections.keys() == {("/r", router_app.socketio.server.manager.sid_from_eio_sid(alice.eio_sid, "/r"))}


def test_class_namespace_is_mounted(build_router, connect):
    router_app = build_router(f"""
        plugins_dir: {PLUGINS_DIR}
        namespaces:
          /cls:
            class: "chat_namespace:ChatNamespace"
          /yaml:
            events:
              ping:
                - ack: {{data: pong}}
    """)
    c = connect(router_app, "/cls")
    assert c.is_connected("/cls")
    assert [m["name"] for m in c.get_received("/cls")] == ["hello"]
    assert c.emit("add", 2, 3, namespace="/cls", callback=True) == 5
    c.emit("shout", "hi", namespace="/cls")
    assert names(c.get_received("/cls")) == [("shouted", ["HI"])]
    c.emit("fail", 1, namespace="/cls")  # the default error handler covers class namespaces too
    assert names(c.get_received("/cls")) == [("error", [{"message": "internal error", "event": "fail"}])]
    assert connect(router_app, "/yaml").emit("ping", namespace="/yaml", callback=True) == "pong"


def test_a_class_namespace_refuses_with_the_plugin_apis_refusal(build_router, refusal):
    router_app = build_router(f"""
        plugins_dir: {PLUGINS_DIR}
        namespaces:
          /cls:
            class: "chat_namespace:ChatNamespace"
    """)
    assert refusal(router_app, "/cls", auth={"refuse": True}) == {
        "message": "unauthorized", "rule": "class", "reason": "told to refuse",
        "data": {"rule": "class", "reason": "told to refuse"}}
    assert refusal(router_app, "/cls") is None


def test_undeclared_namespace_is_refused_like_the_node_server(chat, refusal):
    assert refusal(chat, "/nope") == {"message": "Invalid namespace"}
    assert refusal(chat, "/") == {"message": "Invalid namespace"}
    assert refusal(chat, "/chat") is None


def test_templates_see_auth_and_identity(build_router, connect):
    router_app = build_router("""
        namespaces:
          /a:
            auth:
              - token: {values: [s3cret]}
            events:
              who:
                - ack: {data: "{{ auth.user }} via {{ namespace }}/{{ event }}"}
    """)
    c = connect(router_app, "/a", auth={"token": "s3cret", "user": "ann"})
    assert c.emit("who", namespace="/a", callback=True) == "ann via /a/who"
