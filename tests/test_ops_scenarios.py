"""`python router.py test`: the shipped scenario files pass, and a failure reads like a test runner's."""

from __future__ import annotations

import pytest

from tests.support.router_process import ROOT, run_cli

CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if not p.name.endswith(".test.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_has_passing_scenarios(config):
    scenarios = config.with_name(config.stem + ".test.yaml")
    assert scenarios.exists(), f"ship {scenarios.relative_to(ROOT)} with {config.name}"
    result = run_cli("test", str(scenarios.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert " passed in " in result.stdout.splitlines()[-1]


CHAT_TEST = """
config: {config}
env: {{CHAT_TOKEN: s3cret}}
scenarios:
  - name: ping is answered
    steps:
      - alice: {{connect: /chat, auth: {{token: s3cret}}}}
      - alice: {{emit: ping, ack: pang}}
  - name: join tells the room
    steps:
      - alice: {{connect: /chat, auth: {{token: s3cret}}}}
      - alice: {{emit: join, data: {{room: r, user: alice}}, ack: true}}
      - alice: {{receive: status, data: alice has arrived.}}
  - name: a wrong token is refused
    steps:
      - mallory: {{connect: /chat, auth: {{token: nope}}, refused: {{rule: token, reason: missing token}}}}
  - name: the right token is let in
    steps:
      - alice: {{connect: /chat, auth: {{token: s3cret}}}}
      - alice: {{receive: welcome}}
"""


def test_a_wrong_expectation_fails_with_a_readable_diff(write_config):
    chat = ROOT / "configs" / "chat.yaml"
    path = write_config(CHAT_TEST.format(config=chat), name="chat.test.yaml")
    result = run_cli("test", str(path))
    assert result.returncode == 1
    out = result.stdout
    assert "  FAIL  ping is answered\n" in out
    assert "        step 2 (line 7): alice emit ping: the ack differs\n" in out
    assert '          --- expected\n          +++ received\n          @@ -1 +1 @@\n          -"pang"\n          +"pong"\n' in out
    assert "        step 3 (line 12): alice receive status: alice received 'status', but not with the expected data\n" in out
    assert '          -"alice has arrived."\n          +"alice has entered the room."\n' in out
    assert "        step 1 (line 15): mallory connect /chat: the refusal differs\n" in out
    assert '          -  "reason": "missing token",\n          +  "reason": "invalid token",\n' in out
    assert "  PASS  the right token is let in\n" in out
    assert out.rstrip().splitlines()[-1].startswith("1 passed, 3 failed in ")


def test_a_failing_scenario_shows_the_router_log(write_config):
    chat = ROOT / "configs" / "chat.yaml"
    path = write_config(f"""
        config: {chat}
        env: {{CHAT_TOKEN: s3cret}}
        scenarios:
          - name: a missing room is an error to the client
            steps:
              - alice: {{connect: /chat, auth: {{token: s3cret}}}}
              - alice: {{emit: join, data: {{user: alice}}, ack: true}}
    """)
    result = run_cli("test", str(path))
    assert result.returncode == 1
    assert ("        step 2 (line 7): alice emit join: the server answered the callback with no value\n"
            "          expected: true\n") in result.stdout
    assert "        router log:\n" in result.stdout
    assert "step 1 (room.join) failed: template '{{ data.room }}'" in result.stdout


@pytest.mark.parametrize("text, message", [
    ("config: x.yaml\nscenarios: []\n", "scenarios: List should have at least 1 item"),
    ("config: {config}\nscenarios:\n  - name: n\n    steps:\n      - alice: {{emit: ping}}\n",
     ":5: scenarios[0].steps[0].alice: client 'alice' is used before it connects"),
    ("config: {config}\nscenarios:\n  - name: n\n    steps:\n      - alice: {{connect: /chat, emit: x}}\n",
     ":5: scenarios[0].steps[0].alice: an action has exactly one of connect, emit, receive, "
     "no_receive, disconnect, disconnected (found: connect, emit)"),
    ("config: {config}\nscenarios:\n  - name: n\n    steps:\n      - alice: {{connect: /chat, ack: 1}}\n",
     "ack cannot go with connect (it takes auth, headers, query, refused)"),
    ("config: nowhere.yaml\nscenarios:\n  - name: n\n    steps:\n      - alice: {connect: /chat}\n",
     ":1: config: config file "),
])
def test_a_broken_scenario_file_is_exit_2_with_its_line(write_config, text, message):
    chat = ROOT / "configs" / "chat.yaml"
    path = write_config(text.replace("{config}", str(chat)).replace("{{", "{").replace("}}", "}"))
    result = run_cli("test", str(path))
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_the_config_sees_only_the_variables_of_env(write_config):
    chat = ROOT / "configs" / "chat.yaml"
    path = write_config(f"""
        config: {chat}
        scenarios:
          - name: without env the default token applies
            steps:
              - alice: {{connect: /chat, auth: {{token: dev-token}}}}
    """)
    result = run_cli("test", str(path), env={"CHAT_TOKEN": "from-the-shell"})
    assert result.returncode == 0, result.stdout
