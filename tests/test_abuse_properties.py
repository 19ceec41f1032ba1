"""Property tests (hypothesis), in-process: random payloads thrown at every built-in step, every
built-in auth rule and every abuse control never crash anything, never surface as an internal
error, and never cost another client its messages."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JWT_SECRET = "property-test-secret-0123456789-abcdef"

CONFIG = f"""
namespaces:
  /fuzz:
    auth: []
    rooms: {{allow: "^[a-z0-9-]{{1,30}}$", max_per_client: 5}}
    rate: {{events: 1000/s, burst: 1000, disconnect_after: 50}}
    max_payload_bytes: 4000
    unknown_events: error
    events:
      echo: echo
      emit:
        - emit: {{to: "{{{{ data.to }}}}", event: got, data: "{{{{ data.text }}}}"}}
      broadcast:
        - broadcast: {{event: news, data: "{{{{ data }}}}", include_self: false}}
      join:
        - room.join: {{room: "{{{{ data.room }}}}"}}
        - ack: {{data: "{{{{ data.room }}}}"}}
      leave:
        - room.leave: {{room: "{{{{ data.room }}}}"}}
      relay:
        - room.relay: {{room: "{{{{ data.room }}}}", event: said, data: "{{{{ data.text }}}}"}}
      close:
        - room.close: {{room: "{{{{ data.room }}}}"}}
      ack:
        - ack: {{args: ["{{{{ data.x }}}}", "{{{{ args | length }}}}"]}}
      text:
        - echo: {{data: "said {{{{ data }}}} and {{{{ args[1] | default('') }}}}"}}
      bye: disconnect
      checked:
        steps: [echo]
        schema:
          type: object
          required: [room]
          properties:
            room: {{type: string, pattern: "^room-"}}
            n: {{type: integer, minimum: 0}}
  /watch:
    events:
      ping: echo
  /token:
    auth: [{{token: {{values: [s3cret]}}}}]
  /jwt:
    auth: [{{jwt: {{secret: "{JWT_SECRET}", algorithms: [HS256], audience: chat}}}}]
  /header:
    auth: [{{header: {{name: X-Key, values: [k1], pattern: "v[0-9]+"}}}}]
  /query:
    auth: [{{query: {{name: key, values: [k1], pattern: "v[0-9]+"}}}}]
  /origin:
    auth: [{{origin: {{allow: ["https://app.example.com"]}}}}]
  /ip:
    auth: [{{ip: {{allow: [10.0.0.0/8], deny: [10.6.0.0/16], trust_forwarded_for: [127.0.0.1]}}}}]
  /any:
    auth:
      - any:
          - token: {{values: [s3cret], header: Authorization}}
          - jwt: {{secret: "{JWT_SECRET}", algorithms: [HS256], query: jwt}}
