"""Compile a validated config into runnable pipelines: plugins looked up, options validated,
templates compiled. Everything that can be wrong is found here, at startup, with its line.

The compiler knows no plugin and no feature by name. What a plugin needs is in its
spec (``answers_callback``); features outside the namespaces (pages, timers, the
message queue URL) hand in their own checks (``checks=``, assembled by
router/compile/load.py), each ``check(compiled, engine) -> problems``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from pydantic import BaseModel, ValidationError

from router.compile.options import OptionsCompiler, Renderer
from router.compile.policies import NamespacePolicy, compile_policies
from router.compile.templates import ERROR_NAMES, EVENT_NAMES, TemplateEngine
from router.config.models import (
    DEFAULT_ON_ERROR,
    NamespaceConfig,
    RouterConfig,
    StepSpec,
)
from router.config.problems import problems_from_validation, suggest
from router.config.source import ConfigSource
from router.errors import Problem, StartupError
from router.plugin_api import AUTH_RULE, CONFIG_PATH, FILE_READER, STEP, PluginSpec, StepContext
from router.plugins.registry import Registry


class CompiledStep:
    """A plugin with its validated options; templated options are rendered per message."""

    __slots__ = ("plugin", "handler", "options", "renderers", "label", "path", "_new")

    def __init__(self, plugin: PluginSpec, options: BaseModel, renderers: tuple[Renderer, ...],
                 label: str, path: tuple = ()):
        self.plugin = plugin
        self.handler = plugin.handler
        self.options = options
        self.renderers = renderers  # (field name, compiled template, its type check or None)
        self.label = label          # "step 2 (room.join)", for errors and logs
        self.path = path            # where it stands in the file: ("namespaces", "/chat", ...)
        self._new = type(options).__new__  # looked up once: on a pydantic model class it is slow

    def render_options(self, ctx: StepContext) -> BaseModel:
        """The options for the message ``ctx`` handles, each template rendered and checked (a
        misfit is a StepError). A shallow copy: private attributes (the step's own state, see
        router/plugin_api.py) and static options are the same objects as the compiled ones'."""
        if not self.renderers:
            return self.options
        options = _shallow_copy(self.options, self._new)  # the static options are shared, as written
        values = options.__dict__
        for name, template, check in self.renderers:
            rendered = template.render_in(ctx)
            values[name] = rendered if check is None else check(rendered)
        return options


def _shallow_copy(model: BaseModel, new: Callable) -> BaseModel:
    """``model.__copy__()`` without its three ``copy.copy`` calls: the field values, extra
    values, set fields and private attributes in new containers, as pydantic's
    ``BaseModel.__copy__`` makes them (its documented instance attributes). ``new`` is the
    model class's ``__new__``."""
    copied = new(type(model))
    copied.__dict__.update(model.__dict__)
    extra = model.__pydantic_extra__
    _set(copied, "__pydantic_extra__", None if extra is None else extra.copy())
    _set(copied, "__pydantic_fields_set__", model.__pydantic_fields_set__.copy())
    private = model.__pydantic_private__
    _set(copied, "__pydantic_private__", None if private is None else private.copy())
    return copied


# Past pydantic's __setattr__, as its own __copy__ sets these documented attributes. (Calling
# the __slots__ descriptors' setters instead saved 1,600 instructions a message, but BaseModel's
# slots are not a promise of pydantic's: not worth an override of its internals.)
_set = object.__setattr__


@dataclass
class AuthCheck:
    """A connect-auth rule, or an ``any:`` group of them."""

    name: str
    plugin: PluginSpec | None = None
    options: BaseModel | None = None
    any_of: list["AuthCheck"] = field(default_factory=list)
    path: tuple = ()


@dataclass
class CompiledNamespace:
    name: str
    class_ref: str | None = None
    auth: list[AuthCheck] = field(default_factory=list)
    on_connect: list[CompiledStep] = field(default_factory=list)
    on_disconnect: list[CompiledStep] = field(default_factory=list)
    events: dict[str, list[CompiledStep]] = field(default_factory=dict)
    on_error: list[CompiledStep] | None = None
    config: NamespaceConfig | None = None
    policy: NamespacePolicy | None = None  # rate, payload, schema and rooms limits (abuse_policy)


