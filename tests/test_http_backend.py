"""The http step and the http auth rule, in-process (threading test clients) against a real
HTTP backend process (tests/support/backend.py): what is sent, what later steps see, what a
client is told, what the log and /metrics keep, and what is refused at startup."""

from __future__ import annotations

import logging

import pytest

from router.config.durations import parse_duration
from router.errors import StartupError
from tests.support.backend import BackendProcess, verify
from tests.support.router_process import run_cli
from tests.test_ops_endpoints import samples, value

SECRET = "webhook-secret-0123456789abcdefghijkl"
CLOSED_PORT_URL = "http://127.0.0.1:9/nothing"  # the discard port: nothing listens on loopback

SHOP = """
server: {async_mode: threading}
namespaces:
  /shop:
    auth:
      - http: {url: "BACKEND/socket/auth", timeout: 1s}
    events:
      order:
        - http:
            url: BACKEND/orders
            body: "{{ data }}"
            headers: {X-User: "{{ identity.sub }}"}
        - ack: {data: "{{ response.json }}"}
        - emit: {to: "{{ response.json.room }}", event: order_placed, data: "{{ response.json }}"}
      watch: [{room.join: {room: "{{ data.room }}"}}, {ack: {data: true}}]
      echo:
        - http: {url: "BACKEND/echo", headers: {X-User: "{{ identity.sub }}", X-Count: "{{ count }}"}}
        - ack: {data: "{{ response }}"}
      fetch:
        - http: {url: "BACKEND/echo/{{ data.id }}?q={{ data.q | urlencode }}", method: GET}
        - ack: {data: "{{ response.json }}"}
      signed:
        - http: {url: BACKEND/signed, secret: "SECRET"}
        - ack: {data: "{{ response.json }}"}
      unsigned: [{http: {url: BACKEND/signed}}, ack]
      reject: [{http: {url: BACKEND/reject}}, ack]
      reject_plain: [{http: {url: BACKEND/reject/plain}}, ack]
      fail: [{http: {url: BACKEND/fail}}, ack]
      timeout: [{http: {url: "BACKEND/slow?s=3", timeout: 200ms}}, ack]
      down: [{http: {url: "CLOSED"}}, ack]
      path: [{http: {url: "BACKEND/{{ data.path }}"}}, {ack: {data: "{{ response.status }}"}}]
"""


@pytest.fixture(scope="module")
def http_backend():
    with BackendProcess(SECRET) as process:
        yield process


@pytest.fixture
def shop(build_router, http_backend):
    def build(text: str = SHOP):
        return build_router(text.replace("BACKEND", http_backend.url).replace("SECRET", SECRET)
                            .replace("CLOSED", CLOSED_PORT_URL))
    return build


def client(router, connect, token="good"):
    return connect(router, "/shop", auth={"token": token})


def errors(test_client) -> list:
    return [m["args"][0] for m in test_client.get_received("/shop") if m["name"] == "error"]


# -- what is sent, what later steps see ---------------------------------------------------------

def test_the_answer_reaches_the_later_steps(shop, connect):
    router = shop()
    alice = client(router, connect)
    assert alice.emit("watch", {"room": "eu"}, namespace="/shop", callback=True) is True
    answer = alice.emit("order", {"item": "book", "room": "eu"}, namespace="/shop", callback=True)
    assert answer == {"id": 7, "room": "eu", "item": "book"}
    assert [m["args"] for m in alice.get_received("/shop") if m["name"] == "order_placed"] == [[answer]]


def test_the_request_is_json_with_the_configured_headers_and_the_default_envelope(shop, connect, http_backend):
    alice = client(shop(), connect)
    response = alice.emit("echo", "hello", 2, namespace="/shop", callback=True)
    assert response["status"] == 200 and response["headers"]["content-type"] == "application/json"
    assert response["text"].startswith('{"method": "POST"')
    got = response["json"]
    assert got["method"] == "POST" and got["path"] == "/echo"
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["headers"]["X-User"] == "alice" and got["headers"]["X-Count"] == "1"
    assert "X-Router-Signature" not in got["headers"]
    assert got["json"] == {"namespace": "/shop", "event": "echo", "args": ["hello", 2],
                           "sid": got["json"]["sid"], "identity": {"sub": "alice", "role": "admin"}}


