"""A step's options, compiled: validated at startup, templated ones typed again after rendering.

A template is text until a message renders it, so at startup an option written as a
template is accepted whatever its declared type (``times: "{{ data.n }}"`` for an
``int``), and every other option is validated as the plugin's model says. After
rendering, each templated option is validated against its declared type and Field
constraints, with pydantic's coercion (``"2"`` becomes ``2`` for an ``int``), by a
``TypeAdapter`` built here once per plugin option; an option typed ``Any`` is not
checked at all. A value that does not fit is a :class:`StepError` for that client,
naming the option and what it got (``text: expected a string, got 42``).

A plugin's ``@field_validator`` and ``@model_validator`` methods run at startup, on
the options as written; what must hold of a rendered value belongs in its type
(``Annotated[str, AfterValidator(...)]``, ``Field(ge=1)``).
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PydanticUserError,
    TypeAdapter,
    ValidationError,
    create_model,
)

from router.compile.templates import TemplateEngine, TemplateProblem, Value, is_template
from router.config.problems import problems_from_errors
from router.config.source import ConfigSource, format_path
from router.errors import Problem, StepError
from router.text import shown

# What a value of a type is, by pydantic error type, for "expected ..., got ...".
_EXPECTED = {
    "string_type": "a string",
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "list_type": "a list", "tuple_type": "a list", "set_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "none_required": "null",
}
# A template excuses an error about its value's type, not these: the option itself is wrong, or a
# validator of the plugin (or a file option's reader) refused the text as written.
_NOT_EXCUSED = ("extra_forbidden", "missing", "value_error", "assertion_error")

_PLAIN = (str, int, float, bool, type(None))
_UNIONS = (typing.Union, types.UnionType)

# One templated option: its field name, its compiled template, its check (None: typed Any).
Renderer = tuple[str, Value, "OptionCheck | None"]


class OptionCheck:
    """Validates one rendered option against its declared type, once per message."""

    __slots__ = ("key", "adapter", "as_is")

    def __init__(self, key: str, adapter: TypeAdapter, as_is: frozenset[type] = frozenset()):
        self.key = key  # as written in the YAML (a field's alias, if it has one)
        self.adapter = adapter
        self.as_is = as_is  # types pydantic would return unchanged: no call for them

    def __call__(self, value: Any) -> Any:
        if type(value) in self.as_is:
            return value
        try:
            return self.adapter.validate_python(value)
        except ValidationError as exc:
            raise StepError(misfit(self.key, value, exc.errors())) from None


def misfit(key: str, value: Any, errors: list[dict]) -> str:
    """``text: expected a string, got 42``: what a rendered option should have been."""
    by_location: dict[tuple, list[dict]] = {}
    for error in errors:
        by_location.setdefault(_follow(value, error["loc"])[0], []).append(error)
    parts = []
    for loc, found in by_location.items():
        expected = [_EXPECTED.get(error["type"]) for error in found]
        got = shown(found[0]["input"])
        where = format_path((key,) + loc)
        if all(expected):
            parts.append(f"{where}: expected {' or '.join(dict.fromkeys(expected))}, got {got}")
        else:
            message = found[0]["msg"].removeprefix("Value error, ").removeprefix("Input ")
            parts.append(f"{where}: {message}, got {got}")
    return "; ".join(parts)


def _follow(value: Any, loc: tuple) -> tuple[tuple, Any]:
    """The keys and indexes of a pydantic ``loc`` that are in ``value``, and the value they reach;
    the other parts name the union members pydantic tried."""
    found = []
    for part in loc:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, (list, tuple)) and isinstance(part, int) and -len(value) <= part < len(value):
            value = value[part]
        else:
            continue
        found.append(part)
    return tuple(found), value


class OptionsCompiler:
    """Compiles the options of every step of one config; its caches are for that config."""

    def __init__(self, engine: TemplateEngine, source: ConfigSource):
        self.engine = engine
        self.source = source
        self._checks: dict[tuple[type, str], OptionCheck | None] = {}
        self._startup_models: dict[tuple[type, frozenset], type[BaseModel]] = {}

    def compile(self, model: type[BaseModel], raw: dict[str, Any], path: tuple, names: frozenset,
                problems: list[Problem], context: dict | None = None
                ) -> tuple[BaseModel | None, tuple[Renderer, ...]]:
        """The options validated, and the renderers of the templated ones (appends to ``problems``).

        ``context`` is pydantic's validation context (the loader's file reader, the step's path)."""
        fields_by_key = {(field.alias or name): name for name, field in model.model_fields.items()}
        templated: dict[str, Value] = {}  # field name -> its compiled template
        template_problems = []
        for key, value in raw.items():
            try:
                compiled = self.engine.compile(value, names)
            except TemplateProblem as exc:
                template_problems.append(self.source.problem(path + (key,) + exc.path, str(exc), exc.hint))
                continue
            if not compiled.static and key in fields_by_key:
                templated[fields_by_key[key]] = compiled
        options = self._validate(model, raw, path, frozenset(templated), fields_by_key, problems, context)
        problems.extend(template_problems)
        if options is None or template_problems:
            return None, ()
        renderers = tuple((name, value, self._check(model, name)) for name, value in templated.items())
        return options, renderers

    def _validate(self, model: type[BaseModel], raw: dict, path: tuple, templated: frozenset,
                  fields_by_key: dict, problems: list[Problem], context: dict | None) -> BaseModel | None:
        try:
            return model.model_validate(raw, context=context)
        except ValidationError as exc:
            errors = [error for error in exc.errors()
                      if not _excused_by_a_template(error, raw, fields_by_key)]
        if errors:
            problems.extend(problems_from_errors(errors, self.source, path, model, what="option"))
            return None
        # Only templates did not fit: validate the rest, the templated options typed Any.
        startup_model = self._startup_model(model, templated)
        try:
            written = startup_model.model_validate(raw, context=context)
        except ValidationError as exc:
            problems.extend(problems_from_errors(exc.errors(), self.source, path, model, what="option"))
            return None
        options = model.model_construct(_fields_set=written.model_fields_set, **written.__dict__)
        options.__pydantic_private__ = written.__pydantic_private__  # state its validators set up
        return options

    def _startup_model(self, model: type[BaseModel], templated: frozenset) -> type[BaseModel]:
        """``model`` with each templated option typed Any (required or with its default)."""
        key = (model, templated)
        if key not in self._startup_models:
            fields = {}
            for name in templated:
                field = model.model_fields[name]
                default = ... if field.is_required() else field.get_default(call_default_factory=True)
                fields[name] = (Any, Field(default, alias=field.alias))
            self._startup_models[key] = create_model(model.__name__, __base__=model, **fields)
        return self._startup_models[key]

    def _check(self, model: type[BaseModel], name: str) -> OptionCheck | None:
        key = (model, name)
        if key not in self._checks:
            field = model.model_fields[name]
            if field.annotation is Any and not field.metadata:
                self._checks[key] = None  # anything fits
            else:
                self._checks[key] = OptionCheck(field.alias or name, _adapter(model, field), _as_is(field))
        return self._checks[key]


