"""Config problems: one clear message with file, line, YAML path and hint; exit 2, no traceback."""

from __future__ import annotations

import textwrap

import pytest

from router.compile.load import load_router
from router.errors import StartupError
from tests.support.router_process import run_cli


def problems(path):
    with pytest.raises(StartupError) as info:
        load_router(str(path), environ={})
    return [p.render() for p in info.value.problems]


def test_check_prints_the_routing_table():
    result = run_cli("check", "--config", "configs/chat.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:7] == [
        "configs/chat.yaml: OK",
        "/chat  auth: token",
        "  limits: rooms matching ^[a-z0-9-]{1,32}$",
        "  presence: one member per connection, announced, ttl 30s; this process only",
        "  history: last 50 per room, ttl 1h, at most 10000 rooms in memory; this process only",
        "  on_connect     emit",
        "  join           room.join -> room.relay -> ack",
    ]
    assert "  message        echo" in result.stdout


def test_cli_reports_a_config_error_without_traceback(write_config):
    path = write_config("""
        namespaces:
          /chat:
            events:
              join:
                - room.jion: {room: "{{ data.room }}"}
    """)
    for command in (["check"], []):
        result = run_cli(*command, "--config", str(path))
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert result.stderr == (
            "error: invalid configuration:\n"
            f"{path}:5: namespaces['/chat'].events.join[0]: unknown step plugin 'room.jion'\n"
            "  Hint: did you mean 'room.join'? Custom plugins go in the plugins directory.\n")


def test_yaml_syntax_error(write_config):
    path = write_config("""
        namespaces:
          /chat:
            events:
              say: [echo
    """)
    [problem] = problems(path)
    # Located where the '[' opened (issue 13); the parser gave up at the end of the file.
    assert problem == (f"{path}:4: YAML syntax error: while parsing a flow sequence expected ',' or ']', "
                       "but got '<stream end>' on line 5; the '[' on line 4 (column 12) is never closed\n"
                       "  Hint: close it with ']' on line 4, or write the list one item per line (- item)")


def test_unquoted_template_gets_a_quoting_hint(write_config):
    path = write_config("""
        namespaces:
          /chat:
            events:
              join:
                - room.join: {room: {{ data.room }}}
    """)
    [problem] = problems(path)
    assert f"{path}:5:" in problem
    assert 'Hint: quote values that start with {{ or {%, e.g. room: "{{ data.room }}"' in problem


def test_unknown_key_suggests_the_right_one(write_config):
    path = write_config("""
        server:
          prot: 8080
        namespaces:
          /chat: {}
    """)
    assert problems(path) == [f"{path}:2: server.prot: unknown key 'prot'\n  Hint: did you mean 'port'?"]


def test_wrong_type_names_the_value(write_config):
    path = write_config("""
        server:
          port: "eighty"
        namespaces:
          /chat: {}
    """)
    [problem] = problems(path)
    assert problem.startswith(f"{path}:2: server.port: Input should be a valid integer")
    assert "(got 'eighty')" in problem


def test_bad_plugin_options(write_config):
    path = write_config("""
        namespaces:
          /chat:
            events:
              join:
                - room.join: {rom: lobby}
    """)
    assert problems(path) == [
        f"{path}:5: namespaces['/chat'].events.join[0]['room.join'].room: missing required option 'room'",
        f"{path}:5: namespaces['/chat'].events.join[0]['room.join'].rom: unknown option 'rom'\n"
        "  Hint: did you mean 'room'?",
    ]


def test_template_syntax_error_and_unknown_variable(write_config):
    path = write_config("""
        namespaces:
          /chat:
            events:
              a:
                - emit: {data: "{{ data.x "}
              b:
                - emit: {data: "{{ dta.x }}"}
    """)
    first, second = problems(path)
    assert first.startswith(f"{path}:5: namespaces['/chat'].events.a[0].emit.data: template syntax error in '{{{{ data.x ':")
    assert second == (f"{path}:7: namespaces['/chat'].events.b[0].emit.data: template '{{{{ dta.x }}}}' uses "
                      "unknown variable 'dta'\n  Hint: templates here can use: args, auth, count, data, event, "
                      "identity, namespace, recovered, sid")


def test_error_variable_only_in_on_error(write_config):
    path = write_config("""
        namespaces:
          /chat:
            events:
              a:
                - emit: {data: "{{ error }}"}
            on_error:
              - emit: {data: "{{ error }}"}
    """)
    [problem] = problems(path)
    assert "events.a[0].emit.data: template '{{ error }}' uses unknown variable 'error'" in problem


def test_missing_environment_variable(write_config):
    path = write_config("""
        namespaces:
          /chat:
            auth:
              - token: {values: ["${CHAT_TOKEN}"]}
    """)
    assert problems(path) == [
        f"{path}:4: namespaces['/chat'].auth[0].token.values[0]: environment variable CHAT_TOKEN is not set\n"
        "  Hint: export CHAT_TOKEN=... before starting, or give a default: ${CHAT_TOKEN:-value}"]


def test_environment_default_and_escape(write_config):
    path = write_config("""
        namespaces:
          /chat:
            events:
              e:
                - emit: {data: "${CHAT_GREETING:-hello} $${LITERAL}"}
    """)
    compiled = load_router(str(path), environ={})
    [step] = compiled.namespaces["/chat"].events["e"]
    assert step.options.data == "hello ${LITERAL}"
    compiled = load_router(str(path), environ={"CHAT_GREETING": "hi"})
    assert compiled.namespaces["/chat"].events["e"][0].options.data == "hi ${LITERAL}"