"""

EVENTS = ["echo", "emit", "broadcast", "join", "leave", "relay", "close", "ack", "text", "bye", "checked"]
AUTH_NAMESPACES = ["/token", "/jwt", "/header", "/query", "/origin", "/ip", "/any"]

# What a client can send: any JSON value (lone surrogates included), and binary.
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()


def nested(leaves):
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


json_values = nested(json_scalars)
values = nested(json_scalars | st.binary(max_size=64))
# Payloads shaped like what the steps read, so the templates get past the first lookup.
shaped = st.fixed_dictionaries({}, optional={"room": values, "to": values, "text": values, "x": values,
                                             "n": values})
payloads = st.one_of(values, shaped)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_objects = st.dictionaries(st.sampled_from(["alg", "typ", "kid", "crit", "aud", "exp", "nbf", "iat", "sub",
                                                "iss", "b64", "jku"]), json_values, max_size=5)
# Tokens with the three-part shape, random JSON in each part, so PyJWT parses them deeply.
jwt_like = st.builds(lambda header, body, signature: f"{b64(json.dumps(header).encode())}."
                                                     f"{b64(json.dumps(body).encode())}.{b64(signature)}",
                     json_objects, json_objects, st.binary(max_size=40))
tokens = st.one_of(st.text(max_size=40), jwt_like, json_values)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
addresses = st.one_of(st.ip_addresses().map(str), header_text)


@pytest.fixture
def fuzz_router(build_router):
    return build_router(CONFIG)


def internal_errors(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.levelno >= logging.ERROR]


def watcher_still_hears(watcher) -> None:
    watcher.get_received("/watch")
    watcher.emit("ping", "are you there", namespace="/watch")
    assert [r["args"] for r in watcher.get_received("/watch")] == [["are you there"]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_payloads_at_every_step_and_control(fuzz_router, connect, caplog, data):
    caplog.clear()
    watcher = connect(fuzz_router, "/watch")
    attacker = connect(fuzz_router, "/fuzz")
    for _ in range(data.draw(st.integers(1, 4), label="messages")):
        event = data.draw(st.sampled_from(EVENTS) | st.text(max_size=12), label="event")
        args = data.draw(st.lists(payloads, max_size=3), label="args")
        if not attacker.is_connected("/fuzz"):
            attacker.connect("/fuzz")
        if data.draw(st.booleans(), label="with callback"):
            attacker.emit(event, *args, namespace="/fuzz", callback=True)
        else:
            attacker.emit(event, *args, namespace="/fuzz")
        watcher_still_hears(watcher)
    assert internal_errors(caplog) == []
    # Every refusal or failure reached the attacker as a message, never as "internal error".
    if attacker.is_connected("/fuzz"):
        for received in attacker.get_received("/fuzz"):
            if received["name"] == "error":
                assert "internal error" not in json.dumps(received["args"], default=repr)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# The protocol's CONNECT payload is a JSON object (no binary, no bare values: python-socketio
# would read a leading digit as a packet id), and that is all socket.io-client sends.
@given(namespace=st.sampled_from(AUTH_NAMESPACES),
       auth=st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4)
       | st.fixed_dictionaries({"token": tokens}),
       headers=st.dictionaries(st.sampled_from(["X-Key", "Origin", "X-Forwarded-For", "Authorization"]),
                               header_text | jwt_like, max_size=4),
       query=st.dictionaries(st.sampled_from(["key", "jwt", "EIO"]), header_text | jwt_like, max_size=2),
       address=addresses)
def test_random_handshakes_at_every_auth_rule(fuzz_router, connect, refusal, caplog, namespace, auth,
                                              headers, query, address):
    from urllib.parse import urlencode

    caplog.clear()
    flask_client = fuzz_router.app.test_client()
    flask_client.environ_base["REMOTE_ADDR"] = address
    payload = refusal(fuzz_router, namespace, auth=auth, headers=headers,
                      query_string=urlencode(query), flask_test_client=flask_client)
    if payload is not None:
        assert payload["message"] == "unauthorized" and payload["reason"]
        assert "internal error" not in payload["reason"], payload
    assert internal_errors(caplog) == []
    watcher_still_hears(connect(fuzz_router, "/watch"))


@settings(max_examples=200, deadline=None)
@given(frame=st.one_of(st.text(max_size=60), st.binary(max_size=60),
                       st.builds(lambda kind, body: f"{kind}/fuzz,{body}", st.sampled_from("0123456789"),
                                 st.text(max_size=40) | values.map(lambda v: json.dumps(v, default=repr)))))
def test_random_frames_decode_or_are_refused_as_malformed(frame):
    from router.upstream.packets import CheckedPacket, MalformedPacket
    from socketio import packet

    if not frame:
        return  # refused before decoding (test_abuse_integration sends one: '4')
    try:
        decoded = CheckedPacket(encoded_packet=frame)
    except MalformedPacket:
        return
    if decoded.packet_type in (packet.EVENT, packet.BINARY_EVENT):
        assert isinstance(decoded.data, list) and isinstance(decoded.data[0], str)
    assert decoded.packet_type in (packet.CONNECT, packet.DISCONNECT, packet.EVENT, packet.ACK,
                                   packet.BINARY_EVENT, packet.BINARY_ACK)
