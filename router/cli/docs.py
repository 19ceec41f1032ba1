"""The reference tables of docs/, generated: config keys, built-in steps and auth rules, CLI verbs.

Each table comes from what the router itself uses: the config models (each key's
``Field(description=...)``, its default, and its type as the JSON Schema of
``python router.py schema`` shows it), the registry of built-in plugins (their
options models and docstrings) and the command line's argparse parser. A table
stands in a docs page between two markers::

    <!-- generated: server-keys -->
    ...
    <!-- end generated -->

``python -m router.cli.docs`` rewrites every region of docs/*.md in place;
``--check`` only reports the stale ones and exits 1 (tests/test_docs.py runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REGENERATE = "python -m router.cli.docs"
REGION = re.compile(r"(<!-- generated: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)",
                    re.S)
# Words for the schema's named parts; any other model is a "mapping".
REF_SHAPES = {"Steps": "steps", "Step": "a step", "AuthRules": "auth rules", "AuthRule": "an auth rule",
              "FileText": "a file path", "NamespaceConfig": "namespace", "EventConfig": "event in full",
              "TimerConfig": "timer"}
JSON_TYPES = {"string": "text", "integer": "integer", "number": "number", "boolean": "true / false",
              "null": "null"}


# -- what the tables are made of ----------------------------------------------------------------

def builtin_registry():
    """A registry of the built-in plugins only: no entry points, no plugins directory."""
    from router.compile.load import BUILTIN_MODULES
    from router.plugins.registry import Registry

    registry = Registry()
    for module in BUILTIN_MODULES:
        registry.register_module(module)
    return registry


def config_models() -> dict[str, type[BaseModel]]:
    """Every model of the config file's sections by its region name, e.g. ``server-keys``."""
    from router.config.limits import EventRateConfig, HistoryConfig, PresenceConfig, RateConfig, RoomsConfig
    from router.config.models import (
        AdminUIConfig,
        EventConfig,
        NamespaceConfig,
        RecoveryConfig,
        RouterConfig,
        ServerConfig,
        TimerConfig,
    )

    return {"top-level-keys": RouterConfig, "server-keys": ServerConfig,
            "admin-ui-keys": AdminUIConfig, "namespace-keys": NamespaceConfig,
            "event-keys": EventConfig, "rate-keys": RateConfig, "event-rate-keys": EventRateConfig,
            "rooms-keys": RoomsConfig, "presence-keys": PresenceConfig, "history-keys": HistoryConfig,
            "timer-keys": TimerConfig, "recovery-keys": RecoveryConfig}


def nested_models(model: type[BaseModel], seen: set | None = None) -> set[type[BaseModel]]:
    """``model`` and every model its fields hold, however deep (the config file's sections)."""
    from router.config.models import (
        StepSpec,  # a step as written; its options are the plugin's
    )

    seen = set() if seen is None else seen
    if model in seen or model is StepSpec:
        return seen
    seen.add(model)
    for field in model.model_fields.values():
        for inner in _models_in(field.annotation):
            nested_models(inner, seen)
    return seen


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds: ``X``, ``X | None``, ``dict[str, X]``, ``Annotated[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in getattr(annotation, "__args__", ()) for model in _models_in(argument)]


# -- rendering ----------------------------------------------------------------------------------

def _cell(text: str) -> str:
    """Table-cell text: no pipes, no line breaks, markdown code (docstrings write ``x``)."""
    return text.replace("``", "`").replace("|", "\\|").replace("\n", " ")


def _shape(node: dict) -> str:
    """What a value looks like, in words, from its JSON Schema node."""
    from router.compile.schema import ENV_REFERENCE

    if not node:
        return "any value"
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        return REF_SHAPES.get(name, "mapping")
    for key in ("anyOf", "oneOf"):
        if key in node:
            branches = [b for b in node[key] if b != ENV_REFERENCE and b.get("type") != "null"]
            return " or ".join(dict.fromkeys(_shape(b) for b in branches)) or "null"
    if "enum" in node:
        values = [f"`{v}`" for v in node["enum"]]
        return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else values[0]
    if "const" in node:
        return f"`{node['const']}`"
    kind = node.get("type")
    if kind == "array":
        return f"list of {_shape(node.get('items', {}))}"
    if kind == "object":
        values = node.get("additionalProperties")
        return f"mapping of name -> {_shape(values)}" if isinstance(values, dict) else "mapping"
    if isinstance(kind, list):
        return " or ".join(JSON_TYPES.get(k, k) for k in kind)
    return JSON_TYPES.get(kind, kind or "any value")


def _default(field) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "its defaults"
    else:
        value = field.default
    if value is None:
        return "-"
    return f"`{json.dumps(value) if not isinstance(value, str) else value}`"


