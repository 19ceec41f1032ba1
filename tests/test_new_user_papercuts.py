"""What a new user tripped over (issue 13), one section a point: each test reproduces it.

Templates naming a filter or a test Jinja does not have, options typed after rendering,
relative paths, YAML syntax errors, the publish API's problems, the scenario runner's
missing file, the command line, the startup line and the callback's value.
"""

from __future__ import annotations

import itertools
import os
import re
import textwrap
import threading
import time

import pytest

from router.compile.load import load_router
from router.errors import StartupError
from tests.conftest import PLUGINS_DIR
from tests.support.router_process import ROOT, run_cli


def problems(path, environ=None):
    with pytest.raises(StartupError) as info:
        load_router(str(path), environ=environ or {})
    return [p.render() for p in info.value.problems]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


# -- 1. a filter or a test Jinja does not have is a config error ---------------------------------

def test_an_unknown_filter_is_a_located_config_error_in_check_and_serve(write_config):
    path = write_config("""
        namespaces:
          /chat:
            events:
              say:
                - emit: {data: "{{ data.text | lowr }}"}
    """)
    for command in (["check"], []):  # [] serves
        result = run_cli(*command, "--config", str(path))
        assert result.returncode == 2, result.stderr
        assert result.stderr == (
            "error: invalid configuration:\n"
            f"{path}:5: namespaces['/chat'].events.say[0].emit.data: template '{{{{ data.text | lowr }}}}' "
            "uses unknown filter 'lowr'\n"
            "  Hint: did you mean 'lower'?\n")


def test_an_unknown_filter_in_on_connect_and_an_unknown_test_fail_at_startup(write_config):
    path = write_config("""
        namespaces:
          /chat:
            on_connect:
              - emit: {event: hi, data: "{{ sid | uper }}"}
            events:
              n:
                - emit: {data: "{% if data.n is nmber %}a number{% endif %}"}
              far:
                - emit: {data: "{{ data | zzzfilter }}"}
    """)
    on_connect, test, far = problems(path)
    assert on_connect == (f"{path}:4: namespaces['/chat'].on_connect[0].emit.data: template "
                          "'{{ sid | uper }}' uses unknown filter 'uper'\n  Hint: did you mean 'upper'?")
    assert test == (f"{path}:7: namespaces['/chat'].events.n[0].emit.data: template "
                    "'{% if data.n is nmber %}a number{% endif %}' uses unknown test 'nmber'\n"
                    "  Hint: did you mean 'number'?")
    assert far.startswith(f"{path}:9: namespaces['/chat'].events.far[0].emit.data: template "
                          "'{{ data | zzzfilter }}' uses unknown filter 'zzzfilter'\n"
                          "  Hint: the filters are: abs, attr, batch, capitalize, center,")


def test_filters_and_tests_that_exist_still_compile(build_router, connect):
    router = build_router("""
        namespaces:
          /chat:
            events:
              low:
                - ack: {data: "{{ data.text | lower }}"}
              kind:
                - ack: {data: "{% if data is number %}number{% else %}other{% endif %}"}
    """)
    client = connect(router, "/chat")
    assert client.emit("low", {"text": "HeLLo"}, namespace="/chat", callback=True) == "hello"
    assert client.emit("kind", 3, namespace="/chat", callback=True) == "number"
    assert client.emit("kind", "3", namespace="/chat", callback=True) == "other"


# -- 2. rendered options hold the plugin's types -----------------------------------------------

REPEAT_PLUGIN = '''
from pydantic import Field
from router import Options, step


class RepeatOptions(Options):
    text: str = Field(..., description="what to repeat")
    times: int = Field(1, ge=1, description="how many times")


@step("repeat", RepeatOptions)
def repeat(ctx, options):
    ctx.set_ack(options.text * options.times)
'''


@pytest.fixture
def typed_router(build_router, tmp_path):
    write(tmp_path / "plugins" / "repeat.py", REPEAT_PLUGIN)
    return build_router(f"""
        plugins_dir: {tmp_path / 'plugins'}
        namespaces:
          /t:
            events:
              repeat:
                - repeat: {{text: "{{{{ data.text }}}}", times: "{{{{ data.n }}}}"}}
              tell:
                - broadcast: {{event: told, include_self: "{{{{ data.me }}}}"}}
    """)