@dataclass
class CompiledRouter:
    config: RouterConfig
    source: ConfigSource
    registry: Registry
    namespaces: dict[str, CompiledNamespace]
    on_error: list[CompiledStep]
    timers: list = field(default_factory=list)  # CompiledTimer, set by the timers check

    def configured_plugins(self) -> Iterator[tuple[tuple, PluginSpec, BaseModel]]:
        """(YAML path, plugin, options) of every step and auth rule, in file order; for what
        plugins declare about their configured steps (``describe``, ``risks``, ``metrics``)."""
        for namespace in self.namespaces.values():
            yield from _rules(namespace.auth)
            for steps in (namespace.on_connect, *namespace.events.values(), namespace.on_disconnect,
                          namespace.on_error or ()):
                for step in steps:
                    yield step.path, step.plugin, step.options
        for step in self.on_error:
            yield step.path, step.plugin, step.options


def _rules(checks: list[AuthCheck]) -> Iterator[tuple[tuple, PluginSpec, BaseModel]]:
    for check in checks:
        if check.any_of:
            yield from _rules(check.any_of)
        elif check.plugin is not None:
            yield check.path, check.plugin, check.options


# A feature's startup check: problems of ``compiled``; it may attach what it compiled to it.
FeatureCheck = Callable[[CompiledRouter, "TemplateEngine"], list[Problem]]


def compile_router(config: RouterConfig, source: ConfigSource, registry: Registry,
                   read_file=None, checks: Iterable[FeatureCheck] = ()) -> CompiledRouter:
    """Compile every namespace, then run the features' ``checks``; raise one
    :class:`StartupError` listing every problem.

    ``read_file(path) -> FileText`` reads the files plugin options name (the loader's).
    """
    compiler = _Compiler(source, registry, read_file)
    namespaces = {}
    for name, namespace in config.namespaces.items():
        namespaces[name] = compiler.namespace(name, namespace, ("namespaces", name))
    compiler.problems.extend(compile_policies(config, source, registry, namespaces))
    default_error = compiler.steps(config.on_error if config.on_error is not None else DEFAULT_ON_ERROR,
                                   ("on_error",), ERROR_NAMES, "on_error")
    compiled = CompiledRouter(config, source, registry, namespaces, default_error)
    for check in checks:
        compiler.problems.extend(check(compiled, compiler.engine))
    if compiler.problems:
        raise StartupError(compiler.problems)
    return compiled


