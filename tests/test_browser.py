"""The demo page and the console in a real browser: headless Debian Chromium, two windows each,
against a real `python router.py` process. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.browser import Chromium
from tests.support.router_process import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture
def chromium(tmp_path):
    browser = Chromium(tmp_path / "chromium-profile")
    yield browser
    browser.quit()


def only_from(window, url: str) -> None:
    """The page works offline: everything it loaded came from the router."""
    foreign = [resource for resource in window.resources() if not resource.startswith(url + "/")]
    assert foreign == []


# -- the demo page ------------------------------------------------------------------------------

def received(window) -> list[str]:
    return window.texts("#log .entry")


def wait_received(window, text: str) -> int:
    """Wait for "Received #N: text" in the page's log; N, the sender's count from the router."""
    pattern = re.compile(r"^Received #(\d+): " + re.escape(text) + "$")

    def find(w):
        for line in received(w):
            match = pattern.match(line)
            if match:
                return match
        return None

    return int(window.wait(find, f"no 'Received #N: {text}' in the log").group(1))


def submit(window, form: str, **fields) -> None:
    for field, value in fields.items():
        window.fill(f"#{field}", value)
    window.click(f"form#{form} input[type=submit]")


def test_demo_page_in_two_windows(router_process, chromium):
    server = router_process(ROOT / "configs" / "demo.yaml")
    a = chromium.open(server.url + "/")
    b = chromium.open(server.url + "/")
    for window in (a, b):
        assert wait_received(window, "Connected") == 0
        assert wait_received(window, "I'm connected!") == 1
        window.wait_text("#status", "connected")
        assert window.text("#async-mode") == "eventlet"
        window.wait(lambda w: w.text("#transport") == "websocket", "the transport is upgraded to websocket")

    submit(a, "emit", emit_data="echo me")
    wait_received(a, "echo me")

    for window in (a, b):
        submit(window, "join", join_room="blue")
        wait_received(window, "In room: blue")
    # rooms.presence: a hears b come in; b is told nothing of its own join
    a.wait(lambda w: any(re.fullmatch(r"Presence in room blue: \S+ joined", line) for line in received(w)),
           "a presence line for b's join in a's log")
    assert not any(line.startswith("Presence") for line in received(b))
    submit(a, "send_room", room_name="blue", room_data="hello blue")
    # Both windows show the sender's number: the router counts per connection.
    assert wait_received(a, "hello blue") == wait_received(b, "hello blue")

    submit(b, "broadcast", broadcast_data="hello everyone")
    for window in (a, b):
        wait_received(window, "hello everyone")

    submit(b, "close", close_room="blue")
    for window in (a, b):
        wait_received(window, "Room blue is closing.")
    # Nobody is in the room now. b's next broadcast is handled after its room message, so once
    # both windows show the broadcast, a room message that had reached them would show too.
    submit(b, "send_room", room_name="blue", room_data="after the close")
    submit(b, "broadcast", broadcast_data="barrier")
    for window in (a, b):
        wait_received(window, "barrier")
        assert not any("after the close" in line for line in received(window))

    latency = a.wait(lambda w: re.fullmatch(r"\d+(\.\d)?", w.text("#ping-pong") or ""),
                     "a numeric ping/pong latency").group(0)
    assert 0 <= float(latency) < 1000

    submit(a, "leave", leave_room="blue")
    wait_received(a, "Left room: blue")
    a.screenshot(ARTIFACTS / "demo-page.png")

    a.click("form#disconnect input[type=submit]")
    wait_received(a, "Disconnected!")
    a.wait_text("#status", "disconnected (io server disconnect)")
    assert a.text("#transport") == "none"
    submit(b, "emit", emit_data="b is still here")
    wait_received(b, "b is still here")
    # rooms.history: joining blue again replays what was said there, the close's notice included
    submit(b, "join", join_room="blue")
    b.wait(lambda w: sum("hello blue" in line for line in received(w)) == 2, "hello blue replayed to b")
    b.wait(lambda w: sum("Room blue is closing." in line for line in received(w)) == 2,
           "the closing notice replayed to b")
    b.screenshot(ARTIFACTS / "demo-page-second-window.png")
    only_from(a, server.url)
    assert "Traceback" not in server.logs()


# -- the console --------------------------------------------------------------------------------

def log_rows(window) -> list[dict]:
    return window.js("""
        return Array.from(document.querySelectorAll('#log tr'), row => ({
          kind: row.dataset.kind, event: row.dataset.event, ms: row.dataset.ms || null,
          time: row.cells[0].textContent, values: row.cells[3].textContent}));""")


def wait_row(window, kind: str, event: str, contains: str = "") -> dict:
    def find(w):
        for row in log_rows(w):
            if row["kind"] == kind and row["event"] == event and contains in row["values"]:
                return row
        return None

    return window.wait(find, f"no {kind} row for {event!r} containing {contains!r} in the log")


def connect(window, auth: str) -> None:
    window.fill("#auth", auth)
    window.click("#connect")


def send(window, event: str, payload: str, ack: bool = False) -> None:
    window.fill("#event", event)
    window.fill("#payload", payload)
    if window.js("return document.getElementById('ack').checked;") != ack:
        window.click("#ack")
    window.click("#send")


def test_console_against_chat_yaml_in_two_windows(router_process, chromium):
    server = router_process(ROOT / "configs" / "chat.yaml", "--console")
    a = chromium.open(server.url + "/console")
    b = chromium.open(server.url + "/console")

    # The routing table of configs/chat.yaml, and an auth payload skeleton from its token rule.
    a.wait_text("#routes .route.event .name", "join")
    assert a.texts("#routes .route.event .name") == ["join", "leave", "say", "who", "backlog", "shout",
                                                      "close", "bye", "ping", "message"]
    assert a.texts("#routes .route.event[data-event=join] .plugin") == ["room.join", "room.relay", "ack"]
    assert a.text("#routes .auth") == "auth: token"
    assert a.js("return document.getElementById('auth').value;") == '{"token":""}'

    connect(a, '{"token": "wrong"}')
    a.wait_text("#status", "refused: unauthorized")
    assert json.loads(a.text("#status").split("unauthorized ", 1)[1]) == {
        "rule": "token", "reason": "invalid token"}
    for window in (a, b):
        connect(window, '{"token": "dev-token"}')
        window.wait(lambda w: w.js("return document.getElementById('status').dataset.state;") == "connected",
                    "the console connects with the right token")
        wait_row(window, "in", "welcome", '"sid"')

    # Clicking an event fills the form with the fields its templates read.
    a.click("#routes .route.event[data-event=join] .name")
    assert a.js("return document.getElementById('event').value;") == "join"
    assert a.js("return document.getElementById('payload').value;") == '{"room":"","user":""}'
    for window, user in ((a, "alice"), (b, "bob")):
        send(window, "join", json.dumps({"room": "lobby", "user": user}), ack=True)
        row = wait_row(window, "ack", "join", "[true]")
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", row["time"])
    wait_row(a, "in", "status", "bob has entered the room.")

    send(a, "say", json.dumps({"room": "lobby", "user": "alice", "text": "hi lobby"}))
    for window in (a, b):
        wait_row(window, "in", "message", '{"user":"alice","text":"hi lobby"}')
    wait_row(a, "out", "say", '"text":"hi lobby"')

    send(b, "shout", '"hello everyone"')
    for window in (a, b):
        wait_row(window, "in", "shout", '["hello everyone"]')

    send(a, "close", '{"room": "lobby"}')
    # Ordering barrier as in the demo test: b's shout is handled after its say.
    send(b, "say", json.dumps({"room": "lobby", "user": "bob", "text": "after the close"}))
    send(b, "shout", '"barrier"')
    for window in (a, b):
        wait_row(window, "in", "shout", '["barrier"]')
        assert not any("after the close" in row["values"] for row in log_rows(window) if row["kind"] == "in")

    send(a, "ping", "", ack=True)
    latency = float(wait_row(a, "ack", "ping", '["pong"]')["ms"])
    assert 0 <= latency < 1000

    send(a, "nothing-routes-this", "[1, 2]")
    wait_row(a, "system", "nothing-routes-this", 'nothing routes "nothing-routes-this" on /chat')
    a.screenshot(ARTIFACTS / "console.png")

    send(b, "bye", "")
    b.wait_text("#status", "disconnected from /chat (io server disconnect)")
    a.click("#disconnect")
    a.wait_text("#status", "disconnected from /chat (io client disconnect)")
    b.screenshot(ARTIFACTS / "console-second-window.png")
    only_from(a, server.url)
    assert "Traceback" not in server.logs()


def test_console_login_with_the_api_key(router_process, chromium, write_config):
    key = "browser-test-key-5d1c0e"
    path = write_config("""
        server:
          console: true
          api_key: "${ROUTER_API_KEY}"
        namespaces:
          /echo:
            events:
              say: echo
    """)
    server = router_process(path, env={"ROUTER_API_KEY": key})
    window = chromium.open(server.url + "/console")
    window.wait_text("h1", "socketio-router console")
    assert window.text("#routes") is None  # nothing of the config before the key
    window.fill("#key", "not the key")
    window.click("main.login button[type=submit]")
    window.wait_text("#login-error", "That key is not the server's api_key.")
    window.screenshot(ARTIFACTS / "console-login.png")
    window.fill("#key", key)
    window.click("main.login button[type=submit]")
    window.wait_text("#routes .route.event .name", "say")
    connect(window, "")
    window.wait_text("#status", "connected to /echo")
    send(window, "say", '{"n": 1}')
    wait_row(window, "in", "say", '[{"n":1}]')
    # The login is a cookie: a reload stays in; logging out asks for the key again.
    window.driver.refresh()
    window.wait_text("#routes .route.event .name", "say")
    window.click("form.logout button")
    window.wait(lambda w: w.js("return !!document.getElementById('key');"),
                "the login form after logging out")
    assert window.text("#routes") is None
