"""`check --strict`: risky settings are located warnings, and make the command exit 1."""

from __future__ import annotations

from tests.support.router_process import run_cli

SAFE = """
server:
  secret_key: ${FLASK_SECRET}
namespaces:
  /chat:
    auth:
      - token: {values: ["${ROUTER_TOKEN}"]}
    rate: 20/s
    events:
      ping: {ack: {data: pong}}
"""

RISKY = """
server:
  cors_allow_any_origin: true
  cors_allowed_origins: "*"
  secret_key: flask-secret-in-the-file
namespaces:
  /open:
    events:
      ping: {ack: {data: pong}}
  /chat:
    auth:
      - token: {values: [hunter2, "${ROUTER_TOKEN:-dev-token}"]}
    events:
      ping: {ack: {data: pong}}
"""


def test_a_production_ready_config_passes_strict(write_config):
    path = write_config(SAFE)
    result = run_cli("check", "--config", str(path), "--strict",
                     env={"FLASK_SECRET": "x" * 32, "ROUTER_TOKEN": "t" * 20})
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


def test_every_risky_setting_is_reported_with_its_line_and_a_hint(write_config):
    path = write_config(RISKY)
    result = run_cli("check", "--config", str(path), "--strict")
    assert result.returncode == 1, result.stderr
    lines = result.stderr
    assert (f"warning: {path}:3: server.cors_allowed_origins: any web page may open a Socket.IO "
            f"connection to this server with its visitors' cookies (cors_allow_any_origin is true)") in lines
    assert f"warning: {path}:4: server.secret_key: a secret is written in the file" in lines
    assert (f"warning: {path}:6: namespaces['/open']: namespace /open has no auth rules: anyone who "
            f"can reach the server can connect") in lines
    assert f"warning: {path}:6: namespaces['/open']: namespace /open has no rate limit" in lines
    assert f"warning: {path}:9: namespaces['/chat']: namespace /chat has no rate limit" in lines
    assert f"warning: {path}:11: namespaces['/chat'].auth[0].token.values[0]: a secret is written in the file" in lines
    assert (f"warning: {path}:11: namespaces['/chat'].auth[0].token.values[1]: a secret falls back to "
            f"the default written in the file (its variable is not set)") in lines
    assert "Hint: write it as ${NAME} and set NAME in the environment" in lines
    assert "7 warning(s): risky for production (exit 1 under --strict)" in lines
    assert "/chat  auth: token" in result.stdout  # the routing table still prints


def test_a_set_variable_is_not_a_default_from_the_file(write_config):
    path = write_config(RISKY)
    result = run_cli("check", "--config", str(path), "--strict", env={"ROUTER_TOKEN": "from-env"})
    assert "values[1]" not in result.stderr
    assert "6 warning(s)" in result.stderr


def test_without_strict_check_passes_and_counts_the_warnings(write_config):
    path = write_config(RISKY)
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 0
    # the any-origin warning always prints; the rest are counted
    first, second, last = result.stderr.strip().splitlines()
    assert first.startswith(f"warning: {path}:3: server.cors_allowed_origins: any web page may open")
    assert second.startswith("  Hint: list the origins of your sites instead")
    assert last == "7 risky setting(s); run check --strict to list them"


def test_a_password_in_the_message_queue_url_is_a_secret_in_the_file(write_config):
    path = write_config("""
        server: {message_queue: "redis://:s3cret@127.0.0.1:6379/0"}
        namespaces:
          /chat: {auth: [{token: {values: ["${ROUTER_TOKEN}"]}}]}
    """)
    result = run_cli("check", "--config", str(path), "--strict", env={"ROUTER_TOKEN": "t"})
    assert result.returncode == 1
    assert "server.message_queue: the message queue URL holds a password written in the file" in result.stderr


def test_a_config_error_is_still_exit_2(write_config):
    path = write_config("namespaces: {/chat: {events: {ping: {ack: {dta: 1}}}}}\n")
    result = run_cli("check", "--config", str(path), "--strict")
    assert result.returncode == 2
    assert "unknown option 'dta'" in result.stderr


def test_check_loads_no_server_broker_or_unused_library(tmp_path):
    """`check` stays quick (bench: 200 events in under 1 s) by importing only what validates the
    config: not python-socketio and the HTTP and broker clients it brings, and not PyJWT or
    jsonschema when no rule or event uses them."""
    import subprocess
    import sys

    from tests.support.router_process import ROOT

    config = tmp_path / "chat.yaml"
    config.write_text(SAFE.replace("server:\n", "server:\n  message_queue: redis://127.0.0.1:6379/0\n", 1))
    code = ("import sys; from router.compile.load import load_router; load_router(sys.argv[1]); "
            "print(sorted(m for m in ('socketio', 'engineio', 'flask', 'redis', 'requests', 'jwt', "
            "'jsonschema') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60,
                          env={**__import__("os").environ, "FLASK_SECRET": "s" * 32, "ROUTER_TOKEN": "t"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_turning_a_transport_guard_off_is_a_risk(write_config):
    path = write_config(SAFE.replace("server:\n", "server:\n  max_queued_bytes_per_client: null\n"
                                                  "  max_client_bytes_per_second: null\n"))
    result = run_cli("check", "--config", str(path), "--strict",
                     env={"FLASK_SECRET": "x" * 32, "ROUTER_TOKEN": "t" * 20})
    assert result.returncode == 1
    assert (f"warning: {path}:2: server.max_queued_bytes_per_client: turned off: a client that stops "
            f"reading keeps everything sent to it") in result.stderr
    assert f"warning: {path}:3: server.max_client_bytes_per_second: turned off: one client" in result.stderr
    assert "2 warning(s)" in result.stderr
