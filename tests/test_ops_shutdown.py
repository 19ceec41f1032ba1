"""SIGTERM / SIGINT against a real router with connected clients, in every async mode.

Clients must see a protocol goodbye, and the process must exit 0 within a few
seconds. python-socketio reports "server disconnect" for both goodbyes (an
Engine.IO CLOSE or a Socket.IO DISCONNECT) and "transport error" for a reset;
socket.io-client reports "transport close" for the first (then reconnects) and
"io server disconnect" for the second.
"""

from __future__ import annotations

import queue
import signal
import time

import pytest
import socketio

from jsclient import JsDriver

EXIT_WITHIN = 8.0  # seconds: shutdown_timeout (3) + the server's own grace + a loaded machine

CONFIG = """
server:
  async_mode: {mode}
  shutdown_timeout: 3
  shutdown_reconnect: {reconnect}
namespaces:
  /chat:
    events:
      ping: {{ack: {{data: pong}}}}
    on_disconnect:
      - broadcast: {{event: left}}
"""


def python_client(url: str, transports: list[str], reasons: queue.Queue) -> socketio.Client:
    client = socketio.Client(reconnection=False)

    @client.on("disconnect", namespace="/chat")
    def on_disconnect(reason=None):
        reasons.put((transports[0], reason))

    client.connect(url, namespaces=["/chat"], transports=transports, wait_timeout=10)
    assert client.call("ping", namespace="/chat", timeout=10) == "pong"
    return client


@pytest.mark.parametrize("mode", ["eventlet", "gevent", "threading"])
def test_sigterm_disconnects_every_client_cleanly_and_exits_0(write_config, router_process, mode):
    router = router_process(write_config(CONFIG.format(mode=mode, reconnect="true")))
    reasons: queue.Queue = queue.Queue()
    clients = [python_client(router.url, ["websocket"], reasons),
               python_client(router.url, ["polling"], reasons)]
    with JsDriver() as js:
        js.connect("js", router.url, namespace="/chat", transports=["websocket"])
        js.wait_connected("js")
        started = time.monotonic()
        router.signal(signal.SIGTERM)
        assert router.wait(EXIT_WITHIN) == 0, router.logs()
        elapsed = time.monotonic() - started
        got = sorted(reasons.get(timeout=5) for _ in clients)
        assert got == [("polling", "server disconnect"), ("websocket", "server disconnect")]
        # socket.io-client reconnects after "transport close"; a reset is "transport error".
        assert js.wait_disconnect("js", timeout=5) == "transport close"
    logs = router.logs()
    assert "SIGTERM: shutting down, closing 3 client connection(s) (timeout 3s)" in logs
    assert "shutdown complete in" in logs
    assert logs.count("disconnect ") >= 3, "the on_disconnect path ran for each client"
    assert "Traceback" not in logs
    assert elapsed < EXIT_WITHIN
    for client in clients:
        client.disconnect()


def test_sigint_without_reconnect_sends_a_final_socketio_disconnect(write_config, router_process):
    router = router_process(write_config(CONFIG.format(mode="eventlet", reconnect="false")))
    reasons: queue.Queue = queue.Queue()
    client = python_client(router.url, ["websocket"], reasons)
    with JsDriver() as js:
        js.connect("js", router.url, namespace="/chat", transports=["polling"])
        js.wait_connected("js")
        router.signal(signal.SIGINT)
        assert router.wait(EXIT_WITHIN) == 0, router.logs()
        assert reasons.get(timeout=5) == ("websocket", "server disconnect")
        # socket.io-client does not reconnect by itself after this reason.
        assert js.wait_disconnect("js", timeout=5) == "io server disconnect"
    assert "SIGINT: shutting down" in router.logs()
    client.disconnect()


def test_an_idle_server_stops_at_once(write_config, router_process):
    router = router_process(write_config(CONFIG.format(mode="eventlet", reconnect="true")))
    started = time.monotonic()
    router.signal(signal.SIGTERM)
    assert router.wait(EXIT_WITHIN) == 0
    assert time.monotonic() - started < 3, router.logs()
    assert "closing 0 client connection(s)" in router.logs()
