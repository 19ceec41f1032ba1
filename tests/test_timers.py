"""Timers: validated with the config, sent on schedule, stopped cleanly (in-process, threading mode).

Across two processes (one runs the timers, both deliver) see test_scale_out.py.
"""

from __future__ import annotations

import logging
import signal
import time
from datetime import datetime

import pytest

from router.compile.load import load_router
from router.errors import StartupError

pytestmark = pytest.mark.timeout(60)

BASE = """
server:
  async_mode: threading
namespaces:
  /chat:
    events:
      join:
        - room.join: {room: "{{ data }}"}
        - ack: {data: true}
  /other:
"""


def wait_received(client, count, namespace="/chat", timeout=10):
    """Poll the test client (it has no blocking wait) until ``count`` events have arrived."""
    events = []
    deadline = time.monotonic() + timeout
    while len(events) < count:
        events += [(item["name"], item["args"]) for item in client.get_received(namespace)]
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(events)} of {count} events within {timeout}s: {events}")
        time.sleep(0.01)
    return events


@pytest.fixture
def running(build_router):
    """``running(timers_yaml)`` -> a RouterApp whose timers run; they are stopped after the test."""
    started = []

    def start(timers: str, environ=None):
        router = build_router(BASE + timers, environ=environ)
        started.append(router)
        return router

    yield start
    for router in started:
        assert router.timers.stop() is True


def test_a_timer_sends_count_now_and_its_name_to_the_namespace(running, connect):
    router = running("""
timers:
  clock:
    every: 0.05
    namespace: /chat
    event: tick
    data: {n: "{{ count }}", at: "{{ now }}", name: "{{ timer }}", text: "tick {{ count }}"}
""")
    alice, other = connect(router, "/chat"), connect(router, "/other")
    router.timers.start()
    router.timers.start()  # a second start does not double the timers
    events = wait_received(alice, 3)
    assert [name for name, _ in events[:3]] == ["tick"] * 3
    payloads = [args[0] for _, args in events[:3]]
    assert [p["n"] for p in payloads] == [1, 2, 3]
    assert [p["text"] for p in payloads] == ["tick 1", "tick 2", "tick 3"]
    assert {p["name"] for p in payloads} == {"clock"}
    for payload in payloads:
        assert datetime.fromisoformat(payload["at"]).utcoffset().total_seconds() == 0
    assert other.get_received("/other") == []

    assert router.timers.stop() is True
    assert router.timers.running is False
    sent = router.timers.sent["clock"]
    rest = [(item["name"], item["args"]) for item in alice.get_received("/chat")]
    assert len(events) + len(rest) == sent  # every send arrived, and nothing after stop()


def test_a_room_timer_reaches_the_room_only_and_args_are_several_values(running, connect):
    router = running("""
timers:
  lobby:
    every: 0.05
    namespace: /chat
    room: lobby
    event: news
    args: ["{{ count }}", fixed]
""")
    inside, outside = connect(router, "/chat"), connect(router, "/chat")
    assert inside.emit("join", "lobby", callback=True, namespace="/chat") is True
    router.timers.start()
    events = wait_received(inside, 2)
    assert events[:2] == [("news", [1, "fixed"]), ("news", [2, "fixed"])]
    router.timers.stop()
    assert outside.get_received("/chat") == []


def test_a_failing_send_is_logged_and_the_timer_goes_on(running, connect, caplog):
    router = running("""
timers:
  flaky:
    every: 0.05
    namespace: /chat
    event: value
    data: "{{ 10 // (count % 2 - 1) }}"   # odd counts divide by zero
""")
    alice = connect(router, "/chat")
    with caplog.at_level(logging.ERROR, logger="socketio_router.timers"):
        router.timers.start()
        events = wait_received(alice, 2)
        router.timers.stop()
    assert events[:2] == [("value", [-10]), ("value", [-10])]  # counts 2 and 4
    assert "timer 'flaky': send 1 failed: StepError: template '{{ 10 // (count % 2 - 1) }}': " \
           "integer division or modulo by zero" in caplog.text


