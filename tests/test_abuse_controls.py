"""Abuse controls, in-process: rooms, rate, payload size, schemas, unknown and forged events,
template injection, CORS, and the startup errors of each section."""

from __future__ import annotations

import logging
import textwrap

import pytest

from router.compile.load import load_source
from router.errors import StartupError
from router.config.source import parse_config_text
from tests.conftest import PLUGINS_DIR
from tests.support.router_process import run_cli


class FakeClock:
    """Time that moves only when a test says so: rate tests without sleeping."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def with_clock(router_app, clock):
    admission = router_app.dispatcher.admission
    admission.clock = clock
    for table in admission.connect_tables.values():
        table.clock = clock
    return router_app


def sid_of(router_app, client, namespace):
    return router_app.socketio.server.manager.sid_from_eio_sid(client.eio_sid, namespace)


def received(client, namespace, name=None):
    """The events ``client`` got since last asked: [(name, first arg)], even once disconnected."""
    mine = [packet for packet in client.queue if packet["namespace"] == namespace]
    client.queue = [packet for packet in client.queue if packet["namespace"] != namespace]
    return [(r["name"], r["args"][0] if r["args"] else None) for r in mine
            if name is None or r["name"] == name]


# python-socketio answers a callback with no values when the handler returns nothing, as it
# does for a dropped event: the client's callback runs, with no arguments.
NO_ANSWER = []


def errors(client, namespace):
    return [args for name, args in received(client, namespace) if name == "error"]


def startup_error(text: str) -> str:
    with pytest.raises(StartupError) as caught:
        load_source(parse_config_text(textwrap.dedent(text).lstrip(), "limits.yaml", {}))
    return str(caught.value)


# -- rooms --------------------------------------------------------------------------------------

ROOMS = """
    namespaces:
      /chat:
        rooms:
          allow: "^room-[a-z0-9]{1,16}$"
          max_per_client: 2
        events:
          join:
            - room.join: {room: "{{ data.room }}"}
            - ack: {data: true}
          leave:
            - room.leave: {room: "{{ data.room }}"}
            - ack: {data: true}
          join_dm:
            steps:
              - room.join: {room: "{{ data.room }}"}
              - ack: {data: true}
            rooms: {allow: "^dm-[a-z]+$"}
          say:
            - room.relay: {room: "{{ data.room }}", event: said, data: "{{ data.text }}"}
          dm:
            - emit: {to: "{{ data.to }}", event: dm, data: "{{ data.text }}"}
          close:
            - room.close: {room: "{{ data.room }}"}
      /other:
        events:
          join:
            - room.join: {room: "{{ data.room }}"}
            - ack: {data: true}
