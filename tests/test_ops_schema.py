"""`python router.py schema`: a JSON Schema that every shipped config satisfies and typos do not."""

from __future__ import annotations

import json
import textwrap

import jsonschema
import pytest
import yaml

from tests.support.router_process import ROOT, run_cli

SHIPPED_CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if not p.name.endswith(".test.yaml"))


@pytest.fixture(scope="module")
def validator():
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator, text: str) -> list[str]:
    document = yaml.safe_load(textwrap.dedent(text))
    return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document))


@pytest.mark.parametrize("config", SHIPPED_CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(validator, config):
    document = yaml.safe_load(config.read_text())
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert problems == []


def test_there_are_shipped_configs():
    assert {p.name for p in SHIPPED_CONFIGS} >= {"chat.yaml", "demo.yaml"}


def test_a_misspelt_plugin_and_a_wrong_option_are_rejected(validator):
    assert errors(validator, """
        namespaces:
          /chat:
            events:
              join:
                - room.jion: {room: x}
    """)
    assert errors(validator, """
        namespaces:
          /chat:
            events:
              join:
                - emit: {evnt: x}
    """)
    assert errors(validator, """
        namespaces:
          /chat:
            auth:
              - token: {}
    """), "token requires values"


def test_step_forms_the_loader_accepts_are_accepted(validator):
    assert errors(validator, """
        server: {port: "${PORT:-8000}", async_mode: gevent, cors_allowed_origins: "*"}
        on_error: {emit: {event: oops}}
        namespaces:
          /a:
          /b:
            auth:
              - any:
                  - token: {values: [x]}
                  - token: {values: [y], header: X-Token}
            on_connect: emit
            events:
              one: echo
              two: {ack: {data: 1}}
              three: [broadcast, {room.join: {room: "{{ data.room }}"}}, disconnect]
    """) == []


def test_editors_see_the_description_of_server_keys():
    from router.compile.load import build_registry
    from router.compile.schema import config_schema
    from router.config.source import ConfigSource

    schema = config_schema(build_registry(ConfigSource(file="<schema>", data={}), None))
    server = schema["$defs"]["ServerConfig"]["properties"]
    for key in ("port", "async_mode", "tcp_nodelay", "host"):
        assert server[key].get("description"), f"server.{key} has no description at its top"
    assert "anyOf" in server["port"] and server["port"]["default"] == 5000


def test_a_key_file_option_is_a_path(validator):
    """A ConfigFile option (read by the loader) is written as a path, and the schema says so."""
    assert errors(validator, """
        namespaces:
          /a:
            auth:
              - jwt: {algorithms: [RS256], public_key_file: keys/public.pem}
    """) == []


def test_what_the_config_models_refuse_is_refused(validator):
    assert any("does not match" in e for e in errors(validator, "namespaces: {chat: {}}"))
    assert errors(validator, "namespaces: {/a: {events: {connect: echo}}}"), "reserved event"
    assert errors(validator, "namespaces: {}"), "at least one namespace"
    assert errors(validator, "server: {port: 70000}\nnamespaces: {/a: {}}")
    assert errors(validator, "server: {async_mode: twisted}\nnamespaces: {/a: {}}")
    assert errors(validator, "servr: {}\nnamespaces: {/a: {}}")


def test_plugins_of_the_plugins_directory_are_in_the_schema(tmp_path):
    (tmp_path / "loud.py").write_text(textwrap.dedent('''
        from pydantic import Field
        from router import Options, step

        class LoudOptions(Options):
            text: str = Field(..., description="what to shout")

        @step("loud", LoudOptions)
        def loud(ctx, options):
            """Shout the text back."""
    '''))
    result = run_cli("schema", "--plugins-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    choices = schema["$defs"]["Step"]["oneOf"]
    loud = [c for c in choices if c.get("required") == ["loud"]]
    assert loud and loud[0]["description"] == "Shout the text back."
    validator = jsonschema.Draft202012Validator(schema)
    assert errors(validator, "namespaces: {/a: {events: {x: {loud: {text: hi}}}}}") == []
    assert errors(validator, "namespaces: {/a: {events: {x: {loud: {txt: hi}}}}}")
    assert errors(validator, "namespaces: {/a: {events: {x: loud}}}"), "text is required: no bare name"


def test_schema_of_a_config_with_a_missing_plugins_dir_is_a_config_error(write_config):
    path = write_config("plugins_dir: nowhere\nnamespaces: {/a: {}}\n")
    result = run_cli("schema", "--config", str(path))
    assert result.returncode == 2
    assert "plugins directory 'nowhere' does not exist" in result.stderr
    assert "Traceback" not in result.stderr