def test_stop_without_start_and_no_timers(build_router):
    router = build_router(BASE)
    router.timers.start()
    assert router.timers.running is False
    assert router.timers.stop() is True


def test_timers_enabled_comes_from_the_environment(build_router):
    text = BASE.replace("async_mode: threading", "async_mode: threading\n  timers_enabled: ${ROUTER_TIMERS:-true}")
    assert build_router(text).compiled.config.server.timers_enabled is True
    assert build_router(text, environ={"ROUTER_TIMERS": "false"}).compiled.config.server.timers_enabled is False


def problems(write_config, timers):
    path = write_config(BASE + timers)
    with pytest.raises(StartupError) as info:
        load_router(str(path), environ={})
    return path, [p.render() for p in info.value.problems]


def test_a_timer_for_an_undeclared_namespace(write_config):
    path, found = problems(write_config, """
timers:
  clock:
    every: 1
    namespace: /caht
    event: tick
""")
    assert found == [f"{path}:14: timers.clock.namespace: timer 'clock' sends to namespace '/caht', "
                     f"which the config does not declare\n  Hint: did you mean '/chat'?"]


def test_timer_templates_see_count_now_and_timer_only(write_config):
    path, found = problems(write_config, """
timers:
  clock:
    every: 1
    namespace: /chat
    event: tick
    data: {who: "{{ sid }}"}
""")
    assert found == [f"{path}:16: timers.clock.data.who: template '{{{{ sid }}}}' uses unknown variable "
                     f"'sid'\n  Hint: templates here can use: count, now, timer"]


@pytest.mark.parametrize("timer, line, message", [
    ("every: 0\n    namespace: /chat\n    event: tick", 12,
     "timers.clock.every: Input should be greater than 0 (got 0)"),
    ("every: soon\n    namespace: /chat\n    event: tick", 12,
     "timers.clock.every: Input should be a valid number, unable to parse string as a number (got 'soon')"
     "\n  Hint: write a number without quotes"),
    ("every: 1\n    namespace: /chat\n    event: connect", 14,
     "timers.clock.event: 'connect' is reserved by Socket.IO; pick another event name"),
    ("every: 1\n    namespace: /chat\n    event: tick\n    data: 1\n    args: [1]", 11,
     "timers.clock: give either data (one value) or args (several values), not both"),
    ("every: 1\n    namespace: /chat\n    event: tick\n    room: ''", 15,
     "timers.clock.room: room must be a non-empty string, got an empty one"),
    ("every: 1\n    namespace: /chat\n    event: tick\n    evry: 2", 15,
     "timers.clock.evry: unknown key 'evry'\n  Hint: did you mean 'every'?"),
    ("namespace: /chat\n    event: tick", 11, "timers.clock.every: missing required key 'every'"),
])
def test_timer_option_errors(write_config, timer, line, message):
    path, found = problems(write_config, f"timers:\n  clock:\n    {timer}\n")
    assert found == [f"{path}:{line}: {message}"]


def test_a_real_process_stops_its_timers_on_sigint(router_process, write_config):
    config = write_config(BASE.replace("async_mode: threading", "async_mode: eventlet") + """
timers:
  clock:
    every: 0.1
    namespace: /chat
    event: tick
""")
    process = router_process(config)
    from tests.support.cluster import wait_for_log

    wait_for_log(process, "timer 'clock': 'tick' every 0.1 s to /chat")
    process.signal(signal.SIGINT)
    assert process.wait(10) == 0
    assert "timers stopped (messages sent: clock: " in process.logs()


def test_reload_children_keep_no_timers(router_process, write_config):
    config = write_config(BASE.replace("async_mode: threading", "async_mode: eventlet") + """
timers:
  clock:
    every: 0.1
    namespace: /chat
    event: tick
""")
    from tests.support.cluster import wait_for_log

    process = router_process(config, "--reload", "--no-timers")
    wait_for_log(process, "timers: off in this process")
    assert "timer 'clock'" not in process.logs()