"""


@pytest.fixture
def rooms(build_router):
    return build_router(ROOMS)


def join(client, room, event="join", namespace="/chat"):
    return client.emit(event, {"room": room}, namespace=namespace, callback=True)


def test_rooms_allow_is_a_whole_name_match(rooms, connect):
    client = connect(rooms, "/chat")
    assert join(client, "room-abc") is True
    for bad in ["lobby", "room-ABC", "room-abc\n", "xroom-abc", "room-" + "a" * 17, "room-"]:
        assert join(client, bad) == NO_ANSWER
        assert errors(client, "/chat") == [{
            "message": f"room.join failed: room {bad!r} is not allowed here (rooms must match "
                       f"'^room-[a-z0-9]{{1,16}}$')", "event": "join"}]


def test_an_event_may_allow_other_rooms(rooms, connect):
    client = connect(rooms, "/chat")
    assert join(client, "dm-alice", event="join_dm") is True
    assert join(client, "room-abc", event="join_dm") == NO_ANSWER
    assert "rooms must match '^dm-[a-z]+$'" in errors(client, "/chat")[0]["message"]
    assert join(client, "dm-alice") == NO_ANSWER  # join keeps the namespace's pattern


def test_max_rooms_per_client(rooms, connect):
    client = connect(rooms, "/chat")
    assert join(client, "room-a") is True and join(client, "room-b") is True
    assert join(client, "room-a") is True  # already in it: not a new room
    assert join(client, "room-c") == NO_ANSWER
    assert errors(client, "/chat") == [{"message": "room.join failed: already in 2 rooms, the most "
                                                   "allowed here; leave one first", "event": "join"}]
    assert client.emit("leave", {"room": "room-a"}, namespace="/chat", callback=True) is True
    assert join(client, "room-c") is True


def test_nobody_joins_another_clients_sid_room(rooms, connect):
    alice, mallory, carol = (connect(rooms, "/chat") for _ in range(3))
    alice_sid = sid_of(rooms, alice, "/chat")
    # /other has no rooms policy at all: the sid guard holds there too, and across namespaces.
    mallory.connect("/other")
    alice.connect("/other")
    alice_other_sid = sid_of(rooms, alice, "/other")
    for namespace, target in [("/chat", alice_sid), ("/other", alice_other_sid), ("/other", alice_sid)]:
        assert join(mallory, target, namespace=namespace) == NO_ANSWER
        assert errors(mallory, namespace) == [{
            "message": f"room.join failed: room {target!r} is another client's private room",
            "event": "join"}]
    carol.emit("dm", {"to": alice_sid, "text": "psst"}, namespace="/chat")
    assert received(alice, "/chat", "dm") == [("dm", "psst")]
    assert received(mallory, "/chat") == []
    # A client's own sid room is its own: joining it is harmless.
    assert join(mallory, sid_of(rooms, mallory, "/other"), namespace="/other") is True


def test_a_sid_room_cannot_be_closed(rooms, connect):
    alice, mallory = connect(rooms, "/chat"), connect(rooms, "/chat")
    alice_sid = sid_of(rooms, alice, "/chat")
    mallory.emit("close", {"room": alice_sid}, namespace="/chat")
    assert errors(mallory, "/chat") == [{
        "message": f"room.close failed: room {alice_sid!r} is a client's private room and cannot "
                   f"be closed", "event": "close"}]
    connect(rooms, "/chat").emit("dm", {"to": alice_sid, "text": "still here"}, namespace="/chat")
    assert received(alice, "/chat", "dm") == [("dm", "still here")]


def test_the_guard_holds_for_a_hand_written_class_namespace(build_router, connect):
    router = build_router(f"""
        plugins_dir: "{PLUGINS_DIR}"
        namespaces:
          /legacy:
            class: "auth_samples:HandWrittenRooms"
            rooms: {{allow: "room-[0-9]+"}}
        """)
    alice, mallory = connect(router, "/legacy"), connect(router, "/legacy")
    alice_sid = sid_of(router, alice, "/legacy")
    assert mallory.emit("join", {"room": "room-1"}, namespace="/legacy", callback=True) is True
    mallory.emit("join", {"room": alice_sid}, namespace="/legacy", callback=True)
    mallory.emit("join", {"room": "lobby"}, namespace="/legacy", callback=True)
    assert [e["message"] for e in errors(mallory, "/legacy")] == [
        f"room {alice_sid!r} is another client's private room",
        "room 'lobby' is not allowed here (rooms must match 'room-[0-9]+')"]
    assert alice_sid not in router.socketio.server.rooms(sid_of(router, mallory, "/legacy"), "/legacy")


def test_rooms_startup_errors():
    text = startup_error("""
        namespaces:
          /chat:
            rooms: {allow: "room-[", max_per_client: 0}
        """)
    assert "limits.yaml:3: namespaces['/chat'].rooms.allow: invalid regular expression 'room-['" in text
    assert "limits.yaml:3: namespaces['/chat'].rooms.max_per_client: Input should be greater than or " \
           "equal to 1" in text


# -- rate ---------------------------------------------------------------------------------------

RATE = """
    namespaces:
      /fast:
        rate: {events: 5/s, disconnect_after: 4, abuse_window: 10}
        events:
          ping: ack
          slow:
            steps: [ack]
            rate: {events: 1/s, burst: 2}
      /patient:
        rate: {events: 2/s, disconnect_after: null}
        events:
          ping: ack