def test_get_sends_no_body_and_templates_fill_the_path_after_the_host(shop, connect):
    alice = client(shop(), connect)
    got = alice.emit("fetch", {"id": 42, "q": "a b&c"}, namespace="/shop", callback=True)
    assert got["method"] == "GET" and got["json"] is None
    assert got["path"] == "/echo/42?q=a%20b%26c"


def test_a_dot_segment_from_a_message_cannot_climb_out_of_the_path(shop, connect, http_backend):
    alice = client(shop(), connect)
    before = http_backend.calls("/socket/auth")
    alice.emit("path", {"path": "x/../socket/auth"}, namespace="/shop")
    assert errors(alice) == [{"message": "http failed: the url built from this message has a '.' or "
                                         "'..' segment; send such values in the query string or in "
                                         "the body", "event": "path"}]
    assert http_backend.calls("/socket/auth") == before


def test_the_signature_verifies_in_the_backend(shop, connect):
    alice = client(shop(), connect)
    assert alice.emit("signed", namespace="/shop", callback=True) == {"verified": True}
    alice.emit("unsigned", namespace="/shop")
    assert errors(alice) == [{"message": "the backend refused the request (401)", "event": "unsigned",
                              "code": "backend_rejected", "status": 401}]


def test_the_documented_verifier_refuses_a_replay_and_a_changed_body():
    from router.builtins.backend_client import signature

    body, stamp = b'{"item":"book"}', "1700000000"
    signed = signature(SECRET, stamp, body)
    assert verify(SECRET.encode(), stamp, signed, body, tolerance=10**10)
    assert not verify(SECRET.encode(), stamp, signed, body)  # 2023 is long past: a replay
    assert not verify(SECRET.encode(), stamp, signed, b'{"item":"car"}', tolerance=10**10)


# -- what a client is told ----------------------------------------------------------------------

def test_a_4xx_stops_the_steps_with_the_backends_message(shop, connect):
    alice = client(shop(), connect)
    alice.emit("reject", namespace="/shop")
    alice.emit("reject_plain", namespace="/shop")
    assert errors(alice) == [
        {"message": "out of stock", "event": "reject", "code": "backend_rejected", "status": 409},
        {"message": "the backend refused the request (422)", "event": "reject_plain",
         "code": "backend_rejected", "status": 422}]


def test_no_answer_is_backend_unavailable_and_the_log_keeps_the_internals(shop, connect, http_backend, caplog):
    alice = client(shop(), connect)
    with caplog.at_level(logging.DEBUG, logger="socketio_router"):
        for event in ("fail", "timeout", "down"):
            alice.emit(event, namespace="/shop")
    assert errors(alice) == [
        {"message": "the backend is unavailable", "event": "fail", "code": "backend_unavailable",
         "status": 503},
        {"message": "the backend did not answer in time", "event": "timeout",
         "code": "backend_unavailable"},
        {"message": "the backend is unavailable", "event": "down", "code": "backend_unavailable"}]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings
    assert warnings[0].startswith(f"backend of namespaces['/shop'].events.fail[0]: POST {http_backend.url}"
                                  f"/fail: answered 503 after ")
    assert warnings[1].startswith(f"backend of namespaces['/shop'].events.timeout[0]: POST {http_backend.url}"
                                  f"/slow?s=3: no answer (timeout 0.2 s) after 2")
    assert warnings[2].startswith(f"backend of namespaces['/shop'].events.down[0]: POST {CLOSED_PORT_URL}: "
                                  f"cannot connect (")
    assert "Connection refused" in warnings[2]


