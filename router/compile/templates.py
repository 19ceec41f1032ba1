"""Jinja2 payload templates: sandboxed, compiled once at startup, rendered per message.

Only strings written in the YAML are compiled. Values a client sends are data in
the render context and are never compiled, so ``{{ 7*7 }}`` sent by a client
comes back as that literal text.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

from jinja2 import StrictUndefined, TemplateError, Undefined, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from router.compile.template_paths import fast_expression, fast_text
from router.config.problems import suggest
from router.errors import StepError

# The names a template may use. `error` (the message) and `failure` (the whole error payload)
# exist only in on_error steps; a step plugin adds the names it `provides` for the steps after it.
EVENT_NAMES = frozenset({"data", "args", "event", "namespace", "sid", "auth", "identity", "count",
                         "recovered"})
ERROR_NAMES = EVENT_NAMES | {"error", "failure"}

_SINGLE_EXPRESSION = re.compile(r"^\{\{(.*)\}\}$", re.DOTALL)


class TemplateProblem(Exception):
    """A template in the config cannot be compiled; ``path`` is relative to the value compiled."""

    def __init__(self, message: str, path: tuple = (), hint: str | None = None):
        super().__init__(message)
        self.path = path
        self.hint = hint


class Value:
    """A compiled option value. ``static`` values render to themselves at no cost."""

    static = True

    def __init__(self, value: Any):
        self.value = value

    def render(self, context: dict) -> Any:
        return self.value

    def render_in(self, ctx) -> Any:
        """``render(ctx.template_context())`` for the message a StepContext handles; plain
        lookups read only the variables they use from it (router/compile/template_paths.py)."""
        return self.value


class _Expression(Value):
    """``"{{ expr }}"`` alone: keeps the expression's type (number, list, mapping, bytes)."""

    static = False

    def __init__(self, source: str, expression: Callable):
        self.source = source
        self.expression = expression

    def render(self, context: dict) -> Any:
        try:
            result = self.expression(context)
            if isinstance(result, Undefined):
                result._fail_with_undefined_error()
            if callable(result):
                raise StepError(f"template {self.source!r} gives a function, not data")
            return result
        except (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError,
                LookupError, AttributeError) as exc:
            raise StepError(f"template {self.source!r}: {exc}") from exc

    def render_in(self, ctx) -> Any:
        return self.render(ctx.template_context())


class _Text(Value):
    """A string with template parts around or between text: renders to a string."""

    static = False

    def __init__(self, source: str, template):
        self.source = source
        self.template = template

    def render(self, context: dict) -> Any:
        try:
            return self.template.render(context)
        except (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError,
                LookupError, AttributeError) as exc:
            raise StepError(f"template {self.source!r}: {exc}") from exc

    def render_in(self, ctx) -> Any:
        return self.render(ctx.template_context())


class _Mapping(Value):
    static = False

    def __init__(self, items: dict[Any, Value]):
        self.items = items

    def render(self, context: dict) -> Any:
        return {key: value.render(context) for key, value in self.items.items()}

    def render_in(self, ctx) -> Any:
        return {key: value.render_in(ctx) for key, value in self.items.items()}


class _Sequence(Value):
    static = False

    def __init__(self, items: list[Value]):
        self.items = items

    def render(self, context: dict) -> Any:
        return [value.render(context) for value in self.items]

    def render_in(self, ctx) -> Any:
        return [value.render_in(ctx) for value in self.items]


class PayloadEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, with JSON-object keys winning over dict methods (``data.items`` is a key)."""

    def getattr(self, obj, attribute):
        if type(obj) is dict:
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)


class TemplateEngine:
    """Compiles the templates of one config in one sandboxed Jinja2 environment."""

    def __init__(self):
        # StrictUndefined: a missing field is a clear error to the client, not an empty string.
        # autoescape off: payloads are JSON data, not HTML.
        self.env = PayloadEnvironment(undefined=StrictUndefined, autoescape=False,
                                                 keep_trailing_newline=True)
        # A config repeats its templates ("{{ data.room }}" in every room step): compile each once.
        self._compiled: dict[tuple[str, frozenset], Value] = {}

    def compile(self, value: Any, allowed: Iterable[str] = EVENT_NAMES) -> Value:
        """Compile every template string inside ``value`` (nested mappings and lists too)."""
        return self._compile(value, frozenset(allowed), ())

    def _compile(self, value: Any, allowed: frozenset, path: tuple) -> Value:
        if isinstance(value, str):
            return self._compile_string(value, allowed, path)
        if isinstance(value, dict):
            items = {key: self._compile(item, allowed, path + (key,)) for key, item in value.items()}
            if all(item.static for item in items.values()):
                return Value(value)
            return _Mapping(items)
        if isinstance(value, list):
            items = [self._compile(item, allowed, path + (index,)) for index, item in enumerate(value)]
            if all(item.static for item in items):
                return Value(value)
            return _Sequence(items)
        return Value(value)

    def _compile_string(self, text: str, allowed: frozenset, path: tuple) -> Value:
        if not is_template(text):
            return Value(text)
        compiled = self._compiled.get((text, allowed))
        if compiled is None:
            compiled = self._compiled[(text, allowed)] = self._compile_template(text, allowed, path)
        return compiled

    def _compile_template(self, text: str, allowed: frozenset, path: tuple) -> Value:
        try:
            tree = self.env.parse(text)
        except TemplateError as exc:
            raise TemplateProblem(f"template syntax error in {text!r}: {exc}", path,
                                  hint="Jinja2 syntax: {{ data.field }}, {{ x | default('y') }}, "
                                       "{% if ... %}...{% endif %}") from None
        # Before find_undeclared_variables: its code generator stops at an unknown filter.
        self._check_filters_and_tests(text, tree, path)
        try:
            unknown = sorted(meta.find_undeclared_variables(tree) - allowed)
        except TemplateError as exc:  # whatever else Jinja's code generator refuses
            raise TemplateProblem(f"template {text!r}: {exc}", path) from None
        if unknown:
            names = ", ".join(sorted(allowed))
            raise TemplateProblem(f"template {text!r} uses unknown variable {unknown[0]!r}", path,
                                  hint=f"templates here can use: {names}")
        if _is_single_expression(tree):
            inner = _SINGLE_EXPRESSION.match(text).group(1)
            inner = re.sub(r"^-|-$", "", inner.strip()).strip()  # whitespace control {{- x -}}

            def expression() -> _Expression:
                try:
                    return _Expression(text, self.env.compile_expression(inner, undefined_to_none=False))
                except TemplateError as exc:
                    raise TemplateProblem(f"template syntax error in {text!r}: {exc}", path) from None

            return fast_expression(text, tree, expression)
        return fast_text(text, tree, lambda: _Text(text, self.env.from_string(tree)))

    def _check_filters_and_tests(self, text: str, tree: nodes.Template, path: tuple) -> None:
        """Every filter and test the template names exists; Jinja would say so at the first
        message (a test inside ``{% if %}``), or only when the fast path falls back to it."""
        for kind, node_type, known in (("filter", nodes.Filter, self.env.filters),
                                       ("test", nodes.Test, self.env.tests)):
            for node in tree.find_all(node_type):
                if node.name not in known:
                    hint = suggest(node.name, sorted(known), listing=f"the {kind}s are")
                    raise TemplateProblem(f"template {text!r} uses unknown {kind} {node.name!r}",
                                          path, hint=hint)


def is_template(text: str) -> bool:
    """Whether a string of the config is a template (else it is taken as written)."""
    return "{{" in text or "{%" in text or "{#" in text


def _is_single_expression(tree: nodes.Template) -> bool:
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return False
    parts = tree.body[0].nodes
    return len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData)