class _Compiler:
    def __init__(self, source: ConfigSource, registry: Registry, read_file=None):
        self.source = source
        self.registry = registry
        self.read_file = read_file
        self.engine = TemplateEngine()
        self.options = OptionsCompiler(self.engine, source)
        self.problems: list[Problem] = []

    def namespace(self, name: str, namespace: NamespaceConfig, path: tuple) -> CompiledNamespace:
        compiled = CompiledNamespace(name=name, class_ref=namespace.class_, config=namespace)
        if namespace.class_:
            self._check_class(namespace.class_, path + ("class",))
            return compiled
        compiled.auth = [self.auth_check(spec, path + ("auth", index))
                         for index, spec in enumerate(namespace.auth)]
        compiled.on_connect = self.steps(namespace.on_connect, path + ("on_connect",), EVENT_NAMES, "on_connect")
        compiled.on_disconnect = self.steps(namespace.on_disconnect, path + ("on_disconnect",),
                                            EVENT_NAMES, "on_disconnect")
        for event, spec in namespace.events.items():
            event_path = path + ("events", event)
            if event_path + ("steps",) in self.source.lines:  # written in full: {steps: [...], ...}
                event_path += ("steps",)
            compiled.events[event] = self.steps(spec.steps, event_path, EVENT_NAMES, "event")
        if namespace.on_error is not None:
            compiled.on_error = self.steps(namespace.on_error, path + ("on_error",), ERROR_NAMES, "on_error")
        return compiled

    def steps(self, specs: list[StepSpec], path: tuple, names: frozenset, where: str) -> list[CompiledStep]:
        compiled = []
        answering: list[str] = []  # the steps that answer the client's callback
        for index, spec in enumerate(specs):
            step_path = path + (index,)
            plugin = self.registry.step(spec.plugin)
            if plugin is None:
                self._unknown_plugin(spec.plugin, step_path, STEP)
                continue
            options, renderers = self.options.compile(plugin.options, spec.options,
                                                      step_path + (spec.plugin,), names, self.problems,
                                                      context=self._context(step_path))
            if _answers_callback(plugin, options):
                answering.append(plugin.name)
                if where in ("on_connect", "on_disconnect"):
                    self.problems.append(self.source.problem(
                        step_path, f"{plugin.name} answers a client's callback; it cannot run in {where}",
                        hint=f"use {plugin.name} in an event's steps or in on_error"))
                elif len(answering) == 2:
                    both = (f"two {plugin.name} steps" if answering[0] == plugin.name
                            else f"two steps that answer it ({answering[0]}, {plugin.name})")
                    self.problems.append(self.source.problem(
                        step_path, f"a callback is answered once; this event has {both}",
                        hint="keep one of them (use args: [a, b] to send several values)"))
            names = names | plugin.provides  # what it sets, the steps after it may use
            if options is not None:
                compiled.append(CompiledStep(plugin, options, renderers, f"step {index + 1} ({spec.plugin})",
                                             step_path))
        return compiled

    def auth_check(self, spec: StepSpec, path: tuple) -> AuthCheck:
        if spec.group is not None:
            return AuthCheck(name="any", any_of=[self.auth_check(rule, path + ("any", index))
                                                 for index, rule in enumerate(spec.group)])
        plugin = self.registry.auth_rule(spec.plugin)
        if plugin is None:
            self._unknown_plugin(spec.plugin, path, AUTH_RULE)
            return AuthCheck(name=spec.plugin)
        try:  # auth rule options are not templates
            options = plugin.options.model_validate(spec.options, context=self._context(path))
        except ValidationError as exc:
            self.problems.extend(problems_from_validation(exc, self.source, path + (spec.plugin,),
                                                          plugin.options, what="option"))
            options = None
        return AuthCheck(name=spec.plugin, plugin=plugin, options=options, path=path)

    def _context(self, path: tuple) -> dict:
        """What options validators see: the step's place in the file, and the loader's file reader."""
        context = {CONFIG_PATH: path}
        if self.read_file is not None:
            context[FILE_READER] = self.read_file
        return context

    def _unknown_plugin(self, name: str, path: tuple, kind: str) -> None:
        known = self.registry.names(kind)
        self.problems.append(self.source.problem(
            path, f"unknown {kind} plugin {name!r}",
            hint=" ".join(filter(None, [_sentence(suggest(name, known)),
                                        "Custom plugins go in the plugins directory."]))))

    def _check_class(self, reference: str, path: tuple) -> None:
        from flask_socketio import Namespace

        try:
            target = self.registry.resolve_object(reference)
        except LookupError as exc:
            self.problems.append(self.source.problem(path, str(exc),
                                                     hint="write class: \"module:ClassName\" with "
                                                          "module.py in the plugins directory"))
            return
        if not (isinstance(target, type) and issubclass(target, Namespace)):
            self.problems.append(self.source.problem(
                path, f"{reference!r} is not a flask_socketio.Namespace subclass",
                hint="define class MyNamespace(flask_socketio.Namespace) with on_<event> methods"))


def _answers_callback(plugin: PluginSpec, options: BaseModel | None) -> bool:
    """Whether a configured step answers the client's callback (a spec may ask its options)."""
    if callable(plugin.answers_callback):
        return options is not None and bool(plugin.answers_callback(options))
    return bool(plugin.answers_callback)


def _sentence(text: str | None) -> str | None:
    if not text:
        return None
    return text if text.endswith(("?", ".")) else text + "."