def test_on_error_sees_the_failure_code_and_status(shop, connect):
    router = shop(SHOP.replace("    events:\n", """    on_error:
      - emit: {event: oops, data: {said: "{{ error }}", code: "{{ failure.code }}",
                                   status: "{{ failure.status }}", whole: "{{ failure }}"}}
    events:
""", 1))
    alice = client(router, connect)
    alice.emit("reject", namespace="/shop")
    [oops] = [m["args"][0] for m in alice.get_received("/shop") if m["name"] == "oops"]
    assert oops == {"said": "out of stock", "code": "backend_rejected", "status": 409,
                    "whole": {"message": "out of stock", "event": "reject", "code": "backend_rejected",
                              "status": 409}}


def test_a_failure_burst_is_logged_once_and_the_recovery_once(shop, connect, http_backend, caplog):
    alice = client(shop(), connect)
    with caplog.at_level(logging.INFO, logger="socketio_router"):
        for _ in range(4):
            alice.emit("path", {"path": "fail"}, namespace="/shop")
        assert alice.emit("path", {"path": "orders"}, namespace="/shop", callback=True) == 200
    lines = [r.getMessage() for r in caplog.records if "backend of" in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"backend of namespaces['/shop'].events.path[0]: POST {http_backend.url}/fail: "
                               f"answered 503 after ")
    assert lines[1] == "backend of namespaces['/shop'].events.path[0] answers again, after 4 failed call(s)"
    # the dispatcher does not repeat them per message either
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "path" in r.getMessage()
                and "backend of" not in r.getMessage()]
    assert len(errors(alice)) == 4


def test_metrics_count_calls_by_step_and_outcome_with_latency(shop, connect):
    router = shop()
    alice = client(router, connect)
    alice.emit("order", {"item": "pen"}, namespace="/shop", callback=True)
    for event in ("reject", "fail", "down", "down"):
        alice.emit(event, namespace="/shop")
    found = samples(router.app.test_client().get("/metrics").get_data(as_text=True))

    def calls(step, outcome):
        return value(found, "socketio_router_backend_calls_total", namespace="/shop", step=step,
                     outcome=outcome)

    assert calls("auth[0]", "ok") == 1 and calls("auth[0]", "rejected") == 0
    assert calls("events.order[0]", "ok") == 1
    assert calls("events.reject[0]", "rejected") == 1
    assert calls("events.fail[0]", "server_error") == 1
    assert calls("events.down[0]", "connection_error") == 2
    assert calls("events.timeout[0]", "timeout") == 0  # every step has its series from the start
    assert value(found, "socketio_router_backend_seconds_count", namespace="/shop",
                 step="events.down[0]") == 2
    assert value(found, "socketio_router_backend_seconds_bucket", namespace="/shop",
                 step="events.order[0]", le="+Inf") == 1


# -- the auth rule ------------------------------------------------------------------------------

def test_the_rule_admits_and_the_answer_becomes_the_identity(shop, connect):
    router = shop(SHOP.replace("      watch:", '      whoami: {ack: {data: "{{ identity }}"}}\n      watch:'))
    assert client(router, connect).emit("whoami", namespace="/shop", callback=True) == \
        {"sub": "alice", "role": "admin"}
    # no identity field: the whole object is the identity
    assert client(router, connect, "flat").emit("whoami", namespace="/shop", callback=True) == {"sub": "bob"}


def test_the_rule_posts_the_handshake(build_router, connect, http_backend):
    router = build_router(f"""
        server: {{async_mode: threading}}
        namespaces:
          /shop:
            auth:
              - http: {{url: "{http_backend.url}/echo", forward_headers: [Authorization, X-Tenant]}}
            events:
              whoami: {{ack: {{data: "{{{{ identity }}}}"}}}}
    """)
    alice = connect(router, "/shop", auth={"token": "t"}, query_string="tenant=blue",
                    headers={"Authorization": "Bearer abc", "X-Tenant": "blue", "Cookie": "c=1"})
    identity = alice.emit("whoami", namespace="/shop", callback=True)
    assert identity["path"] == "/echo"
    posted = identity["json"]
    assert posted == {"namespace": "/shop", "auth": {"token": "t"},
                      "headers": {"Authorization": "Bearer abc", "X-Tenant": "blue"},
                      "query": {"tenant": "blue"}, "remote_addr": posted["remote_addr"]}


