"""The test layers hold: a test that leaves the process carries the marker of what it starts.

Read from the source (ast), so the e2e tests are checked whenever the fast layer runs:
a test that reaches, through its fixtures and its module's helpers, a router process,
a command-line run, Node, Chromium, nginx or a redis-server must carry that layer's
marker (tests/support/layers.py gives them; tests/conftest.py guards them at run time).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support import layers
from tests.support.layers import E2E, LAYERS, layers_of, unannounced_process

TESTS = Path(__file__).resolve().parent
# A name in a test's code, its fixtures' or its helpers' -> the markers one of which it needs.
SIGNALS = {
    "router_process": {"processes"}, "RouterProcess": {"processes"}, "run_cli": {"cli", "processes"},
    "JsDriver": {"node"}, "Chromium": {"browser"}, "Nginx": {"nginx"}, "OwnRedis": {"broker"},
}
SUBPROCESS_STARTS = {"run", "Popen", "call", "check_call", "check_output"}


def functions_of(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def names_in(function: ast.FunctionDef) -> set[str]:
    """Names a function reads and the arguments (fixtures) it takes, ``subprocess.run`` as ``run``."""
    found = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "subprocess" and node.attr in SUBPROCESS_STARTS:
            found.add("subprocess." + node.attr)
    return found


def reach(test: str, functions: dict[str, ast.FunctionDef]) -> set[str]:
    """Every name read by ``test`` and by the fixtures and helpers it reaches."""
    seen, todo, names = {test}, [test], set()
    while todo:
        here = names_in(functions[todo.pop()])
        names |= here
        for name in here & set(functions) - seen:
            seen.add(name)
            todo.append(name)
    return names


def needs(names: set[str]) -> list[tuple[str, set[str]]]:
    found = [(name, SIGNALS[name]) for name in sorted(names & set(SIGNALS))]
    found += [(name, {"cli", "processes"}) for name in sorted(names) if name.startswith("subprocess.")]
    return found


def test_every_test_that_leaves_the_process_carries_its_marker():
    shared = functions_of(TESTS / "conftest.py")
    missing = []
    for path in sorted(TESTS.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue  # its last test starts a process unmarked on purpose, to see the guard refuse
        own = functions_of(path)
        functions = {**shared, **own}
        for test in (name for name in own if name.startswith("test_")):
            names = reach(test, functions)
            item = SimpleNamespace(fspath=path, originalname=test, name=test, fixturenames=names)
            markers = layers_of(item)
            for name, wanted in needs(names):
                if not wanted & markers:
                    missing.append(f"{path.name}::{test} reaches {name} but is not marked "
                                   f"{' or '.join(sorted(wanted))}")
    assert not missing, ("add these to the tables of tests/support/layers.py:\n"
                         + "\n".join(missing))


def test_the_checker_sees_a_router_started_by_a_helper(tmp_path):
    source = tmp_path / "test_sample.py"
    source.write_text("def start(router_process):\n    return router_process('x.yaml')\n\n"
                      "def test_sample(router_process):\n    start(router_process)\n")
    names = reach("test_sample", functions_of(source))
    assert needs(names) == [("router_process", {"processes"})]
    item = SimpleNamespace(fspath=source, originalname="test_sample", name="test_sample",
                           fixturenames=names)
    assert layers_of(item) == {"processes"}


def test_the_tables_name_modules_tests_and_markers_that_exist(request):
    registered = {line.split(":", 1)[0] for line in request.config.getini("markers")}
    assert set(LAYERS) | {E2E} <= registered, "register every layer in pyproject.toml"
    named = [*layers.LAYER_FIXTURES.values(), *layers.LAYER_MODULES.values(),
             *layers.LAYER_TESTS.values()]
    assert set().union(*named) <= set(LAYERS)
    for module in layers.LAYER_MODULES:
        assert (TESTS / module).exists(), module
    for test in layers.LAYER_TESTS:
        module, _, name = test.partition("::")
        assert name in functions_of(TESTS / module), f"{test} does not exist"
    every_name = set().union(*(names_in(f) for p in TESTS.glob("*.py") for f in functions_of(p).values()))
    assert set(layers.LAYER_FIXTURES) <= every_name


def test_a_fast_test_that_starts_a_process_fails_saying_what_to_mark(request):
    with pytest.raises(pytest.fail.Exception) as failure:
        subprocess.run([sys.executable, "-c", "pass"], timeout=30)
    assert str(failure.value) == (
        f"{request.node.nodeid} starts `{sys.executable} -c pass` but is not marked cli or "
        f"processes; add its fixture, module or name to the tables of tests/support/layers.py")
    assert "is not marked node;" in unannounced_process(request.node, ["/usr/bin/node", "driver.mjs"])
    assert "is not marked browser;" in unannounced_process(request.node, ["/usr/bin/chromedriver"])