def _adapter(model: type[BaseModel], field) -> TypeAdapter:
    """A validator for the field's type and Field constraints alone (not the model's methods)."""
    typed = Annotated[field.annotation, field]
    config = ConfigDict(arbitrary_types_allowed=bool(model.model_config.get("arbitrary_types_allowed")))
    try:
        return TypeAdapter(typed, config=config)
    except PydanticUserError:  # a model or dataclass type brings its own config
        return TypeAdapter(typed)


def _as_is(field) -> frozenset[type]:
    """For ``str``, ``int``, ``float``, ``bool`` (or one of them ``| None``) without constraints,
    the types a value of which pydantic returns as it is; else none."""
    if field.metadata:
        return frozenset()
    members = typing.get_args(field.annotation) if typing.get_origin(field.annotation) in _UNIONS \
        else (field.annotation,)
    if all(member in _PLAIN for member in members):
        return frozenset(members)
    return frozenset()


def _excused_by_a_template(error: dict, raw: dict, fields_by_key: dict) -> bool:
    """True when the error is about a value written as a template: checked once rendered."""
    loc = error["loc"]
    if error["type"] in _NOT_EXCUSED or not loc or loc[0] not in fields_by_key:
        return False
    value = _follow(raw, loc)[1]
    return isinstance(value, str) and is_template(value)