"""


@pytest.fixture
def rated(build_router, clock):
    return with_clock(build_router(RATE), clock)


def ping(client, namespace="/fast", event="ping"):
    return client.emit(event, "hi", namespace=namespace, callback=True)


def test_rate_limit_drops_the_excess_with_an_error(rated, connect, clock):
    client = connect(rated, "/fast")
    assert [ping(client) for _ in range(5)] == ["hi"] * 5
    assert ping(client) == NO_ANSWER  # dropped: the steps did not run
    assert errors(client, "/fast") == [{"message": "rate limit exceeded (5/s); this event was dropped",
                                        "event": "ping", "code": "rate_limited", "retry_after": 0.2}]
    clock.advance(0.2)
    assert ping(client) == "hi"


def test_an_event_with_its_own_rate_has_its_own_bucket(rated, connect, clock):
    client = connect(rated, "/fast")
    assert [ping(client, event="slow") for _ in range(3)] == ["hi", "hi", NO_ANSWER]
    assert errors(client, "/fast")[0]["message"] == "rate limit exceeded (1/s); this event was dropped"
    assert [ping(client) for _ in range(5)] == ["hi"] * 5  # the namespace's bucket is untouched
    clock.advance(1)
    assert ping(client, event="slow") == "hi"


def test_repeated_abuse_disconnects_and_others_keep_going(rated, connect, clock):
    abuser, bystander = connect(rated, "/fast"), connect(rated, "/fast")
    for _ in range(5 + 3):
        ping(abuser)
    assert abuser.is_connected("/fast")
    ping(abuser)  # the 4th refusal within 10 s
    assert not abuser.is_connected("/fast")
    assert errors(abuser, "/fast")[-1] == {"message": "disconnected: 4 events refused within 10 s",
                                          "event": "ping", "code": "abuse"}
    assert ping(bystander) == "hi"
    assert rated.dispatcher.admission.clients.get(("/fast", sid_of(rated, bystander, "/fast")))
    assert len(rated.dispatcher.admission.clients) == 1  # the abuser's state is gone


def test_refusals_spread_over_windows_do_not_disconnect(rated, connect, clock):
    client = connect(rated, "/fast")
    for window in range(2):
        assert [ping(client) for _ in range(5 + 3)] == ["hi"] * 5 + [NO_ANSWER] * 3
        clock.advance(10.01)  # a new abuse window, and a full bucket
    assert client.is_connected("/fast")


def test_disconnect_after_null_never_disconnects(rated, connect):
    client = connect(rated, "/patient")
    results = [ping(client, "/patient") for _ in range(50)]
    assert results.count("hi") == 2 and client.is_connected("/patient")
    assert len(errors(client, "/patient")) == 48


def test_connect_attempts_per_address(build_router, refusal, clock):
    router = with_clock(build_router("""
        namespaces:
          /door:
            rate: {connects_per_ip: 2/m, trust_forwarded_for: [10.0.0.1]}
        """), clock)

    def attempt(address, forwarded=None):
        client = router.app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        headers = {"X-Forwarded-For": forwarded} if forwarded else None
        return refusal(router, "/door", flask_test_client=client, headers=headers)

    assert attempt("192.0.2.1") is None and attempt("192.0.2.1") is None
    payload = attempt("192.0.2.1")
    assert payload == {"message": "rate limited", "rule": "rate",
                       "reason": "too many connection attempts from 192.0.2.1; retry in 30.0 s",
                       "data": {"rule": "rate", "reason": "too many connection attempts from "
                                                          "192.0.2.1; retry in 30.0 s"}}
    assert attempt("192.0.2.2") is None
    # Behind the trusted proxy each client has its own bucket; a spoofed header elsewhere does not help.
    assert attempt("10.0.0.1", "198.51.100.7") is None and attempt("10.0.0.1", "198.51.100.8") is None
    assert attempt("192.0.2.1", "198.51.100.9") is not None
    clock.advance(30)
    assert attempt("192.0.2.1") is None


def test_rate_startup_errors():
    text = startup_error("""
        namespaces:
          /a:
            rate: fast
            events:
              e:
                steps: [ack]
                rate: {events: 0/s}
        """)
    assert "limits.yaml:3: namespaces['/a'].rate.events: 'fast' is not a rate; write a rate as " \
           "COUNT/PERIOD with a period of s, m or h, e.g. 20/s, 300/m or 5/10s" in text
    assert "limits.yaml:7: namespaces['/a'].events.e.rate.events: '0/s' allows nothing" in text


def test_rate_forms(build_router):
    from router.config.rates import parse_rate

    assert [(r.count, r.period) for r in map(parse_rate, ["20/s", "300/m", "5/10s", "1000 / hour", "2/min"])] == \
        [(20, 1), (300, 60), (5, 10), (1000, 3600), (2, 60)]
    router = build_router("""
        namespaces:
          /a:
            rate: {events: 1/m}
            events: {e: ack}
        """)
    assert router.compiled.namespaces["/a"].policy.default.rate.capacity == 1.0


# -- payload size -------------------------------------------------------------------------------

SIZES = """
    namespaces:
      /up:
        max_payload_bytes: 100
        events:
          note:
            - echo
          upload:
            steps: [echo]
            max_payload_bytes: 5000