def model_table(model: type[BaseModel], schema: dict) -> str:
    """A markdown table of ``model``'s keys: key, what it takes, default, meaning."""
    from router.config.models import RouterConfig

    # The root model is the document itself; a model missing from $defs (a name two models
    # share) is shown from its own schema.
    node = schema if model is RouterConfig else schema.get("$defs", {}).get(model.__name__)
    properties = (node or model.model_json_schema()).get("properties", {})
    rows = ["| key | takes | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        rows.append(f"| `{key}` | {_cell(_shape(properties.get(key, {})))} | "
                    f"{_cell(_default(field))} | {_cell(field.description or '')} |")
    return "\n".join(rows) + "\n"


def plugins_section(kind: str, schema: dict) -> str:
    """Each built-in plugin of ``kind``: its name, what it does, its declarations, its options."""
    parts = []
    for spec in builtin_registry().specs(kind):
        lines = [f"### `{spec.name}`", "", _cell(spec.description or "")]
        declared = []
        if callable(spec.answers_callback):
            declared.append("answers the client's callback unless its options say otherwise: then "
                            "at most once per event, and not in on_connect / on_disconnect "
                            "(`answers_callback=` a function of the options)")
        elif spec.answers_callback:
            declared.append("answers the client's callback: at most once per event, and not in "
                            "on_connect / on_disconnect (`answers_callback=True`)")
        if spec.provides:
            names = ", ".join(f"`{name}`" for name in sorted(spec.provides))
            declared.append(f"sets {names} for the templates of the steps after it (`provides=`)")
        if spec.secret_options:
            names = ", ".join(f"`{name}`" for name in sorted(spec.secret_options))
            declared.append(f"secret options: {names}; `check --strict` warns when one is written "
                            f"in the file instead of `${{ENV}}`")
        if declared:
            lines += [""] + [f"- {item}" for item in declared]
        lines.append("")
        if spec.options.model_fields:
            lines.append(model_table(spec.options, schema).rstrip("\n"))
        else:
            lines.append(f"No options: write `- {spec.name}`.")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def cli_section() -> str:
    """Each command of ``python router.py``: what it does, its usage and its options."""
    from router.cli.main import build_parser

    parts = []
    for name, parser, summary in _commands(build_parser()):
        actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
        usage = " ".join(["python router.py", name] + [_usage(a) for a in actions])
        lines = [f"### `python router.py {name}`", "", summary[0].upper() + summary[1:] + ".", "",
                 "```", usage, "```", "", "| argument | meaning |", "|---|---|"]
        for action in actions:
            written = _usage(action).strip("[]")
            lines.append(f"| `{written}` | {_cell(action.help or '')} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _commands(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, sub, helps.get(name) or ""


def _usage(action: argparse.Action) -> str:
    if not action.option_strings:
        metavar = action.metavar or action.dest.upper()
        return f"{metavar}..." if action.nargs in ("+", "*") else metavar
    written = action.option_strings[-1]  # the long form
    if action.nargs != 0:
        written += " " + (action.metavar or action.dest.upper())
    return written if action.required else f"[{written}]"


def generators() -> dict[str, Callable[[], str]]:
    """Region name -> what fills it."""
    from router.compile.schema import config_schema
    from router.plugin_api import AUTH_RULE, STEP

    cache: dict[str, dict] = {}

    def schema() -> dict:
        if not cache:
            cache["schema"] = config_schema(builtin_registry())
        return cache["schema"]

    found: dict[str, Callable[[], str]] = {
        name: (lambda model=model: model_table(model, schema()))
        for name, model in config_models().items()}
    found["steps"] = lambda: plugins_section(STEP, schema())
    found["auth-rules"] = lambda: plugins_section(AUTH_RULE, schema())
    found["cli"] = cli_section
    return found


# -- the docs files -----------------------------------------------------------------------------

def regenerate(text: str, made: dict[str, str]) -> str:
    """``text`` with each generated region's body replaced by its table."""
    def fill(match: re.Match) -> str:
        name = match.group("name")
        if name not in made:
            raise KeyError(f"unknown generated region {name!r}; known: {', '.join(sorted(made))}")
        return match.group(1) + made[name] + match.group(4)

    return REGION.sub(fill, text)


def stale(docs: Path = DOCS) -> dict[Path, str]:
    """The docs files whose generated regions differ from what the code says now, with their
    regenerated text."""
    made = {name: make() for name, make in generators().items()}
    found = {}
    for path in sorted(docs.glob("*.md")):
        text = path.read_text()
        new = regenerate(text, made)
        if new != text:
            found[path] = new
    return found


def regions_in(docs: Path = DOCS) -> dict[str, list[Path]]:
    """Region name -> the docs files holding it."""
    found: dict[str, list[Path]] = {}
    for path in sorted(docs.glob("*.md")):
        for match in REGION.finditer(path.read_text()):
            found.setdefault(match.group("name"), []).append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; list the stale files and exit 1 if there are any")
    args = parser.parse_args(argv)
    changed = stale()
    for path, text in changed.items():
        if not args.check:
            path.write_text(text)
        print(f"{'stale' if args.check else 'rewrote'}: {path.relative_to(ROOT)}")
    if args.check and changed:
        print(f"run: {REGENERATE}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
