"""The plugin registry: built-in, ``plugins/*.py`` and entry-point plugins, checked when registered."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import traceback
import types
from importlib.metadata import entry_points

from router.errors import Problem, StartupError
from router.plugin_api import AUTH_RULE, SPEC_ATTRIBUTE, STEP, PluginSpec

ENTRY_POINT_GROUP = "socketio_router.plugins"
# Files in plugins/ are imported as submodules of this package, so a plugin named
# redis.py cannot shadow the real redis package.
PLUGIN_PACKAGE = "socketio_router_plugins"


class Registry:
    """Plugins by kind and name. Registering a name twice is refused, naming both places."""

    def __init__(self):
        self._plugins: dict[tuple[str, str], PluginSpec] = {}
        self.modules: dict[str, types.ModuleType] = {}  # plugins/ modules by file stem

    def register(self, spec: PluginSpec) -> None:
        _check_signature(spec)
        key = (spec.kind, spec.name)
        if key in self._plugins:
            first = self._plugins[key]
            raise StartupError(Problem(
                f"{spec.kind} plugin {spec.name!r} is defined twice: at {first.origin} "
                f"and at {spec.origin}",
                hint="rename one of them; plugin names are global"))
        self._plugins[key] = spec

    def register_module(self, module: types.ModuleType) -> int:
        """Register every marked function of ``module``, in definition order."""
        count = 0
        for value in list(vars(module).values()):
            # type(), not getattr/isinstance: a module may hold proxies such as flask.request.
            if type(value) is not types.FunctionType:
                continue
            spec = getattr(value, SPEC_ATTRIBUTE, None)
            if isinstance(spec, PluginSpec) and spec.handler is value:
                self.register(spec)
                count += 1
        return count

    def step(self, name: str) -> PluginSpec | None:
        return self._plugins.get((STEP, name))

    def auth_rule(self, name: str) -> PluginSpec | None:
        return self._plugins.get((AUTH_RULE, name))

    def names(self, kind: str) -> list[str]:
        return sorted(name for (k, name) in self._plugins if k == kind)

    def specs(self, kind: str) -> list[PluginSpec]:
        return [self._plugins[(kind, name)] for name in self.names(kind)]

    def secret_options(self) -> dict[str, frozenset[str]]:
        """Each plugin's declared secret options, by plugin name (for ``check --strict``)."""
        return {spec.name: spec.secret_options for spec in self._plugins.values() if spec.secret_options}

    def load_directory(self, directory: str) -> None:
        """Import every ``*.py`` in ``directory`` (sorted by name; ``_*.py`` are helpers, skipped)."""
        package = _plugin_package(directory)
        for filename in sorted(os.listdir(directory)):
            if not filename.endswith(".py") or filename.startswith("_"):
                continue
            stem = filename[:-3]
            path = os.path.join(directory, filename)
            module = _import_plugin_file(package, stem, path)
            self.modules[stem] = module
            try:
                self.register_module(module)
            except StartupError as exc:
                raise StartupError([_with_file(p, path) for p in exc.problems]) from None

    def load_entry_points(self) -> None:
        """Register the plugins of installed packages (entry-point group ``socketio_router.plugins``)."""
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                target = entry.load()
            except Exception as exc:  # an installed package failed to import
                raise StartupError(Problem(
                    f"plugin entry point {entry.name!r} ({entry.value}) failed to load: "
                    f"{type(exc).__name__}: {exc}",
                    hint="reinstall or uninstall the package that provides it")) from None
            if isinstance(target, types.ModuleType):
                self.register_module(target)
            else:
                spec = getattr(target, SPEC_ATTRIBUTE, None)
                if spec is None:
                    raise StartupError(Problem(
                        f"plugin entry point {entry.name!r} ({entry.value}) is neither a module "
                        f"nor a function marked with @step/@auth_rule"))
                self.register(spec)

    def resolve_object(self, reference: str):
        """``"module:Name"``: a module from plugins/ first, else an importable module."""
        module_name, _, attribute = reference.partition(":")
        if not module_name or not attribute:
            raise LookupError(f"{reference!r} is not of the form 'module:ClassName'")
        module = self.modules.get(module_name)
        if module is None:
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise LookupError(f"no module {module_name!r} in the plugins directory, "
                                  f"and it cannot be imported: {exc}") from None
        try:
            return getattr(module, attribute)
        except AttributeError:
            raise LookupError(f"module {module_name!r} has no attribute {attribute!r}") from None


def _check_signature(spec: PluginSpec) -> None:
    """Handlers take exactly (context, options): checked now, not at the first message."""
    try:
        signature = inspect.signature(spec.handler)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(object(), object())
    except TypeError:
        raise StartupError(Problem(
            f"{spec.kind} plugin {spec.name!r} at {spec.origin} has the signature "
            f"{spec.handler.__name__}{signature}; it must accept (ctx, options)",
            hint=f"define it as: def {spec.handler.__name__}(ctx, options): ...")) from None


def _plugin_package(directory: str) -> str:
    """A package whose __path__ is the plugins directory; recreated for each directory."""
    package = types.ModuleType(PLUGIN_PACKAGE)
    package.__path__ = [os.path.abspath(directory)]
    sys.modules[PLUGIN_PACKAGE] = package
    for name in [n for n in sys.modules if n.startswith(PLUGIN_PACKAGE + ".")]:
        del sys.modules[name]
    return PLUGIN_PACKAGE


def _import_plugin_file(package: str, stem: str, path: str) -> types.ModuleType:
    name = f"{package}.{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except StartupError as exc:
        raise StartupError([_with_file(p, path) for p in exc.problems]) from None
    except SyntaxError as exc:
        del sys.modules[name]
        raise StartupError(Problem(f"syntax error in plugin: {exc.msg}", file=path,
                                   line=exc.lineno)) from None
    except Exception as exc:
        del sys.modules[name]
        line = _line_in(path, exc)
        hint = None
        if isinstance(exc, ImportError):
            hint = "install the missing package, or remove the file from the plugins directory"
        raise StartupError(Problem(f"plugin failed to import: {type(exc).__name__}: {exc}",
                                   file=path, line=line, hint=hint)) from None
    return module


def _line_in(path: str, exc: BaseException) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(path):
            line = frame.lineno
    return line


def _with_file(problem: Problem, path: str) -> Problem:
    if problem.file:
        return problem
    return Problem(problem.message, file=path, line=problem.line, path=problem.path,
                   hint=problem.hint)
