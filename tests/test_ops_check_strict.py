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
    events:
      ping: {ack: {data: pong}}
"""

RISKY = """
server:
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
    assert (f"warning: {path}:2: server.cors_allowed_origins: CORS allows every origin" in lines)
    assert f"warning: {path}:3: server.secret_key: a secret is written in the file" in lines
    assert (f"warning: {path}:5: namespaces['/open']: namespace /open has no auth rules: anyone who "
            f"can reach the server can connect") in lines
    assert f"warning: {path}:10: namespaces['/chat'].auth[0].token.values[0]: a secret is written in the file" in lines
    assert (f"warning: {path}:10: namespaces['/chat'].auth[0].token.values[1]: a secret falls back to "
            f"the default written in the file (its variable is not set)") in lines
    assert "Hint: write it as ${NAME} and set NAME in the environment" in lines
    assert "5 warning(s): risky for production (exit 1 under --strict)" in lines
    assert "/chat  auth: token" in result.stdout  # the routing table still prints


def test_a_set_variable_is_not_a_default_from_the_file(write_config):
    path = write_config(RISKY)
    result = run_cli("check", "--config", str(path), "--strict", env={"ROUTER_TOKEN": "from-env"})
    assert "values[1]" not in result.stderr
    assert "4 warning(s)" in result.stderr


def test_without_strict_check_passes_and_counts_the_warnings(write_config):
    path = write_config(RISKY)
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 0
    assert result.stderr.strip() == "5 risky setting(s); run check --strict to list them"


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
