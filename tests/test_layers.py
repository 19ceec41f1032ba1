"""The layers of router/ import one way: from the command line down to the config models.

Read from the source (ast, nothing is imported or run), so a lazy import inside a
function counts as much as one at the top. The order and the reasons are written in
router/__init__.py; a failure names the file, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "router"

# Lowest first: a layer may import the layers before it in this list, never those after it.
ORDER = ["base", "plugin_api", "config", "plugins", "builtins", "compile", "runtime", "http",
         "server", "cli"]
BASE_MODULES = {"errors", "text", "credentials", "delivery"}
# upstream/ overrides library internals: only the server uses it, and it uses nothing of ours
# but the base modules, so an upgrade is checked in one place.
UPSTREAM = "upstream"
UPSTREAM_USERS = {"server", "cli"}
# The config layer reads YAML and validates it: no web framework and no Socket.IO stack.
CONFIG_FORBIDDEN = ("flask", "flask_socketio", "socketio", "engineio", "werkzeug", "eventlet", "gevent",
                    "geventwebsocket")


def layer_of(module: str) -> str:
    """``router.config.models`` -> ``config``; ``router.errors`` -> ``base``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    if parts[1] in BASE_MODULES:
        return "base"
    return parts[1]


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path):
    """(line, imported module) for every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "router" or (node.level and not node.module):
                for alias in node.names:  # from router import errors
                    yield node.lineno, f"{target}.{alias.name}"
            else:
                yield node.lineno, target


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = module_name(path)
        mine = layer_of(here)
        where = path.relative_to(ROOT)
        for line, target in imports_of(path):
            top = target.split(".")[0]
            if mine == "config" and top in CONFIG_FORBIDDEN:
                found.append(f"{where}:{line}: imports {target}; the config layer does not use "
                             f"Flask or the Socket.IO stack")
            if top != "router" or target == "router":
                continue
            theirs = layer_of(target)
            if theirs == "package" or mine == "package":
                continue  # router/__init__.py re-exports the plugin contract lazily
            if theirs == UPSTREAM:
                if mine not in UPSTREAM_USERS and mine != UPSTREAM:
                    found.append(f"{where}:{line}: imports {target}; only the server uses the "
                                 f"overrides in router/upstream/")
                continue
            if mine == UPSTREAM:
                if theirs != "base":
                    found.append(f"{where}:{line}: imports {target}; router/upstream/ imports "
                                 f"nothing of ours but errors and text")
                continue
            if ORDER.index(theirs) > ORDER.index(mine):
                found.append(f"{where}:{line}: imports {target}, but {mine} is below {theirs}; "
                             f"imports run {' -> '.join(reversed(ORDER))}")
    return found


def test_every_import_runs_down_the_layers():
    problems = violations()
    assert not problems, "\n".join(problems)


def test_every_module_belongs_to_a_layer():
    layers = set(ORDER) | {UPSTREAM, "base", "package"}
    strays = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
              if layer_of(module_name(p)) not in layers]
    assert not strays, f"modules outside every layer: {strays}; put them in a layer's folder"


def test_at_most_eight_modules_stay_in_the_package_root():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


@pytest.mark.parametrize("folder", sorted(p.name for p in PACKAGE.iterdir()
                                          if (p / "__init__.py").exists()))
def test_each_layer_says_its_job(folder):
    docstring = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
    assert docstring and len(docstring.split()) >= 8, f"router/{folder}/__init__.py needs a docstring"


def test_the_checker_catches_an_import_that_runs_back_up(tmp_path, monkeypatch):
    """The rule itself: a config module importing the runtime is reported with file and line."""
    fake_root = tmp_path
    (fake_root / "router" / "config").mkdir(parents=True)
    (fake_root / "router" / "__init__.py").write_text("")
    (fake_root / "router" / "config" / "__init__.py").write_text('"""config"""\n')
    (fake_root / "router" / "config" / "bad.py").write_text(
        "import json\n\ndef f():\n    from router.runtime.dispatch import Dispatcher\n    import flask\n")
    globals_ = globals()
    monkeypatch.setitem(globals_, "ROOT", fake_root)
    monkeypatch.setitem(globals_, "PACKAGE", fake_root / "router")
    found = violations()
    assert any(p.startswith("router/config/bad.py:4: imports router.runtime.dispatch, but config "
                            "is below runtime") for p in found), found
    assert any(p.startswith("router/config/bad.py:5: imports flask") for p in found), found
