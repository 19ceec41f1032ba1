"""Per-event payload schemas: a JSON Schema written in the YAML, or a pydantic model from a plugin.

Both are checked when the config loads (a schema that is not valid JSON Schema, a
model that does not exist) and answer the same question per message: which
fields of ``data`` are wrong, and why, in words a client developer can act on.
"""

from __future__ import annotations

import ast
import itertools
import re
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from router.text import clip, format_path

MAX_REPORTED = 10      # failing fields listed to the client; the rest are counted
MAX_ERROR_TEXT = 200   # jsonschema quotes the offending value; a client's value can be long

_REQUIRED = re.compile(r"^(.+) is a required property$")


class SchemaProblem(Exception):
    """A schema in the config cannot be used; ``path`` is inside the ``schema:`` value."""

    def __init__(self, message: str, path: tuple = (), hint: str | None = None):
        super().__init__(message)
        self.path = path
        self.hint = hint


class PayloadSchema:
    """Validates an event's ``data``; :meth:`problems` lists the failing fields."""

    description = ""

    def problems(self, data: Any) -> list[dict]:
        """``[{"field": "room", "error": "..."}]``, empty when ``data`` is valid."""
        raise NotImplementedError


def field_path(parts) -> str:
    """``("items", 0, "name")`` -> ``items[0].name``; the whole payload is ``(root)``."""
    return format_path(tuple(parts)) or "(root)"




class JsonSchemaPayload(PayloadSchema):
    """A JSON Schema (its ``$schema`` picks the draft; 2020-12 otherwise), formats checked."""

    def __init__(self, schema: dict | bool):
        # jsonschema only for configs that use it; `check` of the others does not load it.
        from jsonschema import Draft202012Validator, validators

        cls = validators.validator_for(schema, default=Draft202012Validator) \
            if isinstance(schema, dict) else Draft202012Validator
        # Every problem of the schema, not only the first: a user fixes them in one edit.
        meta = cls(cls.META_SCHEMA)
        errors = sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.path)))
        if errors:
            first = errors[0]
            raise SchemaProblem(f"not a valid JSON Schema: {clip(first.message, MAX_ERROR_TEXT)}"
                                + (f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""),
                                tuple(first.path),
                                hint="see https://json-schema.org/understanding-json-schema/ ; "
                                     "e.g. {type: object, required: [room], properties: "
                                     "{room: {type: string}}}")
        self.validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        self.description = f"JSON Schema ({cls.__name__.replace('Validator', '')})"

    def problems(self, data: Any) -> list[dict]:
        found = []
        for error in itertools.islice(self.validator.iter_errors(data), MAX_REPORTED + 1):
            parts = list(error.absolute_path)
            if error.validator == "required":
                match = _REQUIRED.match(error.message)
                if match:
                    try:
                        parts.append(ast.literal_eval(match.group(1)))
                    except (ValueError, SyntaxError):
                        pass
            found.append({"field": field_path(parts), "error": clip(error.message, MAX_ERROR_TEXT)})
        return found


class ModelPayload(PayloadSchema):
    """A pydantic model from a plugin module; ``data`` must validate against it."""

    def __init__(self, model: type[BaseModel], reference: str):
        self.model = model
        self.description = f"model {reference}"

    def problems(self, data: Any) -> list[dict]:
        try:
            self.model.model_validate(data)
        except ValidationError as exc:
            return [{"field": field_path(error["loc"]), "error": clip(error["msg"], MAX_ERROR_TEXT)}
                    for error in exc.errors(include_url=False, include_input=False,
                                            include_context=False)[: MAX_REPORTED + 1]]
        return []


def compile_schema(value: Any, resolve: Callable[[str], Any]) -> PayloadSchema:
    """The ``schema:`` of an event: a mapping (JSON Schema) or ``"module:Model"``.

    ``resolve`` looks a ``module:Name`` reference up (the registry's, so plugins/ modules
    are found first). Raises :class:`SchemaProblem`.
    """
    if isinstance(value, str):
        try:
            model = resolve(value)
        except LookupError as exc:
            raise SchemaProblem(str(exc), hint="write schema: \"module:ModelName\" with module.py "
                                               "in the plugins directory, or a JSON Schema mapping") from None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise SchemaProblem(f"{value!r} is not a pydantic model class",
                                hint="define class MyPayload(pydantic.BaseModel) in a plugins/ module")
        return ModelPayload(model, value)
    if isinstance(value, (dict, bool)):
        return JsonSchemaPayload(value)
    raise SchemaProblem(f"a schema is a JSON Schema mapping or \"module:Model\", "
                        f"got {type(value).__name__}")
