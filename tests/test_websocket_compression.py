"""The router declines permessage-deflate unless `server.websocket_compression: true`."""

from __future__ import annotations

import base64
import os
import socket

import pytest
import socketio

from router.server.middleware import DeclineWebSocketCompression, without_deflate

OFFER = "permessage-deflate; client_max_window_bits"  # what Node's ws and browsers send

CONFIG = """
    server:
      async_mode: {mode}
      websocket_compression: {compression}
    namespaces:
      /bench:
        events:
          echo: [echo, ack]
"""


@pytest.mark.parametrize("offered, kept", [
    ("permessage-deflate", ""),
    ("permessage-deflate; client_max_window_bits", ""),
    ("PerMessage-Deflate; server_no_context_takeover, x-webkit-deflate-frame", "x-webkit-deflate-frame"),
    ("x-custom; a=1, permessage-deflate; client_max_window_bits=10, permessage-deflate", "x-custom; a=1"),
    ("x-custom", "x-custom"),
])
def test_only_deflate_offers_are_removed(offered, kept):
    assert without_deflate(offered) == kept


def test_the_middleware_hides_the_offer_and_keeps_other_extensions():
    seen = []

    def app(environ, start_response):
        seen.append(environ.get("HTTP_SEC_WEBSOCKET_EXTENSIONS"))
        return [b""]

    middleware = DeclineWebSocketCompression(app)
    middleware({"HTTP_SEC_WEBSOCKET_EXTENSIONS": OFFER}, None)
    middleware({"HTTP_SEC_WEBSOCKET_EXTENSIONS": OFFER + ", x-custom"}, None)
    middleware({}, None)
    assert seen == [None, "x-custom", None]


def websocket_handshake(port: int, extensions: str | None) -> str:
    """The HTTP response headers of a raw Engine.IO WebSocket handshake."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
               f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
    if extensions:
        request += f"Sec-WebSocket-Extensions: {extensions}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall((request + "\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
    return response.split(b"\r\n\r\n", 1)[0].decode("latin-1")


@pytest.mark.parametrize("mode", ["eventlet", "gevent", "threading"])
def test_a_real_server_answers_the_offer_without_deflate(mode, write_config, router_process):
    router = router_process(write_config(CONFIG.format(mode=mode, compression="false")))
    headers = websocket_handshake(router.port, OFFER)
    assert headers.startswith("HTTP/1.1 101"), headers
    assert "sec-websocket-extensions" not in headers.lower(), headers


@pytest.mark.parametrize("mode", ["eventlet", "gevent", "threading"])
def test_compression_can_be_turned_back_on(mode, write_config, router_process):
    router = router_process(write_config(CONFIG.format(mode=mode, compression="true")))
    headers = websocket_handshake(router.port, OFFER)
    assert headers.startswith("HTTP/1.1 101"), headers
    assert "permessage-deflate" in headers.lower(), headers


def test_clients_still_talk_over_websocket_without_compression(write_config, router_process):
    router = router_process(write_config(CONFIG.format(mode="eventlet", compression="false")))
    client = socketio.Client(reconnection=False)
    client.connect(router.url, namespaces=["/bench"], transports=["websocket"], wait_timeout=10)
    try:
        big = {"text": "x" * 200_000}  # several frames' worth; compressible, sent plain
        assert client.call("echo", big, namespace="/bench", timeout=10) == big
    finally:
        client.disconnect()


def test_the_app_keeps_flask_socketio_middleware_attributes(build_router):
    router_app = build_router("""
        server: {path: /rt/}
        namespaces:
          /a: {}
    """)
    wrappers, layer = [], router_app.app.wsgi_app
    while layer is not None:  # other middleware may wrap ours
        wrappers.append(type(layer))
        layer = vars(layer).get("wsgi_app") or vars(layer).get("app")
    assert DeclineWebSocketCompression in wrappers
    assert router_app.app.wsgi_app.engineio_path == "/rt/"