def test_structure_errors(write_config):
    path = write_config("""
        namespaces:
          chat:
            events:
              connect: echo
          /x:
            events:
              two:
                - echo: {}
                  emit: {}
              acks:
                - ack
                - ack
            on_connect:
              - ack
    """)
    found = "\n".join(problems(path))
    assert "namespace 'chat' must start with '/', e.g. '/chat'" in found
    found2 = "\n".join(problems(write_config("""
        namespaces:
          /chat:
            events:
              connect: echo
    """)))
    assert "'connect' is a reserved event; use on_connect / on_disconnect" in found2
    found3 = "\n".join(problems(write_config("""
        namespaces:
          /x:
            events:
              two:
                - echo: {}
                  emit: {}
    """)))
    assert "this mapping has 'echo', 'emit'; put each step in its own list item" in found3
    found4 = "\n".join(problems(write_config("""
        namespaces:
          /x:
            events:
              acks: [ack, ack]
            on_connect: [ack]
    """)))
    assert "events.acks[1]: a callback is answered once; this event has two ack steps" in found4
    assert "on_connect[0]: ack answers a client's callback; it cannot run in on_connect" in found4


def test_duplicate_yaml_key(write_config):
    path = write_config("""
        namespaces:
          /chat:
            events:
              a: echo
              a: broadcast
    """)
    assert problems(path) == [
        f"{path}:5: namespaces['/chat'].events.a: duplicate key 'a' (first defined on line 4)\n"
        "  Hint: YAML keeps only the last value of a repeated key; merge the two entries"]


def test_missing_file_and_empty_file(tmp_path, write_config):
    [missing] = problems(tmp_path / "nope.yaml")
    assert missing.startswith(f"{tmp_path / 'nope.yaml'}: config file not found")
    [empty] = problems(write_config(""))
    assert "namespaces: missing required key 'namespaces'" in empty


def plugin_dir(tmp_path, **files):
    directory = tmp_path / "plugins"
    directory.mkdir()
    for name, text in files.items():
        (directory / f"{name}.py").write_text(textwrap.dedent(text).lstrip())
    return directory


def config_with_plugins(write_config, directory, extra=""):
    return write_config(f"""
        plugins_dir: {directory}
        namespaces:
          /chat:
            events:
              e: echo
{textwrap.indent(textwrap.dedent(extra), ' ' * 8)}
    """)


def test_missing_plugins_dir(write_config, tmp_path):
    path = write_config(f"""
        plugins_dir: {tmp_path / 'absent'}
        namespaces:
          /chat: {{}}
    """)
    [problem] = problems(path)
    assert f"{path}:1: plugins_dir: plugins directory '{tmp_path / 'absent'}' does not exist" in problem


def test_plugin_import_error_names_file_and_line(write_config, tmp_path):
    directory = plugin_dir(tmp_path, broken="""
        import os

        import no_such_module_here
    """)
    [problem] = problems(config_with_plugins(write_config, directory))
    assert problem == (f"{directory / 'broken.py'}:3: plugin failed to import: ModuleNotFoundError: "
                       "No module named 'no_such_module_here'\n"
                       "  Hint: install the missing package, or remove the file from the plugins directory")


def test_plugin_syntax_error(write_config, tmp_path):
    directory = plugin_dir(tmp_path, bad="def f(:\n    pass\n")
    [problem] = problems(config_with_plugins(write_config, directory))
    assert problem.startswith(f"{directory / 'bad.py'}:1: syntax error in plugin")


def test_duplicate_plugin_name(write_config, tmp_path):
    directory = plugin_dir(tmp_path, one="""
        from router import step

        @step("echo")
        def echo(ctx, options):
            pass
    """)
    [problem] = problems(config_with_plugins(write_config, directory))
    assert "step plugin 'echo' is defined twice: at " in problem
    assert f"{directory / 'one.py'}:3" in problem
    assert "Hint: rename one of them; plugin names are global" in problem


def test_plugin_with_wrong_signature(write_config, tmp_path):
    directory = plugin_dir(tmp_path, sig="""
        from router import step

        @step("lonely")
        def lonely(ctx):
            pass
    """)
    [problem] = problems(config_with_plugins(write_config, directory))
    assert "step plugin 'lonely' at" in problem
    assert "has the signature lonely(ctx); it must accept (ctx, options)" in problem


def test_class_namespace_errors(write_config, tmp_path):
    directory = plugin_dir(tmp_path, mod="""
        class NotANamespace:
            pass
    """)
    path = write_config(f"""
        plugins_dir: {directory}
        namespaces:
          /a:
            class: "mod:Missing"
          /b:
            class: "mod:NotANamespace"
          /c:
            class: "nomodule:Thing"
    """)
    a, b, c = problems(path)
    assert a == (f"{path}:4: namespaces['/a'].class: module 'mod' has no attribute 'Missing'\n"
                 '  Hint: write class: "module:ClassName" with module.py in the plugins directory')
    assert b.startswith(f"{path}:6: namespaces['/b'].class: 'mod:NotANamespace' is not a "
                        "flask_socketio.Namespace subclass")
    assert c.startswith(f"{path}:8: namespaces['/c'].class: no module 'nomodule' in the plugins directory")


def test_class_namespace_stands_alone(write_config):
    path = write_config("""
        namespaces:
          /c:
            class: "mod:Thing"
            events:
              e: echo
    """)
    [problem] = problems(path)
    assert "a namespace mounted from a class handles its own events; remove auth, events" in problem
