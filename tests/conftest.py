"""Shared fixtures (in-process apps from YAML text, real router processes) and the test layers.

Each test gets its layer markers here, from the tables of tests/support/layers.py, and
``e2e`` with any of them, so ``bash scripts/test -m "not e2e"`` runs the fast layer
(CONTRIBUTING.md). A test that starts a process its markers do not announce fails,
saying what to add: an audit hook watches every subprocess the test process starts.
"""

from __future__ import annotations

import os
import shlex
import sys
import textwrap

import pytest

from tests.support.layers import E2E, layers_of, unannounced_process
from tests.support.router_process import ROOT, RouterProcess

PLUGINS_DIR = ROOT / "tests" / "plugins"

# -- test layers (tests/support/layers.py) -----------------------------------------------------


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these markers
def pytest_collection_modifyitems(config, items):
    for item in items:
        layers = layers_of(item)
        for layer in sorted(layers):
            item.add_marker(layer)
        if layers:
            item.add_marker(E2E)


_running: list[pytest.Item] = []  # the test being set up, run or torn down, if any


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _running.append(item)
    try:
        return (yield)
    finally:
        _running.pop()


def _guard_processes(event: str, args: tuple) -> None:
    if event != "subprocess.Popen" or not _running:
        return
    argv = args[1]
    argv = shlex.split(argv) if isinstance(argv, (str, bytes)) else [os.fsdecode(a) for a in argv]
    problem = unannounced_process(_running[-1], argv)
    if problem:
        pytest.fail(problem, pytrace=False)


# An audit hook sees every subprocess the test process starts, whoever starts it.
sys.addaudithook(_guard_processes)

# -- fixtures -----------------------------------------------------------------------------------


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
    """``router_process(config_path, *args, env=None, port_from_config=False)`` -> a started
    RouterProcess, stopped after."""
    started: list[RouterProcess] = []

    def start(config, *args, env=None, timeout=30, port_from_config=False):
        process = RouterProcess(config, *args, env=env, port_from_config=port_from_config)
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