"""


def test_oversize_payloads_get_a_clear_error_and_never_reach_the_steps(build_router, connect):
    router = build_router(SIZES)
    client = connect(router, "/up")
    client.emit("note", "x" * 80, namespace="/up")
    assert received(client, "/up") == [("note", "x" * 80)]
    client.emit("note", "x" * 200, namespace="/up")
    assert received(client, "/up") == [("error", {"message": "payload too large: 202 bytes, the limit is 100",
                                                 "event": "note", "code": "payload_too_large", "limit": 100})]
    client.emit("note", "é" * 50, namespace="/up")  # 100 bytes of UTF-8 plus quotes
    assert errors(client, "/up")[0]["message"] == "payload too large: 102 bytes, the limit is 100"
    client.emit("note", b"\x00" * 101, namespace="/up")  # binary counts its raw size
    assert errors(client, "/up")[0]["message"] == "payload too large: 105 bytes, the limit is 100"
    client.emit("upload", "y" * 4000, namespace="/up")
    assert received(client, "/up") == [("upload", "y" * 4000)]


def test_payload_limit_must_sit_below_the_engineio_buffer():
    text = startup_error("""
        server:
          max_http_buffer_size: 10000
        namespaces:
          /up:
            events:
              upload:
                steps: [echo]
                max_payload_bytes: 10000
        """)
    assert "limits.yaml:8: namespaces['/up'].events.upload.max_payload_bytes: max_payload_bytes " \
           "(10000) must be below server.max_http_buffer_size (10000): engine.io drops the connection " \
           "above that size before the router can answer" in text
    assert "Hint: lower max_payload_bytes, or raise server.max_http_buffer_size" in text


# -- schemas ------------------------------------------------------------------------------------

SCHEMAS = f"""
    plugins_dir: "{PLUGINS_DIR}"
    namespaces:
      /chat:
        events:
          say:
            steps:
              - echo: {{event: said}}
            schema:
              type: object
              required: [room, text]
              additionalProperties: false
              properties:
                room: {{type: string, pattern: "^room-"}}
                text: {{type: string, maxLength: 10}}
                tags: {{type: array, items: {{type: string}}}}
          typed:
            steps: [{{echo: {{event: said}}}}]
            schema: "auth_samples:ChatLine"
