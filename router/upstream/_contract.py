"""What an upstream module relies on, written as data that tests/test_upstream_contract.py checks.

Each module of router/upstream/ declares ``SEAM = Seam(name, tested_with, requires=[Needs(...)])``:
every library name its override reads, calls, replaces or subclasses, with the
parameters and attributes it assumes. :meth:`Seam.problems` compares that with the
installed libraries, so an update that renames, drops or reshapes one of them is
reported by seam and name, not by a failure somewhere far from the override.
Standard library only: router/upstream/ imports nothing of ours but the base modules.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import textwrap
from dataclasses import dataclass, field
from importlib import metadata


@dataclass(frozen=True)
class Needs:
    """One name in a library that an override relies on.

    ``name`` is a dotted path inside ``module`` (``"Socket.close"``). ``parameters``
    must all be accepted by the callable (for a class: its constructor); with
    ``exact`` they are its whole parameter list, in order, as for a method we
    override and call ``super()`` on. ``attributes`` are what an instance of the
    class has: class attributes, or ``self.<name>`` assigned in a method of the
    class or of a base class.
    """

    module: str
    name: str
    parameters: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    exact: bool = False

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"

    def problems(self) -> list[str]:
        try:
            target = importlib.import_module(self.module)
        except ImportError as exc:
            return [f"{self.module} cannot be imported ({exc})"]
        walked = self.module
        for part in self.name.split("."):
            walked = f"{walked}.{part}"
            try:
                owner, target = target, getattr(target, part)
            except AttributeError:
                return [f"{walked} no longer exists"]
        target = _uninstrumented(owner, self.name.rsplit(".", 1)[-1], target)
        return self._parameter_problems(target) + self._attribute_problems(target)

    def _parameter_problems(self, target) -> list[str]:
        if not self.parameters:
            return []
        try:
            actual = list(inspect.signature(target).parameters)
        except (TypeError, ValueError):
            return [f"{self.qualified} has no signature to check any more"]
        if self.exact and actual != list(self.parameters):
            return [f"{self.qualified} takes ({', '.join(actual)}) now; the override assumes "
                    f"({', '.join(self.parameters)})"]
        return [f"{self.qualified} no longer takes {name!r}" for name in self.parameters
                if name not in actual]

    def _attribute_problems(self, target) -> list[str]:
        if not self.attributes:
            return []
        if not isinstance(target, type):
            return [f"{self.qualified} is no longer a class"]
        assigned = instance_attributes(target)
        return [f"{self.qualified} instances no longer have {name!r}" for name in self.attributes
                if not hasattr(target, name) and name not in assigned]


@dataclass(frozen=True)
class Seam:
    """The names one upstream module relies on, and the library versions it was tested with."""

    name: str
    tested_with: dict[str, str]
    requires: list[Needs] = field(default_factory=list)

    def problems(self) -> list[str]:
        """What no longer matches, one line each: ``seam 'name': what changed``."""
        return [f"seam {self.name!r}: {problem}" for need in self.requires
                for problem in need.problems()]

    def versions(self) -> str:
        """``python-engineio 4.15.1 (tested with 4.15.1)``, for each library the seam names."""
        shown = []
        for package, tested in self.tested_with.items():
            try:
                installed = metadata.version(package)
            except metadata.PackageNotFoundError:
                installed = "not installed"
            shown.append(f"{package} {installed} (tested with {tested})")
        return ", ".join(shown)


@functools.cache
def _uninstrumented(owner, name: str, value):
    """The library's own ``owner.name`` when python-socketio's Admin UI has wrapped it.

    ``InstrumentedServer`` (socketio/admin.py) replaces engine.io Socket methods on the
    class, for the whole process, with partialmethods, keeping the original under a
    mangled name that a second instrumentation overwrites with the first one's wrapper.
    An app with the Admin UI must not read as a library change, so the method is then
    read from the class as its module's source defines it: the module run afresh.
    """
    if not isinstance(inspect.getattr_static(owner, name, None), functools.partialmethod):
        return value
    fresh = _fresh_module(owner.__module__)
    for part in owner.__qualname__.split("."):
        fresh = getattr(fresh, part)
    return getattr(fresh, name)


def _fresh_module(module: str):
    """``module`` executed again under a private name, its relative imports resolving as usual."""
    spec = importlib.util.find_spec(module)
    fresh_spec = importlib.util.spec_from_file_location(f"_seam_check_{module}", spec.origin)
    fresh = importlib.util.module_from_spec(fresh_spec)
    fresh.__package__ = spec.parent
    fresh_spec.loader.exec_module(fresh)
    return fresh


def instance_attributes(cls: type) -> frozenset[str]:
    """The names assigned as ``self.<name>`` in the source of ``cls`` and its bases."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # a class written in C: only its class attributes count
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id == "self":
                names.add(node.attr)
    return frozenset(names)