def error_events(client, namespace):
    return [item["args"][0] for item in client.get_received(namespace) if item["name"] == "error"]


def test_a_rendered_option_that_does_not_fit_is_an_error_naming_it(build_router, connect):
    router = build_router(f"""
        plugins_dir: {PLUGINS_DIR}
        namespaces:
          /chat:
            events:
              yell:
                - shout: {{text: "{{{{ data.text }}}}"}}
    """)
    client = connect(router, "/chat")
    client.emit("yell", {"text": 42}, namespace="/chat")
    client.emit("yell", {"text": [1, 2]}, namespace="/chat")
    client.emit("yell", {"text": "fine"}, namespace="/chat")
    assert error_events(client, "/chat") == [
        {"message": "shout failed: text: expected a string, got 42", "event": "yell"},
        {"message": "shout failed: text: expected a string, got [1, 2]", "event": "yell"},
    ]
    client.emit("yell", {"text": "fine"}, namespace="/chat")
    assert [(item["name"], item["args"]) for item in client.get_received("/chat")] == [("shout", ["FINE"])]


def test_a_template_is_accepted_for_any_option_type_and_coerced_after_rendering(typed_router, connect):
    client = connect(typed_router, "/t")
    assert client.emit("repeat", {"text": "ab", "n": 3}, namespace="/t", callback=True) == "ababab"
    assert client.emit("repeat", {"text": "ab", "n": "2"}, namespace="/t", callback=True) == "abab"
    for n in ("x", 2.5, 0):
        client.emit("repeat", {"text": "ab", "n": n}, namespace="/t", callback=True)
    assert [error["message"] for error in error_events(client, "/t")] == [
        "repeat failed: times: expected a whole number, got 'x'",
        "repeat failed: times: expected a whole number, got 2.5",
        "repeat failed: times: should be greater than or equal to 1, got 0",
    ]


def test_a_templated_bool_option_decides_per_message(typed_router, connect):
    alice, bob = connect(typed_router, "/t"), connect(typed_router, "/t")
    alice.emit("tell", {"me": True}, namespace="/t")
    alice.emit("tell", {"me": "false"}, namespace="/t")
    alice.emit("tell", {"me": "maybe"}, namespace="/t")
    assert [item["name"] for item in bob.get_received("/t")] == ["told", "told"]
    assert [(item["name"], item["args"][0]) for item in alice.get_received("/t")] == [
        ("told", {"me": True}),
        ("error", {"message": "broadcast failed: include_self: expected true or false, got 'maybe'",
                   "event": "tell"}),
    ]


def test_options_written_without_a_template_are_still_checked_at_startup(write_config, tmp_path):
    write(tmp_path / "plugins" / "repeat.py", REPEAT_PLUGIN)
    path = write_config(f"""
        plugins_dir: {tmp_path / 'plugins'}
        namespaces:
          /t:
            events:
              a:
                - repeat: {{text: hi, times: three}}
              b:
                - emit: {{args: {{first: "{{{{ data }}}}"}}}}
              c:
                - repeat: {{text: hi, tims: "{{{{ data.n }}}}"}}
    """)
    times, args, unknown = problems(path)
    assert times == (f"{path}:6: namespaces['/t'].events.a[0].repeat.times: Input should be a valid integer, "
                     "unable to parse string as an integer (got 'three')\n  Hint: write a whole number without quotes")
    assert args == (f"{path}:8: namespaces['/t'].events.b[0].emit.args: Input should be a valid list "
                    "(got {'first': '{{ data }}'})\n  Hint: write a list here (items starting with '- ')")
    assert unknown == (f"{path}:10: namespaces['/t'].events.c[0].repeat.tims: unknown option 'tims'\n"
                       "  Hint: did you mean 'times'?")



