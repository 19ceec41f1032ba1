"""The JSON Schema of a config file, every registered plugin's options included.

Built from the same models that validate a config at load time (``RouterConfig``
and each plugin's options model), so an editor's completion and checks cannot
drift from what ``check`` accepts. A step is a ``oneOf`` of one-key objects, one
per step plugin (``room.join: {room: ...}``), or a bare name for plugins whose
options are all optional. Non-string values may also be written as ``${ENV}``
references, which the loader resolves before validating, and a step's options as
templates, which are checked once rendered.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from router.config.models import RESERVED_EVENTS, RouterConfig
from router.plugin_api import AUTH_RULE, STEP, PluginSpec
from router.plugins.registry import Registry

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REF = "#/$defs/{model}"
STEP_SPEC_REF = REF.format(model="StepSpec")
ENV_REFERENCE = {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}",
                 "description": "an ${ENV} reference, resolved when the file is read"}
TEMPLATE = {"type": "string", "pattern": r"\{\{|\{%|\{#",
            "description": "a template: rendered per message, then checked against the option's type"}
# Keys whose value is a list of auth rules rather than steps.
AUTH_KEYS = frozenset({"auth"})


def config_schema(registry: Registry) -> dict:
    """The JSON Schema (draft 2020-12) of a config file for the plugins in ``registry``."""
    steps = registry.specs(STEP)
    rules = registry.specs(AUTH_RULE)
    models: list[tuple[type[BaseModel], str]] = [(RouterConfig, "validation")]
    models += [(spec.options, "validation") for spec in steps + rules]
    refs, top = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    defs: dict[str, Any] = top.get("$defs", {})
    root_name = refs[(RouterConfig, "validation")]["$ref"].rsplit("/", 1)[1]
    root = defs.pop(root_name)
    defs.pop("StepSpec", None)

    defs["Step"] = {"description": "one step: `plugin: {options}`, or a bare plugin name",
                    "oneOf": _plugin_choices(steps, refs)}
    defs["Steps"] = {"description": "one step or a list of steps, run in order",
                     "anyOf": [{"$ref": REF.format(model="Step")},
                               {"type": "array", "items": {"$ref": REF.format(model="Step")}},
                               {"type": "null"}]}
    any_group = {"type": "object", "additionalProperties": False, "required": ["any"],
                 "description": "passes when one of its rules passes",
                 "properties": {"any": {"type": "array", "minItems": 1,
                                        "items": {"$ref": REF.format(model="AuthRule")}}}}
    defs["AuthRule"] = {"description": "one connect-auth rule: `rule: {options}`, or `any: [rules]`",
                        "oneOf": _plugin_choices(rules, refs) + [any_group]}
    defs["AuthRules"] = {"description": "connect-auth rules; every one must pass",
                         "anyOf": [{"$ref": REF.format(model="AuthRule")},
                                   {"type": "array", "items": {"$ref": REF.format(model="AuthRule")}},
                                   {"type": "null"}]}

    schema = {"$schema": SCHEMA_DIALECT, "title": "socketio-router config", **root, "$defs": defs}
    schema = _rewrite(schema, None)
    _templates_for_any_type(schema["$defs"], steps, rules, refs)
    _namespace_rules(schema, schema["$defs"])
    return schema


def _plugin_choices(specs: list[PluginSpec], refs: dict) -> list[dict]:
    choices: list[dict] = []
    bare = [spec.name for spec in specs if not _has_required(spec.options)]
    if bare:
        choices.append({"type": "string", "enum": bare,
                        "description": "a plugin whose options are all optional, by name alone"})
    for spec in specs:
        options: dict = dict(refs[(spec.options, "validation")])
        if not _has_required(spec.options):
            options = {"anyOf": [options, {"type": "null"}]}
        choices.append({"type": "object", "additionalProperties": False, "required": [spec.name],
                        "properties": {spec.name: options},
                        "description": spec.description or spec.name})
    return choices


def _has_required(model: type[BaseModel]) -> bool:
    return any(field.is_required() for field in model.model_fields.values())


def _rewrite(node: Any, key: str | None) -> Any:
    """Point step lists at Steps / AuthRules, and let non-string scalars be ${ENV} references."""
    if isinstance(node, list):
        return [_rewrite(item, key) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "array" and node.get("items") == {"$ref": STEP_SPEC_REF}:
        target = "AuthRules" if key in AUTH_KEYS else "Steps"
        kept = {k: node[k] for k in ("title", "description") if k in node}
        return {"$ref": REF.format(model=target), **kept}
    result = {}
    for name, value in node.items():
        if name in ("properties", "$defs", "patternProperties"):
            result[name] = {prop: _rewrite(sub, prop) for prop, sub in value.items()}
        else:
            result[name] = _rewrite(value, key)
    if _scalar_but_not_free_string(result):
        # What editors show (title, description, default) stays on the key, beside the anyOf.
        shown = {k: result.pop(k) for k in ("title", "description", "default") if k in result}
        return {**shown, "anyOf": [result, ENV_REFERENCE]}
    return result


def _scalar_but_not_free_string(node: dict) -> bool:
    return node.get("type") in ("integer", "number", "boolean") or "enum" in node or "const" in node


def _templates_for_any_type(defs: dict, steps: list[PluginSpec], rules: list[PluginSpec], refs: dict) -> None:
    """A step option may be a template whatever its type (router/compile/options.py); an auth
    rule's options are not templates."""
    rule_models = {spec.options for spec in rules}
    # Once per options model: steps that share one (room.join, room.leave, ...) share its $defs entry.
    for options in dict.fromkeys(spec.options for spec in steps):
        if options in rule_models:
            continue
        model = defs.get(refs[(options, "validation")]["$ref"].rsplit("/", 1)[1], {})
        properties = model.get("properties", {})
        for name, option in properties.items():
            if option.get("type") != "string" or "enum" in option or "pattern" in option:
                properties[name] = {"anyOf": [option, TEMPLATE]}


def _namespace_rules(schema: dict, defs: dict) -> None:
    """What pydantic's schema cannot say about namespaces: names, empty bodies, reserved events."""
    namespaces = schema["properties"]["namespaces"]
    namespaces["propertyNames"] = {"pattern": "^/"}
    namespaces["minProperties"] = 1
    body = namespaces.get("additionalProperties")
    if body is not None:
        namespaces["additionalProperties"] = {"anyOf": [body, {"type": "null"}]}
    events = defs.get("NamespaceConfig", {}).get("properties", {}).get("events")
    if isinstance(events, dict):
        events["propertyNames"] = {"not": {"enum": list(RESERVED_EVENTS)}}
        # An event is written short (one step or a list) or in full ({steps: ..., rate: ...}).
        events["additionalProperties"] = {"anyOf": [{"$ref": REF.format(model="Steps")},
                                                    {"$ref": REF.format(model="EventConfig")}]}