@pytest.mark.parametrize("token, reason", [
    ("bad", "token revoked"),            # 401 with a reason
    ("crash", "auth backend unavailable"),  # 500
    ("list", "auth backend unavailable"),   # 200 but not a JSON object
    ("slow", "auth backend unavailable"),   # no answer within the rule's timeout
])
def test_the_rule_refuses_with_the_backends_reason_and_fails_closed(shop, refusal, token, reason):
    assert refusal(shop(), "/shop", auth={"token": token}) == {
        "message": "unauthorized", "rule": "http", "reason": reason,
        "data": {"rule": "http", "reason": reason}}


def test_the_rule_fails_closed_when_the_backend_is_down(shop, refusal):
    router = shop(SHOP.replace('url: "BACKEND/socket/auth"', f'url: "{CLOSED_PORT_URL}"'))
    assert refusal(router, "/shop", auth={"token": "good"})["reason"] == "auth backend unavailable"


def test_the_rule_remembers_answers_per_auth_payload(shop, connect, refusal, http_backend):
    router = shop(SHOP.replace("timeout: 1s}", "timeout: 1s, cache: 30s}"))
    answers = router.compiled.namespaces["/shop"].auth[0].options._answers
    now = [1000.0]
    answers.clock = lambda: now[0]
    before = http_backend.calls("/socket/auth")
    for _ in range(3):
        assert client(router, connect).is_connected("/shop")
        assert refusal(router, "/shop", auth={"token": "bad"})["reason"] == "token revoked"
    assert http_backend.calls("/socket/auth") == before + 2  # one admission, one refusal
    assert client(router, connect, "flat").is_connected("/shop")  # another payload: asked
    assert http_backend.calls("/socket/auth") == before + 3
    now[0] += 30  # the answers are 30 s old: asked again
    assert client(router, connect).is_connected("/shop")
    assert http_backend.calls("/socket/auth") == before + 4


# -- startup ------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    ('{url: "ftp://127.0.0.1/x"}', "'ftp://127.0.0.1/x': the url must start with http:// or https://"),
    ('{url: "http://{{ data.host }}/x"}',
     "'http://{{ data.host }}/x': a template may only come after the host (http://host:port/path/"
     "{{ data.id }}), so no message can choose where the router connects"),
    ('{url: "http://127.0.0.1:8080{{ data.path }}"}', "a template may only come after the host"),
    ('{url: "http://user:pw@127.0.0.1/x"}', "put credentials in headers (or use secret:), not in the url"),
    ('{url: "http://127.0.0.1/x", timeout: 2 weeks}',
     "'2 weeks' is not a duration; write a duration like 500ms, 2s or 1m, or a number of seconds"),
    ('{url: "http://127.0.0.1/x", secret: short}', "the secret is 5 bytes; signing needs at least 32"),
    ('{url: "http://127.0.0.1/x", headers: {Content-Type: text/plain}}',
     "the router sets Content-Type itself; remove it from headers"),
    ('{url: "http://127.0.0.1/x", method: TRACE}', "Input should be 'GET', 'POST', 'PUT', 'PATCH' or 'DELETE'"),
    ('{url: "http://127.0.0.1/x", max_in_flight: 0}', "greater than 0"),
])
def test_bad_step_options_fail_at_startup(build_router, options, message):
    with pytest.raises(StartupError) as info:
        build_router(f"namespaces:\n  /a:\n    events:\n      e:\n        - http: {options}\n")
    [problem] = info.value.problems
    assert problem.line == 5 and problem.path.startswith("namespaces['/a'].events.e[0].http")
    assert message in problem.message


def test_the_rule_url_is_not_a_template(build_router):
    with pytest.raises(StartupError) as info:
        build_router('namespaces:\n  /a:\n    auth:\n      - http: {url: "http://x/{{ auth.t }}"}\n')
    assert "the auth rule's url is not a template (there is no message yet)" in str(info.value)