def test_a_file_option_cannot_be_a_template(write_config, tmp_path):
    write(tmp_path / "plugins" / "keyed.py", """
        from router import ConfigFile, Options, step

        class KeyedOptions(Options):
            key: ConfigFile

        @step("keyed", KeyedOptions)
        def keyed(ctx, options):
            ctx.set_ack(options.key.text)
    """)
    path = write_config(f"""
        plugins_dir: {tmp_path / 'plugins'}
        namespaces:
          /t:
            events:
              k:
                - keyed: {{key: "{{{{ data.file }}}}"}}
    """)
    assert problems(path) == [
        f"{path}:6: namespaces['/t'].events.k[0].keyed.key: file '{{{{ data.file }}}}' not found "
        f"(relative paths start from the config file's directory, {tmp_path})"]


def test_the_editor_schema_accepts_a_template_for_any_step_option(tmp_path):
    import jsonschema
    import yaml

    from router.compile.load import build_registry
    from router.compile.schema import config_schema
    from router.config.source import ConfigSource

    write(tmp_path / "plugins" / "repeat.py", REPEAT_PLUGIN)
    registry = build_registry(ConfigSource(file="<schema>", data={}), str(tmp_path / "plugins"))
    validator = jsonschema.Draft202012Validator(config_schema(registry))

    def errors(options: str) -> list[str]:
        document = yaml.safe_load(f"namespaces: {{/t: {{events: {{e: [{options}]}}}}}}")
        return [error.message for error in validator.iter_errors(document)]

    assert errors('repeat: {text: "{{ data }}", times: "{{ data.n }}"}') == []
    assert errors('broadcast: {include_self: "{{ data.me }}"}') == []
    assert errors("repeat: {text: hi, times: three}")
    assert errors("broadcast: {include_self: maybe}")

# -- 3. every path in a config is relative to the config file's directory ----------------------

SHIPPED_CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if not p.name.endswith(".test.yaml"))
SHIPPED_SCENARIOS = sorted((ROOT / "configs").glob("*.test.yaml"))


