"""What a new user tripped over (issue 13), one section a point: each test reproduces it.

Templates naming a filter or a test Jinja does not have, options typed after rendering,
relative paths, YAML syntax errors, the publish API's problems, the scenario runner's
missing file, the command line, the startup line and the callback's value.
"""

from __future__ import annotations

import os
import re
import textwrap

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