"""


@pytest.fixture
def schemas(build_router):
    return build_router(SCHEMAS)


def test_valid_payloads_pass(schemas, connect):
    client = connect(schemas, "/chat")
    client.emit("say", {"room": "room-1", "text": "hi", "tags": ["a"]}, namespace="/chat")
    client.emit("typed", {"room": "room-1", "text": "hi"}, namespace="/chat")
    assert received(client, "/chat") == [("said", {"room": "room-1", "text": "hi", "tags": ["a"]}),
                                         ("said", {"room": "room-1", "text": "hi"})]


@pytest.mark.parametrize("payload, fields", [
    ({"room": "room-1"}, [("text", "'text' is a required property")]),
    ({"room": 7, "text": "hi"}, [("room", "7 is not of type 'string'")]),
    ({"room": "lobby", "text": "x" * 11}, [("room", "'lobby' does not match '^room-'"),
                                            ("text", "'xxxxxxxxxxx' is too long")]),
    ({"room": "room-1", "text": "hi", "tags": ["ok", 3]}, [("tags[1]", "3 is not of type 'string'")]),
    ({"room": "room-1", "text": "hi", "admin": True},
     [("(root)", "Additional properties are not allowed ('admin' was unexpected)")]),
    ("a string", [("(root)", "'a string' is not of type 'object'")]),
    (None, [("(root)", "None is not of type 'object'")]),
])
def test_invalid_payloads_list_the_failing_fields_and_never_reach_the_steps(schemas, connect, payload, fields):
    client = connect(schemas, "/chat")
    if payload is None:
        client.emit("say", namespace="/chat")
    else:
        client.emit("say", payload, namespace="/chat")
    (error,) = errors(client, "/chat")
    assert error["code"] == "invalid_payload" and error["event"] == "say"
    assert [(f["field"], f["error"]) for f in error["fields"]] == fields
    assert error["message"].startswith(f"invalid payload: {fields[0][0]}: {fields[0][1]}")


def test_a_pydantic_model_from_a_plugin_validates_too(schemas, connect):
    client = connect(schemas, "/chat")
    client.emit("typed", {"room": "lobby", "text": "x" * 30, "extra": 1}, namespace="/chat")
    (error,) = errors(client, "/chat")
    assert [(f["field"], f["error"]) for f in error["fields"]] == [
        ("room", "String should match pattern '^room-'"),
        ("text", "String should have at most 20 characters"),
        ("extra", "Extra inputs are not permitted")]
    assert error["message"] == ("invalid payload: room: String should match pattern '^room-'; text: String "
                                "should have at most 20 characters; extra: Extra inputs are not permitted")


def test_a_long_value_is_clipped_in_the_error(schemas, connect):
    client = connect(schemas, "/chat")
    client.emit("say", {"room": "z" * 5000, "text": "hi"}, namespace="/chat")
    (error,) = errors(client, "/chat")
    assert len(error["fields"][0]["error"]) == 200 and error["fields"][0]["error"].endswith("...")


def test_schema_startup_errors_point_into_the_schema():
    text = startup_error(f"""
        plugins_dir: "{PLUGINS_DIR}"
        namespaces:
          /chat:
            events:
              say:
                steps: [echo]
                schema:
                  type: object
                  properties:
                    room: {{type: string, minLength: "three"}}
              typed:
                steps: [echo]
                schema: "auth_samples:NoSuchModel"
              notmodel:
                steps: [echo]
                schema: "auth_samples:tenant_key"
        """)
    assert "limits.yaml:10: namespaces['/chat'].events.say.schema.properties.room.minLength: not a valid " \
           "JSON Schema: 'three' is not of type 'integer'" in text
    assert "limits.yaml:13: namespaces['/chat'].events.typed.schema: module 'auth_samples' has no " \
           "attribute 'NoSuchModel'" in text
    assert "limits.yaml:16: namespaces['/chat'].events.notmodel.schema: 'auth_samples:tenant_key' is " \
           "not a pydantic model class" in text


# -- event forms --------------------------------------------------------------------------------

def test_the_short_forms_keep_working(build_router, connect):
    router = build_router("""
        namespaces:
          /a:
            events:
              one: echo
              mapping: {ack: {data: 1}}
              many: [echo, {ack: {data: 2}}]
              full: {steps: [echo, {ack: {data: 3}}]}
        """)
    client = connect(router, "/a")
    assert client.emit("mapping", namespace="/a", callback=True) == 1
    assert client.emit("many", "m", namespace="/a", callback=True) == 2
    assert client.emit("full", "f", namespace="/a", callback=True) == 3
    client.emit("one", "o", namespace="/a")
    assert received(client, "/a") == [("many", "m"), ("full", "f"), ("one", "o")]


def test_event_form_errors_are_located():
    text = startup_error("""
        namespaces:
          /a:
            events:
              short:
                - room.jion: {room: x}
              long:
                steps:
                  - echo
                  - room.jion: {room: x}
                limit: 5
              nosteps: {rate: 5/s}
        """)
    assert "limits.yaml:10: namespaces['/a'].events.long.limit: unknown key 'limit'" in text
    assert "limits.yaml:11: namespaces['/a'].events.nosteps.steps: missing required key 'steps'" in text
    text = startup_error("""
        namespaces:
          /a:
            events:
              short:
                - room.jion: {room: x}
              long:
                steps:
                  - echo
                  - room.jion: {room: x}
        """)
    assert "limits.yaml:5: namespaces['/a'].events.short[0]: unknown step plugin 'room.jion'" in text
    assert "limits.yaml:9: namespaces['/a'].events.long.steps[1]: unknown step plugin 'room.jion'" in text


# -- unknown and forged events ------------------------------------------------------------------

def test_unknown_events_are_counted_and_ignored_or_answered(build_router, connect):
    router = build_router("""
        namespaces:
          /quiet:
            events: {known: ack}
          /strict:
            unknown_events: error
            events: {known: ack}
        """)
    client = connect(router, "/quiet")
    assert client.emit("nope", 1, namespace="/quiet", callback=True) == NO_ANSWER
    client.send("unnamed", namespace="/quiet")
    assert received(client, "/quiet") == []
    client.connect("/strict")
    client.emit("nope", {"x": 1}, namespace="/strict")
    assert errors(client, "/strict") == [{"message": "unknown event 'nope' on /strict", "event": "nope",
                                          "code": "unknown_event"}]
    client.emit("n" * 500, namespace="/strict")
    assert errors(client, "/strict")[0]["event"] == "n" * 97 + "..."
    metrics = router.dispatcher.metrics.exposition().decode()
    for namespace in ("/quiet", "/strict"):
        assert (f'socketio_router_events_dropped_total{{event="*",namespace="{namespace}",'
                f'reason="unknown_event"}} 2.0') in metrics


def test_unknown_events_spend_the_namespace_rate(build_router, connect, clock):
    router = with_clock(build_router("""
        namespaces:
          /a:
            rate: {events: 2/s, disconnect_after: null}
            events: {known: ack}
        """), clock)
    client = connect(router, "/a")
    client.emit("junk", namespace="/a")
    client.emit("junk", namespace="/a")
    assert client.emit("known", "k", namespace="/a", callback=True) == NO_ANSWER
    assert [e["code"] for e in errors(client, "/a")] == ["rate_limited"]


FORGED = """
    namespaces:
      /room:
        auth:
          - token: {values: [alice-token, bob-token]}
        on_disconnect:
          - broadcast: {event: left, data: "{{ auth.token }}", include_self: false}
        events:
          whoami: {ack: {data: "{{ auth.token }}"}}