@pytest.mark.parametrize("config", SHIPPED_CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_checks_from_another_directory(config, tmp_path):
    result = run_cli("check", "--config", str(config), cwd=tmp_path,
                     env={"JWT_SECRET": "a-secret-for-the-check-0123456789abcdef",
                          "WEBHOOK_SECRET": "a-webhook-secret-for-the-check-0123456789"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{config}: OK\n")


def test_the_shipped_scenarios_pass_from_another_directory(tmp_path):
    result = run_cli("test", *map(str, SHIPPED_SCENARIOS), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout


@pytest.fixture
def app_dir(tmp_path):
    """tmp/app: a config with its plugins and its key file beside it; tmp/elsewhere: a cwd."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    app = tmp_path / "app"
    write(app / "plugins" / "repeat.py", REPEAT_PLUGIN)
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    (app / "keys").mkdir()
    (app / "keys" / "public.pem").write_bytes(public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    write(app / "router.yaml", """
        plugins_dir: plugins
        namespaces:
          /t:
            auth:
              - jwt: {public_key_file: keys/public.pem, algorithms: [ES256]}
            events:
              again:
                - repeat: {text: "{{ data }}", times: 2}
    """)
    (tmp_path / "elsewhere").mkdir()
    return app


def test_plugins_dir_and_key_files_start_from_the_config_file(app_dir, monkeypatch):
    elsewhere = app_dir.parent / "elsewhere"
    result = run_cli("check", "--config", "../app/router.yaml", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^  again +repeat$", result.stdout, re.MULTILINE), result.stdout
    monkeypatch.chdir(elsewhere)
    compiled = load_router("../app/router.yaml", environ={})
    [rule] = compiled.namespaces["/t"].auth
    assert rule.options.public_key_file.path == str(app_dir / "keys" / "public.pem")


def test_the_default_plugins_dir_is_the_one_beside_the_config(app_dir):
    config = write(app_dir / "default.yaml", """
        namespaces:
          /t:
            events:
              again:
                - repeat: {text: "{{ data }}"}
    """)
    result = run_cli("check", "--config", str(config), cwd=app_dir.parent / "elsewhere")
    assert result.returncode == 0, result.stderr


def test_a_missing_path_says_where_relative_paths_start(app_dir):
    config = write(app_dir / "broken.yaml", """
        plugins_dir: nowhere
        namespaces:
          /t: {}
    """)
    assert problems(config) == [
        f"{config}:1: plugins_dir: plugins directory 'nowhere' does not exist (relative paths start "
        f"from the config file's directory, {app_dir})\n  Hint: create it, or fix the path"]
    config = write(app_dir / "nokey.yaml", """
        namespaces:
          /t:
            auth:
              - jwt: {public_key_file: keys/absent.pem, algorithms: [ES256]}
    """)
    [problem] = problems(config)
    assert problem == (f"{config}:4: namespaces['/t'].auth[0].jwt.public_key_file: file 'keys/absent.pem' "
                       f"not found (relative paths start from the config file's directory, {app_dir})")


def test_reload_watches_the_plugins_beside_the_config(app_dir, monkeypatch):
    from router.cli.reload import watched_files

    monkeypatch.chdir(app_dir.parent / "elsewhere")
    assert sorted(watched_files("../app/router.yaml")) == ["../app/router.yaml",
                                                            str(app_dir / "plugins" / "repeat.py")]


def test_schema_of_a_config_has_its_plugins_from_another_directory(app_dir):
    result = run_cli("schema", "--config", str(app_dir / "router.yaml"), cwd=app_dir.parent / "elsewhere")
    assert result.returncode == 0, result.stderr
    assert '"repeat"' in result.stdout


# -- 4. a syntax error names the line to fix ---------------------------------------------------

def test_an_unclosed_bracket_names_where_it_opened_and_where_the_parser_gave_up(write_config):
    path = write_config("""
        namespaces:
          /chat:
            events:
              ping:
                - ack: {data: pong}
              join: [room.join
              say:
                - echo
    """)
    assert problems(path) == [
        f"{path}:6: YAML syntax error: while parsing a flow sequence expected ',' or ']', but got ':' "
        "on line 7; the '[' on line 6 (column 13) is never closed\n"
        "  Hint: close it with ']' on line 6, or write the list one item per line (- item)"]


def test_an_unclosed_brace_or_quote_names_where_it_opened(write_config):
    brace = write_config("""
        namespaces:
          /chat:
            events:
              ping:
                - emit: {data: hello
              say: echo
    """)
    assert problems(brace) == [
        f"{brace}:5: YAML syntax error: while parsing a flow mapping expected ',' or '}}', but got ':' "
        "on line 6; the '{' on line 5 (column 17) is never closed\n"
        "  Hint: close it with '}' on line 5, or write the mapping one key per line (key: value)"]
    quote = write_config("""
        namespaces:
          /chat:
            events:
              ping:
                - emit: {data: "hello}
              say: echo
    """)
    assert problems(quote) == [
        f"{quote}:5: YAML syntax error: while scanning a quoted scalar found unexpected end of stream "
        "on line 7; the '\"' on line 5 (column 24) is never closed\n"
        "  Hint: close it with '\"' on line 5"]


def test_a_step_written_as_a_list_is_reported_on_its_own_line(write_config):
    path = write_config("""
        namespaces:
          /chat:
            on_connect:
              - emit: {event: hi}
              - emit: [hello]
            events:
              ping:
                - echo
                - ack: [true]
              full:
                steps:
                  - ack: [true]
              single: {ack: [true]}
    """)
    assert problems(path) == [
        f"{path}:5: namespaces['/chat'].on_connect[1]: the options of 'emit' must be a mapping like "
        "{key: value}, got list ['hello']",
        f"{path}:9: namespaces['/chat'].events.ping[1]: the options of 'ack' must be a mapping like "
        "{key: value}, got list [True]",
        f"{path}:12: namespaces['/chat'].events.full.steps[0]: the options of 'ack' must be a mapping like "
        "{key: value}, got list [True]",
        f"{path}:13: namespaces['/chat'].events.single: the options of 'ack' must be a mapping like "
        "{key: value}, got list [True]",
    ]


def test_a_bad_rule_in_an_any_group_is_reported_on_its_own_line(write_config):
    path = write_config("""
        namespaces:
          /chat:
            auth:
              - any:
                  - token: {values: [a]}
                  - token: [b]
    """)
    assert problems(path) == [
        f"{path}:6: namespaces['/chat'].auth[0].any[1]: the options of 'token' must be a mapping like "
        "{key: value}, got list ['b']"]


# -- 5. the publish API reports every problem of a body at once --------------------------------

API_KEY = "s3cret-key-for-tests"


@pytest.fixture
def publish(build_router):
    router = build_router("""
        server:
          api_key: "${ROUTER_API_KEY}"
        namespaces:
          /chat: {}
          /other: {}
    """, environ={"ROUTER_API_KEY": API_KEY})
    http = router.app.test_client()
    return lambda path, body: http.post(path, json=body, headers={"Authorization": f"Bearer {API_KEY}"})


def test_a_bad_namespace_event_and_room_are_reported_together(publish):
    response = publish("/api/emit", {"namespace": "/caht", "event": "connect", "room": ""})
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid request: namespace '/caht' is not served by this config; did you mean '/chat'?; "
                 "event: 'connect' is reserved by Socket.IO; pick another event name; "
                 "room: String should have at least 1 character",
        "problems": [
            {"field": "namespace", "message": "namespace '/caht' is not served by this config; did you mean '/chat'?"},
            {"field": "event", "message": "'connect' is reserved by Socket.IO; pick another event name"},
            {"field": "room", "message": "String should have at least 1 character"},
        ]}


def test_a_bad_namespace_and_sid_to_disconnect_are_reported_together(publish):
    response = publish("/api/disconnect", {"namespace": "/caht", "sid": ""})
    assert response.status_code == 400
    assert [p["field"] for p in response.get_json()["problems"]] == ["namespace", "sid"]


# -- 6. a missing scenario file says so --------------------------------------------------------

def test_a_missing_scenario_file_is_named_as_one():
    result = run_cli("test", "configs/chta.test.yaml")
    assert result.returncode == 2
    assert result.stderr == ("error: invalid configuration:\n"
                             "configs/chta.test.yaml: scenario file not found\n"
                             "  Hint: pass the path of a .test.yaml file, e.g. configs/chat.test.yaml\n")


# -- 7. the command line: --version, its own name, the commands there are ----------------------

def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"socketio-router {version('socketio-router')}\n"


def test_usage_shows_the_name_the_user_typed(monkeypatch, capsys):
    from router.cli.main import main

    assert run_cli("--help").stdout.startswith("usage: router.py ")
    monkeypatch.setattr("sys.argv", ["/venv/bin/socketio-router", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: socketio-router ")
    assert "Without a command, serve: socketio-router --config configs/chat.yaml" in out


def test_an_unknown_command_lists_the_commands():
    result = run_cli("chek", "--config", "configs/chat.yaml")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "router.py: error: unknown command 'chek'; did you mean 'check'? "
        "The commands are: serve, check, schema, test, emit")
    result = run_cli("configs/chat.yaml")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "router.py: error: unknown command 'configs/chat.yaml'; to serve a file, write "
        "--config configs/chat.yaml. The commands are: serve, check, schema, test, emit")


# -- 8. the startup line says what is served ---------------------------------------------------

def startup_lines(router, count: int, timeout: float = 10) -> list[str]:
    """The first ``count`` startup lines (the process is seen listening at the first)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = router.logs().splitlines()
        first = next(index for index, line in enumerate(logs) if "listening on " in line)
        lines = [logs[first], *itertools.takewhile(lambda line: line.startswith("  "), logs[first + 1:])]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        threading.Event().wait(0.05)  # the reader thread is still taking the lines in


def test_the_startup_lines_list_what_is_served(router_process, write_config):
    config = write_config("""
        server:
          async_mode: threading
          console: true
          demo_page: /test
          api_key: "${ROUTER_API_KEY}"
        namespaces:
          /test:
            events: {my_event: echo, my_broadcast_event: broadcast, join: echo, leave: echo,
                     my_room_event: echo, close_room: echo, disconnect_request: disconnect, my_ping: ack}
          /chat: {}
    """)
    router = router_process(config, env={"ROUTER_API_KEY": API_KEY})
    url = router.url
    assert startup_lines(router, 5) == [
        f"socketio-router listening on {url} (async_mode=threading, config={config})",
        f"  Socket.IO    {url}/socket.io/  namespaces: /test, /chat",
        f"  console      {url}/console",
        f"  demo page    {url}/  (talks to /test)",
        f"  publish API  POST {url}/api/emit, POST {url}/api/disconnect  (with the API key)",
    ]


def test_without_pages_the_startup_lines_show_socketio_alone(router_process, write_config):
    config = write_config("""
        server:
          async_mode: threading
          path: /rt/
        namespaces:
          /chat: {}
    """)
    router = router_process(config)
    assert startup_lines(router, 2) == [
        f"socketio-router listening on {router.url} (async_mode=threading, config={config})",
        f"  Socket.IO    {router.url}/rt/  namespaces: /chat",
    ]


# -- 9. what a client's callback receives; a step without options -------------------------------

NO_VALUE = []  # the test client's answer to a callback called with no arguments

HELLO_PLUGIN = '''
from router import step


@step("hello")
def hello(ctx, options):
    """Answer the callback with a greeting."""
    ctx.set_ack("hello you")
'''


@pytest.fixture
def callbacks(build_router, tmp_path):
    write(tmp_path / "plugins" / "hello.py", HELLO_PLUGIN)
    return build_router(f"""
        plugins_dir: {tmp_path / 'plugins'}
        namespaces:
          /plain:
            events:
              hi: echo
              join:
                - room.join: {{room: "{{{{ data.room }}}}"}}
                - ack: {{data: true}}
              greet: hello
              greet_too:
                - hello
                - hello: {{}}
          /answering:
            events:
              join:
                - room.join: {{room: "{{{{ data.room }}}}"}}
                - ack: {{data: true}}
            on_error:
              - ack: {{data: {{ok: false, error: "{{{{ error }}}}"}}}}
    """)


def test_without_an_ack_step_the_callback_is_called_with_no_value(callbacks, connect):
    client = connect(callbacks, "/plain")
    assert client.emit("hi", "there", namespace="/plain", callback=True) == NO_VALUE
    assert [(item["name"], item["args"]) for item in client.get_received("/plain")] == [("hi", ["there"])]


def test_when_a_step_fails_the_callback_gets_no_value_and_the_client_an_error_event(callbacks, connect):
    client = connect(callbacks, "/plain")
    assert client.emit("join", {"room": "r"}, namespace="/plain", callback=True) is True
    assert client.emit("join", {}, namespace="/plain", callback=True) == NO_VALUE
    assert [(item["name"], item["args"][0]["message"]) for item in client.get_received("/plain")] == [
        ("error", "room.join failed: template '{{ data.room }}': 'dict object' has no attribute 'room'")]


def test_an_ack_in_on_error_answers_the_callback_of_a_failed_event(callbacks, connect):
    client = connect(callbacks, "/answering")
    assert client.emit("join", {}, namespace="/answering", callback=True) == {
        "ok": False, "error": "room.join failed: template '{{ data.room }}': 'dict object' has no attribute 'room'"}


def test_a_step_plugin_without_options(callbacks, connect, write_config, tmp_path):
    client = connect(callbacks, "/plain")
    assert client.emit("greet", namespace="/plain", callback=True) == "hello you"
    path = write_config(f"""
        plugins_dir: {tmp_path / 'plugins'}
        namespaces:
          /t:
            events:
              greet:
                - hello: {{text: hi}}
    """)
    assert problems(path) == [
        f"{path}:6: namespaces['/t'].events.greet[0].hello.text: unknown option 'text'\n"
        "  Hint: this plugin takes no options: write its name alone"]
