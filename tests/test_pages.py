"""The demo page, the console and their load-time checks, in-process (Flask's test client).

The same pages in a real browser are in test_browser.py.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from flask import Flask

from router.http.api_key import check_api_key
from router.compile.load import load_router
from router.errors import StartupError
from router.compile.pages import REDACTED, is_loopback
from tests.support.router_process import ROOT, run_cli

DEMO_YAML = (ROOT / "configs" / "demo.yaml").read_text()
CHAT_FILE = str(ROOT / "configs" / "chat.yaml")  # its plugins_dir is relative to it
CHAT_YAML = (ROOT / "configs" / "chat.yaml").read_text()
BUNDLE = ROOT / "router" / "http" / "static" / "socket.io.min.js"


def with_server_keys(yaml_text: str, **keys) -> str:
    """The config with ``keys`` added at the top of its ``server:`` block."""
    lines = "".join(f"  {key}: {value}\n" for key, value in keys.items())
    assert "\nserver:\n" in yaml_text
    return yaml_text.replace("\nserver:\n", "\nserver:\n" + lines, 1)


def problems_of(write_config, text: str, environ=None) -> list[str]:
    with pytest.raises(StartupError) as info:
        load_router(str(write_config(text)), environ=environ or {})
    return [problem.render() for problem in info.value.problems]


def console_json(html: bytes) -> dict:
    match = re.search(rb'<script type="application/json" id="console-config">(.*?)</script>', html, re.S)
    assert match, "the console page embeds its routing table"
    return json.loads(match.group(1))


# -- the demo page ------------------------------------------------------------------------------

def test_demo_page_is_the_classic_example(build_router):
    router = build_router(DEMO_YAML)
    response = router.app.test_client().get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<title>Flask-SocketIO Test</title>" in html
    assert 'Async mode is: <b id="async-mode">eventlet</b>' in html
    assert 'data-namespace="/test"' in html and 'data-path="/socket.io/"' in html
    for button in ("Echo", "Broadcast", "Join Room", "Leave Room", "Send to Room", "Close Room",
                   "Disconnect"):
        assert f'<input type="submit" value="{button}">' in html
    assert '<script src="/_router/static/socket.io.min.js"></script>' in html
    # Offline: nothing is loaded from another host.
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_the_bundle_is_the_official_socket_io_client(build_router):
    router = build_router(DEMO_YAML)
    response = router.app.test_client().get("/_router/static/socket.io.min.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    body = response.get_data()
    assert body == BUNDLE.read_bytes()
    lock = json.loads((ROOT / "tests" / "js" / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/socket.io-client"]["version"]
    assert body.startswith(f"/*!\n * Socket.IO v{version}\n".encode()), \
        "router/http/static/socket.io.min.js and tests/js use the same socket.io-client version"
    readme = (ROOT / "router" / "http" / "static" / "README.md").read_text()
    assert hashlib.sha256(body).hexdigest() in readme, "router/http/static/README.md records the bundle's checksum"
    assert f"**{version}**" in readme


def test_pages_are_off_unless_the_config_asks(build_router):
    client = build_router("""
        namespaces:
          /chat: {events: {say: echo}}
    """).app.test_client()
    for url in ("/", "/console", "/_router/static/socket.io.min.js"):
        assert client.get(url).status_code == 404, url


def test_count_is_per_connection_and_starts_at_zero(build_router, connect):
    router = build_router(DEMO_YAML)
    first, second = connect(router, "/test"), connect(router, "/test")
    assert first.get_received("/test") == [
        {"name": "my_response", "args": [{"data": "Connected", "count": 0}], "namespace": "/test"}]
    second.get_received("/test")
    for text in ("a", "b", "c"):
        first.emit("my_event", {"data": text}, namespace="/test")
    second.emit("my_event", {"data": "x"}, namespace="/test")
    assert [m["args"][0] for m in first.get_received("/test")] == [
        {"data": "a", "count": 1}, {"data": "b", "count": 2}, {"data": "c", "count": 3}]
    assert [m["args"][0] for m in second.get_received("/test")] == [{"data": "x", "count": 1}]
    # Every routed event counts, pings included: the count is the server's receive count.
    first.emit("my_ping", {"sent": 1.5}, namespace="/test")
    first.emit("my_event", {"data": "d"}, namespace="/test")
    assert first.get_received("/test") == [
        {"name": "my_pong", "args": [{"sent": 1.5}], "namespace": "/test"},
        {"name": "my_response", "args": [{"data": "d", "count": 5}], "namespace": "/test"}]
    first.emit("disconnect_request", namespace="/test")
    assert not first.is_connected("/test")


# -- load-time checks ---------------------------------------------------------------------------

def test_demo_page_must_name_a_declared_namespace(write_config):
    line = DEMO_YAML.splitlines().index("  demo_page: /test                # GET / serves the example's page, talking to /test") + 1
    [problem] = problems_of(write_config, DEMO_YAML.replace("demo_page: /test", "demo_page: /tset"))
    assert problem.endswith(f":{line}: server.demo_page: demo_page '/tset' is not a namespace of this file\n"
                            "  Hint: did you mean '/test'?")
    [problem] = problems_of(write_config, DEMO_YAML.replace("demo_page: /test", "demo_page: true"))
    assert problem.endswith(f":{line}: server.demo_page: demo_page names the namespace the demo page talks to\n"
                            "  Hint: write demo_page: /test (a namespace declared under namespaces:), "
                            "or false to turn the page off")


def test_demo_namespace_must_route_every_event_of_the_page(write_config):
    [problem] = problems_of(write_config, """
        server:
          demo_page: /demo
        namespaces:
          /demo:
            events:
              my_event: echo
              my_ping: echo
    """)
    assert problem.endswith(
        ":2: server.demo_page: the demo page emits my_broadcast_event, join, leave, my_room_event, "
        "close_room, disconnect_request on /demo, and this namespace does not route them\n"
        "  Hint: route every event of the page, as configs/demo.yaml does")


def test_console_without_a_key_only_on_loopback(write_config):
    text = """
        server:
          host: 0.0.0.0
          console: true
        namespaces:
          /chat: {events: {say: echo}}
    """
    [problem] = problems_of(write_config, text)
    assert problem.endswith(
        ":3: server.console: the console shows the routing table and sends any event, and host "
        "'0.0.0.0' lets other machines reach it without a key\n"
        '  Hint: set server.api_key: "${ROUTER_API_KEY}" to require a key, or listen on 127.0.0.1 '
        "(server.host or --host)")
    keyed = text.replace("console: true", 'console: true\n          api_key: "${ROUTER_API_KEY}"')
    load_router(str(write_config(keyed)), environ={"ROUTER_API_KEY": "k" * 32})
    [problem] = problems_of(write_config, keyed, environ={"ROUTER_API_KEY": ""})
    assert problem.endswith(":4: server.api_key: api_key is empty, so no key could open the console\n"
                            "  Hint: check the ${ENV} reference, e.g. export "
                            "ROUTER_API_KEY=$(openssl rand -hex 16)")


def test_cli_refuses_an_open_console_on_a_public_host(write_config):
    path = write_config("""
        server:
          console: true
        namespaces:
          /chat: {events: {say: echo}}
    """)
    assert run_cli("check", "--config", str(path)).returncode == 0
    # --host overrides server.host before the check: serving must stop before it listens.
    result = run_cli("--config", str(path), "--host", "0.0.0.0", "--port", "0", timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "host '0.0.0.0' lets other machines reach it without a key" in result.stderr


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.internal", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


# -- the console --------------------------------------------------------------------------------

def test_console_shows_the_routing_table_without_secrets(build_router):
    text = with_server_keys(CHAT_YAML, console="true").replace(
        "shout: broadcast", 'shout: {broadcast: {data: {motd: "${CHAT_MOTD}", by: console}}}')
    router = build_router(text, environ={"CHAT_TOKEN": "s3cret-token", "CHAT_MOTD": "hush-hush"},
                          filename=CHAT_FILE)
    response = router.app.test_client().get("/console")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data()
    assert b"s3cret-token" not in html and b"hush-hush" not in html
    description = console_json(html)
    assert description["path"] == "socket.io"
    [chat] = description["namespaces"]
    assert chat["name"] == "/chat" and chat["auth"] == ["token"]
    assert chat["auth_sample"] == {"token": ""}
    assert [hook["name"] for hook in chat["lifecycle"]] == ["on_connect", "on_error"]
    events = {event["name"]: event for event in chat["events"]}
    assert list(events) == ["join", "leave", "say", "who", "backlog", "shout", "close", "bye", "ping",
                            "message"]
    assert [step["plugin"] for step in events["join"]["steps"]] == ["room.join", "room.relay", "ack"]
    assert events["join"]["steps"][0]["options"] == {"room": "{{ data.room }}"}
    assert events["join"]["sample"] == {"room": "", "user": ""}
    assert events["say"]["sample"] == {"room": "", "user": "", "text": ""}
    assert events["shout"]["steps"] == [
        {"plugin": "broadcast", "options": {"data": {"motd": REDACTED, "by": "console"}}}]
    assert events["bye"] == {"name": "bye", "steps": [{"plugin": "disconnect", "options": {}}],
                             "sample": None}


def test_console_class_namespaces_and_any_rules(build_router):
    router = build_router("""
        server:
          console: true
        plugins_dir: tests/plugins
        namespaces:
          /classy:
            class: chat_namespace:ChatNamespace
          /door:
            auth:
              - any:
                  - token: {values: [a], field: key}
                  - token: {values: [b], header: X-Token}
            events:
              hi:
                - emit: {data: "{{ data['who'] }} and {{ data.who | default('x') }}"}
    """)
    description = console_json(router.app.test_client().get("/console").get_data())
    classy, door = description["namespaces"]
    assert classy["class"] == "chat_namespace:ChatNamespace" and classy["events"] == []
    assert door["auth"] == ["any(token, token)"]
    assert door["auth_sample"] == {"key": ""}  # the header rule reads no auth payload field
    assert door["events"][0]["sample"] == {"who": ""}


def test_console_page_cannot_be_broken_out_of_by_the_config(build_router):
    router = build_router("""
        server:
          console: true
        namespaces:
          /x:
            events:
              "</script><script>alert(1)</script>":
                - emit: {data: "<img src=x onerror=alert(2)>"}
    """)
    html = router.app.test_client().get("/console").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    [namespace] = console_json(html.encode())["namespaces"]
    assert namespace["events"][0]["name"] == "</script><script>alert(1)</script>"


API_KEY = "console-key-0123456789abcdef"


@pytest.fixture
def keyed_console(build_router):
    def build(key=API_KEY, secret="fixed-secret"):
        text = with_server_keys(CHAT_YAML, console="true", api_key='"${ROUTER_API_KEY}"',
                                secret_key=secret)
        return build_router(text, environ={"ROUTER_API_KEY": key}, filename=CHAT_FILE)
    return build


def test_console_asks_for_the_key(keyed_console):
    client = keyed_console().app.test_client()
    response = client.get("/console")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert '<form method="POST" action="/console/login">' in html
    assert 'console-config' not in html
    for headers in ({"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": API_KEY}):
        assert client.get("/console", headers=headers).status_code == 401
    for headers in ({"Authorization": f"Bearer {API_KEY}"}, {"Authorization": f"bearer {API_KEY}"},
                    {"X-API-Key": API_KEY}):
        response = client.get("/console", headers=headers)
        assert response.status_code == 200, headers
        assert b'id="console-config"' in response.get_data()
    # A header grants that request only: no cookie was set.
    assert client.get("/console").status_code == 401


def test_console_key_link_logs_the_browser_in(keyed_console):
    client = keyed_console().app.test_client()
    wrong = client.get("/console?key=nope")
    assert wrong.status_code == 401
    assert "That key is not the server&#39;s api_key." in wrong.get_data(as_text=True)
    response = client.get(f"/console?key={API_KEY}")
    assert response.status_code == 303 and response.headers["Location"] == "/console"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and API_KEY not in cookie
    assert client.get("/console").status_code == 200
    assert client.post("/console/logout").status_code == 303
    assert client.get("/console").status_code == 401


def test_console_login_form(keyed_console):
    client = keyed_console().app.test_client()
    assert client.post("/console/login", data={"key": "nope"}).status_code == 401
    assert client.post("/console/login", data={}).status_code == 401
    response = client.post("/console/login", data={"key": API_KEY})
    assert response.status_code == 303
    assert client.get("/console").status_code == 200


def test_changing_the_key_logs_browsers_out(keyed_console):
    old, new = keyed_console(), keyed_console(key="another-key-fedcba9876543210")
    client = old.app.test_client()
    client.get(f"/console?key={API_KEY}")
    assert client.get("/console").status_code == 200
    # Same secret_key, same cookie jar, new api_key: the old login no longer opens the console.
    fresh = new.app.test_client()
    fresh._cookies = client._cookies
    assert fresh.get("/console").status_code == 401


# -- check_api_key ------------------------------------------------------------------------------

@pytest.mark.parametrize("headers, expected, result", [
    ({"Authorization": "Bearer k1"}, "k1", True),
    ({"Authorization": "BEARER k1"}, "k1", True),
    ({"X-API-Key": "k1"}, "k1", True),
    ({"Authorization": "Bearer k2"}, "k1", False),
    ({"Authorization": "Basic k1"}, "k1", False),
    ({"X-API-Key": "k1x"}, "k1", False),
    ({}, "k1", False),
    ({"X-API-Key": ""}, "", False),
    ({"Authorization": "Bearer "}, "", False),
    ({"X-API-Key": "k1"}, None, False),
])
def test_check_api_key(headers, expected, result):
    app = Flask(__name__)
    with app.test_request_context("/", headers=headers):
        from flask import request
        assert check_api_key(request, expected) is result


# -- same origin under an explicit CORS list ----------------------------------------------------

def handshake(client, origin: str, host: str = "127.0.0.1:5000"):
    return client.get("/socket.io/?EIO=4&transport=polling", headers={"Origin": origin, "Host": host})


def test_own_pages_may_connect_despite_a_cors_list(build_router):
    """configs/chat.yaml lists http://127.0.0.1:5000; its own console on another port still connects."""
    client = build_router(with_server_keys(CHAT_YAML, console="true"), filename=CHAT_FILE).app.test_client()
    assert handshake(client, "http://127.0.0.1:5000").status_code == 200
    assert handshake(client, "http://127.0.0.1:5123", host="127.0.0.1:5123").status_code == 200
    refused = handshake(client, "http://evil.example", host="127.0.0.1:5123")
    assert refused.status_code == 400 and b"Not an accepted origin" in refused.get_data()
    # Without a page the list is exactly what the config says.
    plain = build_router(CHAT_YAML, filename=CHAT_FILE).app.test_client()
    assert handshake(plain, "http://127.0.0.1:5123", host="127.0.0.1:5123").status_code == 400
