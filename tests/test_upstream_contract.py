"""Every override in router/upstream/ still finds the library names it relies on, as it assumes them.

Each module there declares a ``SEAM`` (router/upstream/_contract.py): the modules,
names, parameters and attributes its override reads, replaces or subclasses. After a
library update this is the test that fails, naming the seam and what changed, rather
than a behaviour test somewhere far from the override.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import router.upstream
from router.upstream._contract import Needs, Seam

UPSTREAM = Path(router.upstream.__file__).parent
SEAM_MODULES = sorted(info.name for info in pkgutil.iter_modules([str(UPSTREAM)])
                      if not info.name.startswith("_"))


def seam_of(name: str) -> Seam:
    module = importlib.import_module(f"router.upstream.{name}")
    seam = getattr(module, "SEAM", None)
    assert isinstance(seam, Seam), (f"router/upstream/{name}.py declares no SEAM: list what it relies on "
                                    f"with Seam(...) from router/upstream/_contract.py")
    return seam


@pytest.mark.parametrize("name", SEAM_MODULES)
def test_every_overridden_name_is_still_there_as_the_override_assumes(name):
    seam = seam_of(name)
    assert seam.requires, f"seam {seam.name!r} lists nothing it relies on"
    problems = seam.problems()
    assert not problems, f"router/upstream/{name}.py, {seam.versions()}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", SEAM_MODULES)
def test_every_seam_starts_with_its_table_and_the_versions_it_was_tested_with(name):
    docstring = ast.get_docstring(ast.parse((UPSTREAM / f"{name}.py").read_text())) or ""
    assert "| module | name | why |" in docstring, f"router/upstream/{name}.py: no | module | name | why | table"
    tested = re.search(r"^tested with: (.+)$", docstring, re.MULTILINE)
    assert tested, f"router/upstream/{name}.py: no 'tested with:' line"
    listed = dict(item.strip().rsplit(" ", 1) for item in tested.group(1).split(","))
    assert listed == seam_of(name).tested_with, (
        f"router/upstream/{name}.py: the docstring says tested with {listed}, SEAM says "
        f"{seam_of(name).tested_with}")


def test_seam_names_are_unique():
    names = [seam_of(name).name for name in SEAM_MODULES]
    assert len(names) == len(set(names)), names


@pytest.fixture
def fake_library(tmp_path, monkeypatch):
    """An importable module ``fake_engineio`` whose Socket.close lost ``abort``, whose send()
    grew a parameter and whose sockets lost their ``queue``."""
    (tmp_path / "fake_engineio.py").write_text(
        "class BaseSocket:\n"
        "    def __init__(self):\n"
        "        self.closed = False\n"
        "class Socket(BaseSocket):\n"
        "    upgraded = False\n"
        "    def close(self, wait=True, reason=None):\n"
        "        pass\n"
        "    def send(self, pkt, *, urgent=False):\n"
        "        pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("fake_engineio", None)


def test_the_checker_names_the_seam_and_what_changed(fake_library):
    seam = Seam("engine.io sockets", {"python-engineio": "4.15.1"}, requires=[
        Needs("fake_engineio", "Socket.close", ("wait", "abort", "reason")),
        Needs("fake_engineio", "Socket.send", ("self", "pkt"), exact=True),
        Needs("fake_engineio", "Socket.receive"),
        Needs("fake_engineio", "Socket", attributes=("closed", "upgraded", "queue")),
        Needs("fake_engineio", "Socket.upgraded", attributes=("x",)),
        Needs("fake_engineio_gone", "Socket"),
    ])
    assert seam.problems() == [
        "seam 'engine.io sockets': fake_engineio.Socket.close no longer takes 'abort'",
        "seam 'engine.io sockets': fake_engineio.Socket.send takes (self, pkt, urgent) now; "
        "the override assumes (self, pkt)",
        "seam 'engine.io sockets': fake_engineio.Socket.receive no longer exists",
        "seam 'engine.io sockets': fake_engineio.Socket instances no longer have 'queue'",
        "seam 'engine.io sockets': fake_engineio.Socket.upgraded is no longer a class",
        "seam 'engine.io sockets': fake_engineio_gone cannot be imported "
        "(No module named 'fake_engineio_gone')",
    ]


def test_the_checker_passes_what_matches(fake_library):
    """Inherited methods, attributes assigned in a base class's __init__, class attributes."""
    seam = Seam("engine.io sockets", {}, requires=[
        Needs("fake_engineio", "Socket.close", ("self", "wait", "reason"), exact=True),
        Needs("fake_engineio", "Socket.__init__"),
        Needs("fake_engineio", "Socket", attributes=("closed", "upgraded")),
    ])
    assert seam.problems() == []


def test_versions_name_what_is_installed_beside_what_was_tested():
    from importlib import metadata

    seam = Seam("engine.io sockets", {"python-engineio": "4.15.1", "no-such-package-here": "1.0"})
    assert seam.versions() == (f"python-engineio {metadata.version('python-engineio')} (tested with 4.15.1), "
                               "no-such-package-here not installed (tested with 1.0)")
