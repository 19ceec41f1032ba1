"""Shared fixtures: in-process apps from YAML text, and real router processes."""

from __future__ import annotations

import os
import textwrap

import pytest

from tests.support.router_process import ROOT, RouterProcess

PLUGINS_DIR = ROOT / "tests" / "plugins"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """Tests start without the variables configs reference."""
    for name in list(os.environ):
        if name.startswith(("CHAT_", "JWT_", "ROUTER_")):
            monkeypatch.delenv(name)


@pytest.fixture
def write_config(tmp_path):
    """``write_config(yaml_text)`` -> path of a file holding the dedented text."""
    counter = iter(range(1000))

    def write(text: str, name: str | None = None):
        path = tmp_path / (name or f"config{next(counter)}.yaml")
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


@pytest.fixture
def build_router():
    """``build_router(yaml_text, environ=None)`` -> RouterApp, built in-process."""
    from router.compile.load import load_source
    from router.server.app import create_app
    from router.config.source import parse_config_text

    def build(text: str, environ: dict | None = None, filename: str = "test.yaml"):
        source = parse_config_text(textwrap.dedent(text).lstrip(), filename, environ or {})
        return create_app(load_source(source))

    return build


@pytest.fixture
def connect(build_router):
    """``connect(router_app, namespace, auth=None, headers=None, query_string=None)``: a
    Flask-SocketIO test client, or the refusal it got (see ``refusals``)."""

    def make(router_app, namespace="/", **kwargs):
        return router_app.socketio.test_client(router_app.app, namespace=namespace, **kwargs)

    return make


@pytest.fixture
def router_process():
    """``router_process(config_path, *args, env=None)`` -> a started RouterProcess, stopped after."""
    started: list[RouterProcess] = []

    def start(config, *args, env=None, timeout=30):
        process = RouterProcess(config, *args, env=env)
        started.append(process)
        return process.start(timeout)

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def refusal():
    """``refusal(router_app, namespace, auth=None, headers=None, query_string=None,
    flask_test_client=None)`` -> the connect_error payload the server sent, or None if the
    client was accepted. A Flask test client sets the environ (``environ_base["REMOTE_ADDR"]``)."""
    from socketio import packet

    def attempt(router_app, namespace, **kwargs):
        socketio = router_app.socketio
        # The test client installs its packet hook when created; create it on a namespace
        # that is never declared, then watch CONNECT_ERROR packets for the real attempt.
        client = socketio.test_client(router_app.app, namespace="/__probe__",
                                      flask_test_client=kwargs.pop("flask_test_client", None))
        sent = socketio.server._send_packet
        errors = []

        def watch(eio_sid, pkt):
            if pkt.packet_type == packet.CONNECT_ERROR and eio_sid == client.eio_sid:
                errors.append(pkt.data)
            return sent(eio_sid, pkt)

        socketio.server._send_packet = watch
        try:
            client.connect(namespace=namespace, **kwargs)
        finally:
            socketio.server._send_packet = sent
        return errors[-1] if errors else None

    return attempt