def test_response_is_known_only_after_an_http_step(build_router):
    with pytest.raises(StartupError) as info:
        build_router("""
            namespaces:
              /a:
                on_connect:
                  - http: {url: "http://127.0.0.1:9/x"}
                  - emit: {event: hello, data: "{{ response.json }}"}
                events:
                  early:
                    - ack: {data: "{{ response.json }}"}
                    - http: {url: "http://127.0.0.1:9/x"}
                  other: {ack: {data: "{{ response }}"}}
        """)
    rendered = [p.render() for p in info.value.problems]
    assert len(rendered) == 2, rendered
    assert rendered[0].startswith("test.yaml:8: namespaces['/a'].events.early[0].ack.data: template "
                                  "'{{ response.json }}' uses unknown variable 'response'")
    assert rendered[1].startswith("test.yaml:10: namespaces['/a'].events.other[0].ack.data: template "
                                  "'{{ response }}' uses unknown variable 'response'")


@pytest.mark.parametrize("text, seconds", [("500ms", 0.5), ("2s", 2.0), ("1.5", 1.5), (3, 3.0),
                                           ("1m", 60.0), (" 250 MS ", 0.25)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text, message", [("0s", "is no time at all"), (True, "a duration is a number"),
                                           ("fast", "'fast' is not a duration")])
def test_bad_durations(text, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


# -- check --------------------------------------------------------------------------------------

def test_check_prints_the_backend_urls_and_strict_warns_about_plain_http_and_unsigned_calls(write_config):
    path = write_config("""
        namespaces:
          /shop:
            rate: 10/s
            auth:
              - http: {url: "https://auth.example.com/socket/auth?key=k1", cache: 30s}
            events:
              order:
                - http: {url: "http://orders.internal:8080/orders/{{ data.id }}", secret: "${WEBHOOK_SECRET}"}
                - ack: {data: "{{ response.json }}"}
              local: {http: {url: "http://127.0.0.1:8080/local", method: PUT}}
    """)
    env = {"WEBHOOK_SECRET": SECRET}
    result = run_cli("check", "--config", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "/shop  auth: http (POST https://auth.example.com/socket/auth?..., answers kept 30 s)",
        "  limits: rate 10/s (burst 10)",
        "  order          http (POST http://orders.internal:8080/orders/{{ data.id }}) -> ack",
        "  local          http (PUT http://127.0.0.1:8080/local)",
    ]
    strict = run_cli("check", "--strict", "--config", str(path), env=env)
    assert strict.returncode == 1
    warnings = [line for line in strict.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {path}:5: namespaces['/shop'].auth[0].http: the calls are not signed: the backend "
        f"cannot tell them from anyone else's requests",
        f"warning: {path}:8: namespaces['/shop'].events.order[0].http.url: orders.internal is called "
        f"over plain http://: anyone on the way can read and change the calls and the answers",
        f"warning: {path}:10: namespaces['/shop'].events.local[0].http: the calls are not signed: the "
        f"backend cannot tell them from anyone else's requests",
    ]
    assert 'Hint: add secret: "${WEBHOOK_SECRET}" and check X-Router-Signature' in strict.stderr


def test_a_scenario_call_nobody_answers_fails_naming_the_call(write_config):
    config = write_config("""
        namespaces:
          /shop:
            events:
              order: [{http: {url: "http://127.0.0.1:8080/orders"}}, ack]
    """, name="shop.yaml")
    scenarios = write_config("""
        config: shop.yaml
        scenarios:
          - name: forgot /orders
            backend: {/stock: {json: {}}}
            steps:
              - alice: {connect: /shop}
              - alice: {emit: order, ack: true}
    """, name="shop.test.yaml")
    result = run_cli("test", str(scenarios))
    assert result.returncode == 1 and config.exists()
    assert ("        step 2 (line 7): alice emit order: the config called POST "
            "http://127.0.0.1:8080/orders, which the scenario's backend: does not answer\n"
            "          paths answered: /stock\n") in result.stdout
