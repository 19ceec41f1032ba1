"""--reload against a real process: a good edit is served, a broken edit keeps the old server."""

from __future__ import annotations

import os
import queue
import signal
import threading
import time

import pytest
import requests
import socketio

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


def wait_for_log(router, text: str, after: int = 0, timeout: float = 60) -> int:
    """Wait until ``text`` appears in the logs after offset ``after``; its offset."""
    found = threading.Event()
    deadline = time.monotonic() + timeout
    while not found.wait(0.1):
        logs = router.logs()
        index = logs.find(text, after)
        if index >= 0:
            return index
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged within {timeout}s:\n{logs}")
        if router.process.poll() is not None:
            raise AssertionError(f"the router exited ({router.process.returncode}):\n{logs}")
    return -1


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
    try:
        config.write_text(CONFIG.format(plugins=plugins, answer="pang"))
        touch_later(config)
        wait_for_log(router, "reload: the new configuration is serving")
        assert call(router.url, "ping") == "pang"
    finally:
        stop.set()
        prober.join(10)
    assert router.port == port
    assert failures == []
    assert answers and set(answers) == {200}
    # The old server said goodbye to its client (a reset would be "transport error").
    assert reasons.get(timeout=10) == "server disconnect"

    (plugins / "hello.py").write_text(PLUGIN.format(text="hello v2"))
    touch_later(plugins / "hello.py")
    wait_for_log(router, "reload: the new configuration is serving",
                 after=router.logs().find("reload: the new configuration is serving") + 1)
    assert call(router.url, "greet") == "hello v2"


def test_a_broken_edit_keeps_the_running_server_and_prints_the_error(reloading):
    router, config, plugins = reloading
    config.write_text(CONFIG.format(plugins=plugins, answer="pong").replace("ack:", "akc:"))
    touch_later(config)
    wait_for_log(router, "still serving the previous one")
    logs = router.logs()
    assert f"{config}:6: namespaces['/chat'].events.ping[0]: unknown step plugin 'akc'" in logs
    assert "Hint: did you mean 'ack'?" in logs
    assert "reload: the new configuration did not start (status 2, error above)" in logs
    assert call(router.url, "ping") == "pong"
    assert requests.get(router.url + "/healthz", timeout=5).status_code == 200

    (plugins / "hello.py").write_text("def broken(:\n")
    touch_later(plugins / "hello.py")
    wait_for_log(router, "syntax error in plugin", after=len(logs))
    assert call(router.url, "greet") == "hello v1"

    (plugins / "hello.py").write_text(PLUGIN.format(text="fixed"))
    config.write_text(CONFIG.format(plugins=plugins, answer="fixed"))
    touch_later(config)
    wait_for_log(router, "reload: the new configuration is serving", after=len(logs))
    assert call(router.url, "ping") == "fixed"


def test_sigterm_stops_the_supervisor_and_its_server(reloading):
    router, config, plugins = reloading
    assert call(router.url, "ping") == "pong"
    router.signal(signal.SIGTERM)
    assert router.wait(15) == 0, router.logs()
    assert "SIGTERM: shutting down" in router.logs()
    with pytest.raises(requests.ConnectionError):
        requests.get(router.url + "/healthz", timeout=2)
