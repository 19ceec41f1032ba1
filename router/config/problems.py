"""Turn pydantic validation errors into located problems a user can act on."""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from router.config.source import ConfigSource
from router.errors import Problem
from router.text import shown

_HINTS_BY_TYPE = {
    "bool_parsing": "write true or false without quotes",
    "int_parsing": "write a whole number without quotes",
    "float_parsing": "write a number without quotes",
    "literal_error": None,
    "dict_type": "write a mapping (key: value) here",
    "list_type": "write a list here (items starting with '- ')",
    "string_type": "quote the value to make it a string",
}


def suggest(name: str, choices: list[str], listing: str = "valid names here") -> str | None:
    """``did you mean 'x'?`` for a misspelt name, else ``listing: `` and the valid names."""
    close = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if choices:
        return f"{listing}: " + ", ".join(choices)
    return None


def problems_from_validation(exc: ValidationError, source: ConfigSource, base: tuple,
                             model: type[BaseModel] | None = None, what: str = "key") -> list[Problem]:
    """One problem per pydantic error, located at ``base`` + the error's location."""
    return problems_from_errors(exc.errors(), source, base, model, what)


def problems_from_errors(errors: list[dict], source: ConfigSource, base: tuple,
                         model: type[BaseModel] | None = None, what: str = "key") -> list[Problem]:
    """:func:`problems_from_validation` for some of a ValidationError's ``errors()``."""
    problems = []
    for error in errors:
        loc = written_location(error["loc"])
        kind = error["type"]
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        hint = _HINTS_BY_TYPE.get(kind)
        if kind == "extra_forbidden":
            message = f"unknown {what} {loc[-1]!r}"
            names = _field_names(model, loc[:-1])
            hint = suggest(loc[-1], names)
            if not names and what == "option" and len(loc) == 1:
                hint = "this plugin takes no options: write its name alone"
        elif kind == "missing":
            message = f"missing required {what} {loc[-1]!r}"
            hint = None
        elif "input" in error and kind not in ("value_error", "assertion_error"):
            message = f"{message} (got {shown(error['input'])})"
        problems.append(source.problem(base + loc, message, hint))
    return problems


def written_location(loc: tuple) -> tuple:
    """A pydantic error's location as the YAML has it: without the union members tried."""
    return tuple(part for part in loc if not _is_union_tag(part))


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the union member tried (e.g. 'list[str]', "literal['*']") to locations.
    return isinstance(part, str) and ("[" in part and part.endswith("]") and not part.startswith("/"))


def _field_names(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """The keys valid at ``loc`` inside ``model`` (walking nested models, dicts and lists)."""
    target: Any = model
    for part in loc:
        target = _unwrap(target)
        if isinstance(target, type) and issubclass(target, BaseModel):
            field = _field_by_key(target, part)
            target = field.annotation if field else None
        elif typing.get_origin(target) in (dict, list):
            target = typing.get_args(target)[-1]
        else:
            return []
    target = _unwrap(target)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return sorted(field.alias or name for name, field in target.model_fields.items())
    return []


def _field_by_key(model: type[BaseModel], key: Any):
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional / Annotated wrappers down to a model, dict or list type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
            containers = [a for a in members if typing.get_origin(a) in (dict, list)]
            annotation = (models or containers or members or [None])[0]
        else:
            return annotation
