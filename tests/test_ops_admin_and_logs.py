"""The Admin UI namespace and the JSON log format, against real router processes."""

from __future__ import annotations

import json
import signal

import pytest
import socketio

ADMIN = """
server:
  admin_ui: {{username: admin, password: "${{ROUTER_ADMIN_PASSWORD}}", mode: {mode}}}
namespaces:
  /chat:
    events:
      ping: {{ack: {{data: pong}}}}
"""


@pytest.mark.parametrize("mode", ["production", "development"])
def test_the_admin_namespace_accepts_the_credentials_and_refuses_others(write_config, router_process, mode):
    router = router_process(write_config(ADMIN.format(mode=mode)), env={"ROUTER_ADMIN_PASSWORD": "s3cret"})
    admin = socketio.Client(reconnection=False)
    admin.connect(router.url, namespaces=["/admin"], auth={"username": "admin", "password": "s3cret"},
                  wait_timeout=10)
    assert admin.connected
    for auth in ({"username": "admin", "password": "wrong"}, {"username": "root", "password": "s3cret"},
                 None, "s3cret"):
        intruder = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            intruder.connect(router.url, namespaces=["/admin"], auth=auth, wait_timeout=10)
    # The router's own namespaces keep working with the instrumentation on.
    user = socketio.Client(reconnection=False)
    user.connect(router.url, namespaces=["/chat"], wait_timeout=10)
    assert user.call("ping", namespace="/chat", timeout=10) == "pong"
    user.disconnect()
    admin.disconnect()
    assert "Admin UI attached on namespace /admin" in router.logs()


def test_the_admin_namespace_cannot_shadow_a_declared_one(write_config):
    from tests.support.router_process import run_cli

    path = write_config("""
        server: {admin_ui: {password: x, namespace: /chat}}
        namespaces: {/chat: {}}
    """)
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 2
    assert "server.admin_ui.namespace '/chat' is also declared under namespaces:" in result.stderr


def test_json_logs_carry_sid_namespace_and_event(write_config, router_process):
    router = router_process(write_config("""
        server: {log_format: json}
        namespaces:
          /chat:
            auth: [{token: {values: [s3cret]}}]
            events:
              join:
                - room.join: {room: "{{ data.room }}"}
    """))
    client = socketio.Client(reconnection=False)
    errors = []
    client.on("error", lambda data: errors.append(data), namespace="/chat")
    client.connect(router.url, namespaces=["/chat"], auth={"token": "s3cret"}, wait_timeout=10)
    client.call("join", {"no": "room"}, namespace="/chat", timeout=10)
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio.Client(reconnection=False).connect(router.url, namespaces=["/chat"],
                                                    auth={"token": "x"}, wait_timeout=10)
    client.disconnect()
    router.signal(signal.SIGTERM)
    assert router.wait(10) == 0
    entries = [json.loads(line) for line in router.logs().splitlines() if line.startswith("{")]
    assert entries, router.logs()
    mine = [e for e in entries if e["logger"] == "socketio_router"]
    connect = next(e for e in mine if e["message"].startswith("connect "))
    assert connect["namespace"] == "/chat" and connect["event"] == "connect" and connect["sid"]
    assert connect["level"] == "info" and connect["time"].endswith("+00:00")
    failure = next(e for e in mine if "room.join" in e["message"])
    assert failure["event"] == "join" and failure["namespace"] == "/chat"
    assert failure["sid"] == connect["sid"] and failure["level"] == "warning"
    refused = next(e for e in mine if e["message"].startswith("refused "))
    assert refused["namespace"] == "/chat" and "reason=invalid token" in refused["message"]
    assert any(e["message"].startswith("SIGTERM: shutting down") for e in mine)
    # every line of the process is JSON, not only ours, after the two startup lines of stdout
    # ("listening on", then the Socket.IO URL; nothing else is on in this config)
    lines = router.logs().splitlines()
    assert lines[0].startswith("socketio-router listening on ") and lines[1].startswith("  Socket.IO ")
    assert all(line.startswith("{") for line in lines[2:] if line.strip())
