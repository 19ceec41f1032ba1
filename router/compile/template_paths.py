"""Plain lookups such as ``{{ data.room }}``, rendered without Jinja's runtime, same results.

Most payload templates only pick a field out of what the client sent. Jinja renders
one by building a context object and calling generated code, about 8 us a
template; a direct lookup takes a fraction of that. It covers one case: every
step goes into a plain ``dict`` whose key is present, or a ``list`` by an index
in range, and the result is not callable. In that case the sandbox
(``PayloadEnvironment``: keys win over dict methods) returns that very value,
and a text template writes it with ``str()``. Anything else (a missing key, an
object, a filter, ``args[-1]``) is rendered by the compiled Jinja template, which
gives the value or the error message it always gave.
"""

from __future__ import annotations

from typing import Any

from jinja2 import nodes

_MISS = object()

# A path: the variable's name, then each key or index, e.g. ("data", ("room",)).
Path = tuple[str, tuple]


def path_of(node: nodes.Node) -> Path | None:
    """``data.room``, ``data["room"]``, ``args[0]`` as a :data:`Path`; None for anything else."""
    keys = []
    while True:
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and type(node.arg.value) in (str, int):
            keys.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            return node.name, tuple(reversed(keys))
        else:
            return None


def lookup(context: dict, path: Path) -> Any:
    """The value at ``path``, or ``_MISS`` when only Jinja can say what it is."""
    return follow(context.get(path[0], _MISS), path[1])


def follow(value: Any, keys: tuple) -> Any:
    """The value ``keys`` reach from a variable's ``value``, or ``_MISS`` (as :func:`lookup`)."""
    if value is _MISS:
        return _MISS
    for key in keys:
        kind = type(value)
        if kind is dict:
            value = value.get(key, _MISS)
        elif kind is list and type(key) is int and 0 <= key < len(value):
            value = value[key]
        else:
            return _MISS
        if value is _MISS:
            return _MISS
    if callable(value):  # Jinja refuses functions; let it say so
        return _MISS
    return value


class _PathTemplate:
    """Holds the Jinja template to fall back on, compiled the first time it is needed.

    Most path templates never need it, and compiling is most of what ``check``
    spends on templates; the text has already been parsed and its names checked.
    """

    static = False

    def __init__(self, source: str, make_jinja):
        self.source = source
        self._make_jinja = make_jinja
        self._jinja = None

    @property
    def jinja(self):
        if self._jinja is None:
            self._jinja = self._make_jinja()
        return self._jinja

    @jinja.setter
    def jinja(self, value):
        self._jinja = value


class PathExpression(_PathTemplate):
    """``"{{ data.room }}"``: the looked-up value itself, keeping its type."""

    def __init__(self, source: str, path: Path, make_jinja):
        super().__init__(source, make_jinja)  # make_jinja() -> the compiled _Expression
        self.path = path

    def render(self, context: dict) -> Any:
        value = lookup(context, self.path)
        return self.jinja.render(context) if value is _MISS else value

    def render_in(self, ctx) -> Any:
        """``render(ctx.template_context())``, reading the one variable it needs from ``ctx``."""
        name, keys = self.path
        value = follow(ctx.template_value(name, _MISS), keys)
        return self.jinja.render(ctx.template_context()) if value is _MISS else value


class PathText(_PathTemplate):
    """``"{{ data.user }} has joined"``: literal text and looked-up values written with str()."""

    def __init__(self, source: str, parts: tuple, make_jinja):
        super().__init__(source, make_jinja)  # make_jinja() -> the compiled _Text
        self.parts = parts  # str for literal text, a Path for a value

    def render(self, context: dict) -> str:
        out = []
        for part in self.parts:
            if type(part) is str:
                out.append(part)
                continue
            value = lookup(context, part)
            if value is _MISS:
                return self.jinja.render(context)
            out.append(str(value))
        return "".join(out)

    def render_in(self, ctx) -> str:
        """``render(ctx.template_context())``, reading the variables it needs from ``ctx``."""
        out = []
        for part in self.parts:
            if type(part) is str:
                out.append(part)
                continue
            value = follow(ctx.template_value(part[0], _MISS), part[1])
            if value is _MISS:
                return self.jinja.render(ctx.template_context())
            out.append(str(value))
        return "".join(out)


def fast_expression(source: str, tree: nodes.Template, make_jinja):
    """A :class:`PathExpression` if the single expression of ``tree`` is a path, else ``make_jinja()``."""
    path = path_of(tree.body[0].nodes[0])
    return make_jinja() if path is None else PathExpression(source, path, make_jinja)


def fast_text(source: str, tree: nodes.Template, make_jinja):
    """A :class:`PathText` if ``tree`` is only text and paths, else ``make_jinja()``."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return make_jinja()
    parts = []
    for node in tree.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            parts.append(node.data)
            continue
        path = path_of(node)
        if path is None:
            return make_jinja()
        parts.append(path)
    return PathText(source, tuple(parts), make_jinja)