"""


def test_an_event_named_connect_cannot_re_authenticate(build_router, connect, caplog):
    router = build_router(FORGED)
    alice = connect(router, "/room", auth={"token": "alice-token"})
    alice.emit("connect", {"token": "bob-token"}, {"token": "bob-token"}, namespace="/room")
    assert alice.emit("whoami", namespace="/room", callback=True) == "alice-token"
    assert "ignored an event packet named 'connect' on /room" in caplog.text


def test_an_event_named_disconnect_cannot_fake_a_departure(build_router, connect):
    router = build_router(FORGED)
    alice = connect(router, "/room", auth={"token": "alice-token"})
    bob = connect(router, "/room", auth={"token": "bob-token"})
    alice.emit("disconnect", "client disconnect", namespace="/room")
    assert received(bob, "/room") == []
    assert alice.emit("whoami", namespace="/room", callback=True) == "alice-token"
    alice.disconnect("/room")  # a real one still runs on_disconnect
    assert received(bob, "/room") == [("left", "alice-token")]


# -- template injection -------------------------------------------------------------------------

def test_client_data_is_never_compiled_as_a_template(build_router, connect):
    router = build_router("""
        namespaces:
          /t:
            events:
              echo: echo
              quote:
                - emit: {event: quoted, data: {text: "{{ data.text }}", said: "said: {{ data.text }}"}}
              peek:
                - emit: {event: quoted, data: "{{ data.__class__ }}"}
        """)
    client = connect(router, "/t")
    for text in ["{{ 7*7 }}", "{{ ''.__class__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
                 "{% for x in range(10**9) %}{% endfor %}", "${HOME}"]:
        client.emit("echo", text, namespace="/t")
        client.emit("quote", {"text": text}, namespace="/t")
        assert received(client, "/t") == [("echo", text), ("quoted", {"text": text, "said": f"said: {text}"})]
    client.emit("peek", {"a": 1}, namespace="/t")
    (error,) = errors(client, "/t")
    assert error["message"].startswith("emit failed: template '{{ data.__class__ }}': access to attribute "
                                       "'__class__' of 'dict' object is unsafe")


# -- CORS ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("origins, written", [('"*"', "'*'"), ('["*"]', "['*']"),
                                              ('["https://a.example", "*"]', "['https://a.example', '*']"),
                                              ("[]", "an empty list")])
def test_any_origin_needs_an_explicit_opt_in(origins, written):
    text = startup_error(f"""
        server:
          cors_allowed_origins: {origins}
        namespaces:
          /a: {{}}
        """)
    assert f"limits.yaml:2: server.cors_allowed_origins: {written} lets any web page connect to this " \
           f"server; add cors_allow_any_origin: true next to it if that is what you want" in text


def test_check_warns_about_any_origin(write_config):
    path = write_config("""
        server:
          cors_allowed_origins: "*"
          cors_allow_any_origin: true
        namespaces:
          /a:
            rate: 5/s
            events: {e: echo}
        """)
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert f"warning: {path}:2: server.cors_allowed_origins: any web page may open a Socket.IO " \
           f"connection to this server with its visitors' cookies (cors_allow_any_origin is true)" \
           in result.stderr
    assert "/a  auth: open\n  limits: rate 5/s (burst 5)\n" in result.stdout


def test_check_lists_the_limits(write_config):
    path = write_config(SCHEMAS + """
      /secure:
        rate: {events: 10/s, connects_per_ip: 30/m}
        rooms: {allow: "^room-", max_per_client: 3}
        max_payload_bytes: 2048
        unknown_events: error
        events:
          join:
            steps: [echo]
            rate: 1/s
            rooms: {max_per_client: 5}
        """)
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "  limits: own limits: say (schema: JSON Schema (Draft202012)); typed (schema: model " \
           "auth_samples:ChatLine)" in result.stdout
    assert "  limits: rate 10/s (burst 10), max 2048 bytes, connects 30/m per address, rooms matching " \
           "^room- at most 3, unknown events: error, own limits: join (rate 1/s (burst 1), rooms " \
           "matching ^room- at most 5)" in result.stdout
    assert "warning" not in result.stderr


def test_same_origin_stays_the_default(build_router):
    router = build_router("namespaces: {/a: {}}")
    assert router.socketio.server.eio.cors_allowed_origins is None


def test_abuse_logs_once_per_window(rated, connect, caplog):
    caplog.set_level(logging.DEBUG, logger="socketio_router")
    client = connect(rated, "/patient")
    for _ in range(10):
        ping(client, "/patient")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "refused event" in r.message]
    assert len(warnings) == 1


def test_the_documented_examples_load(build_router, connect):
    from tests.support.router_process import ROOT

    section = (ROOT / "docs" / "abuse-controls.md").read_text()
    example = section[section.index("```yaml\n") + 8:section.index("```\n", section.index("```yaml\n") + 8)]
    router = build_router(example)
    client = connect(router, "/chat")
    client.emit("say", {"room": "room-1"}, namespace="/chat")
    assert errors(client, "/chat")[0]["fields"] == [{"field": "text", "error": "'text' is a required property"}]
    page = (ROOT / "docs" / "steps-and-auth.md").read_text()
    auth = page[page.index("## Auth rules"):]
    rules = auth[auth.index("```yaml\n") + 8:auth.index("```\n", auth.index("```yaml\n") + 8)]
    build_router("namespaces:\n  /a:\n" + textwrap.indent(rules, "    "),
                 environ={"JWT_SECRET": "x" * 32})
