"""The eventlet and gevent servers run with small per-connection buffers and still serve
WebSocket and long-polling clients, large payloads included."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import socketio

from router.server.middleware import direct_call
from router.upstream import lean_wsgi as connection_footprint

CONFIG = """
    server:
      async_mode: {mode}
    namespaces:
      /bench:
        events:
          echo: [echo, ack]
"""


@pytest.mark.filterwarnings("ignore:\\s*Eventlet is deprecated")
def test_eventlet_protocol_has_small_buffers():
    import eventlet.wsgi

    protocol = connection_footprint.eventlet_protocol()
    assert issubclass(protocol, eventlet.wsgi.HttpProtocol)
    assert protocol.rbufsize == connection_footprint.READ_BUFFER < eventlet.wsgi.HttpProtocol.wbufsize
    assert 0 < protocol.wbufsize < eventlet.wsgi.HttpProtocol.wbufsize


def test_gevent_handler_reads_through_a_small_buffer():
    from gevent import pywsgi

    made = []

    class FakeSocket:
        def makefile(self, mode, buffering):
            made.append((mode, buffering))
            return object()

    handler = connection_footprint.gevent_handler(pywsgi.WSGIHandler)
    instance = handler(FakeSocket(), ("127.0.0.1", 1), server=None)
    assert made == [("rb", connection_footprint.READ_BUFFER)]
    assert instance.rfile is not None and handler.__name__ == "LeanWSGIHandler"


@pytest.mark.parametrize("env, expected", [({}, "False"),
                                           ({"GEVENT_TRACK_GREENLET_TREE": "1"}, "True")])
def test_gevent_greenlet_tree_tracking_is_off_unless_the_environment_says(env, expected):
    # In a fresh interpreter: gevent's config is process-wide.
    code = ("from router.upstream.lean_wsgi import tune_gevent; import gevent; tune_gevent(); "
            "print(gevent.config.track_greenlet_tree)")
    environ = {k: v for k, v in __import__("os").environ.items() if k != "GEVENT_TRACK_GREENLET_TREE"}
    done = subprocess.run([sys.executable, "-c", code], env={**environ, **env},
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == expected, done.stderr


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_large_payloads_pass_the_small_buffers(mode, transport, write_config, router_process):
    router = router_process(write_config(CONFIG.format(mode=mode)))
    client = socketio.Client(reconnection=False)
    replies = []
    replied = threading.Event()
    client.on("echo", lambda data: replies.append(data) or replied.set(), namespace="/bench")
    client.connect(router.url, namespaces=["/bench"], transports=[transport], wait_timeout=10,
                   headers={"X-Padding": "p" * 3000})  # a handshake bigger than the read buffer
    try:
        payload = {"text": "é" * 150_000, "n": list(range(1000))}  # far past every buffer
        assert client.call("echo", payload, namespace="/bench", timeout=20) == payload
        # The client may run the echo's handler in its own thread, after the ack's: wait for it.
        assert replied.wait(10)
        assert replies == [payload]
    finally:
        client.disconnect()


def test_direct_call_skips_the_instance_call_and_changes_nothing_else():
    class Middleware:
        def __call__(self, environ, start_response):
            return ["wrapped", environ]

    def plain_app(environ, start_response):
        return ["plain", environ]

    middleware = Middleware()
    call = direct_call(middleware)
    assert call.__self__ is middleware and call.__func__ is Middleware.__call__
    assert call({"k": 1}, None) == middleware({"k": 1}, None)
    assert direct_call(plain_app) is plain_app
    bound = middleware.__call__
    assert direct_call(bound) is bound  # a bound method is called directly already


def test_gevent_handler_lets_go_of_the_parsed_headers_once_they_are_in_the_environ():
    import io

    from gevent import pywsgi

    class FakeServer:
        def get_environ(self):
            return {}

    handler = connection_footprint.gevent_handler(pywsgi.WSGIHandler)(
        None, ("127.0.0.1", 1), FakeServer(), rfile=io.BytesIO(b"Host: h\r\nX-Token: t1\r\n\r\n"))
    assert handler.read_request("GET /socket.io/?EIO=4&transport=polling HTTP/1.1")
    environ = handler.get_environ()
    assert environ["HTTP_X_TOKEN"] == "t1" and environ["QUERY_STRING"] == "EIO=4&transport=polling"
    assert handler.headers is None
