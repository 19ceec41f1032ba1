"""What the browser pages need from a config: their startup check, and the console's
description of the routing table. No Flask and no I/O here; router/http/pages.py serves them.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from jinja2 import Environment, TemplateSyntaxError, nodes

from router.config.models import RouterConfig
from router.config.problems import suggest
from router.config.source import ConfigSource
from router.errors import Problem

# The events the classic Flask-SocketIO example page emits, in the order of its forms.
DEMO_EVENTS = ("my_event", "my_broadcast_event", "join", "leave", "my_room_event", "close_room",
               "disconnect_request", "my_ping")

REDACTED = "<from the environment>"
LIFECYCLE = ("on_connect", "on_disconnect", "on_error")


def check_pages(compiled, engine=None) -> list[Problem]:
    """The problems that stop ``server.demo_page`` / ``server.console`` from being served
    (a feature check of the compiler)."""
    config, source = compiled.config, compiled.source
    server = config.server
    problems = []
    demo = server.demo_page
    if demo is True:
        problems.append(source.problem(
            ("server", "demo_page"), "demo_page names the namespace the demo page talks to",
            hint="write demo_page: /test (a namespace declared under namespaces:), "
                 "or false to turn the page off"))
    elif isinstance(demo, str):
        problems.extend(_check_demo_namespace(config, source, demo))
    if server.console:
        if server.api_key is not None and not server.api_key.strip():
            problems.append(source.problem(
                ("server", "api_key"), "api_key is empty, so no key could open the console",
                hint="check the ${ENV} reference, e.g. export ROUTER_API_KEY=$(openssl rand -hex 16)"))
        elif server.api_key is None and not is_loopback(server.host):
            problems.append(source.problem(
                ("server", "console"),
                f"the console shows the routing table and sends any event, and host "
                f"{server.host!r} lets other machines reach it without a key",
                hint='set server.api_key: "${ROUTER_API_KEY}" to require a key, or listen on '
                     '127.0.0.1 (server.host or --host)'))
    return problems


def _check_demo_namespace(config: RouterConfig, source: ConfigSource, name: str) -> list[Problem]:
    path = ("server", "demo_page")
    namespace = config.namespaces.get(name)
    if namespace is None:
        hint = suggest(name, list(config.namespaces)) or "declare it under namespaces:"
        return [source.problem(path, f"demo_page {name!r} is not a namespace of this file", hint=hint)]
    if namespace.class_:  # a hand-written namespace class handles the page's events itself
        return []
    missing = [event for event in DEMO_EVENTS if event not in namespace.events]
    if not missing:
        return []
    return [source.problem(
        path, f"the demo page emits {', '.join(missing)} on {name}, and this namespace does not "
              f"route {'it' if len(missing) == 1 else 'them'}",
        hint="route every event of the page, as configs/demo.yaml does")]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (0.0.0.0 does not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # another host name: it may resolve to anything
        return False


def console_description(config: RouterConfig, source: ConfigSource, registry) -> dict:
    """The routing table as the console shows it: plain JSON data, secrets redacted.

    Step options are shown as written in the YAML. A value that came from an
    ``${ENV}`` reference is replaced by ``REDACTED``; auth rules show only their
    names, since their options are credentials.
    """
    redactor = _Redactor(source)
    namespaces = []
    for name, namespace in config.namespaces.items():
        base = ("namespaces", name)
        entry: dict[str, Any] = {"name": name, "class": namespace.class_, "auth": [],
                                 "auth_sample": {}, "lifecycle": [], "events": []}
        if not namespace.class_:
            entry["auth"] = [_rule_label(rule) for rule in namespace.auth]
            entry["auth_sample"] = {field: "" for field in _auth_fields(namespace.auth, registry)}
            for hook in LIFECYCLE:
                steps = _raw_steps(source, base + (hook,), redactor)
                if steps:
                    entry["lifecycle"].append({"name": hook, "steps": steps})
            for event in namespace.events:
                steps = _raw_steps(source, base + ("events", event), redactor)
                entry["events"].append({"name": event, "steps": steps,
                                        "sample": sample_payload(steps)})
        namespaces.append(entry)
    return {"file": source.file, "path": config.server.path, "namespaces": namespaces}


def _rule_label(rule) -> str:
    if rule.group is not None:
        return "any(" + ", ".join(_rule_label(member) for member in rule.group) + ")"
    return rule.plugin


def _auth_fields(rules, registry) -> list[str]:
    """Auth payload keys the rules read (a ``field:`` option, as written or its default), in order."""
    fields: list[str] = []
    for rule in rules:
        if rule.group is not None:
            candidates = _auth_fields(rule.group, registry)
        elif rule.options.get("header") or rule.options.get("query"):
            candidates = []  # read from the handshake request, not from the auth payload
        else:
            spec = registry.auth_rule(rule.plugin)
            declared = spec.options.model_fields.get("field") if spec is not None else None
            field = rule.options.get("field", declared.default if declared is not None else None)
            candidates = [field] if isinstance(field, str) and field else []
        fields.extend(field for field in candidates if field not in fields)
    return fields


def _raw_steps(source: ConfigSource, path: tuple, redactor: "_Redactor") -> list[dict]:
    """The steps at ``path`` as written: ``[{"plugin": name, "options": {...}}]``."""
    value = _lookup(source.data, path)
    if value is None:
        return []
    items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
    steps = []
    for index, item in items:
        item_path = path if index is None else path + (index,)
        if isinstance(item, str):
            steps.append({"plugin": item.strip(), "options": {}})
        elif isinstance(item, dict) and len(item) == 1:
            plugin, options = next(iter(item.items()))
            steps.append({"plugin": plugin,
                          "options": redactor.redact(options or {}, item_path + (plugin,))})
    return steps


def _lookup(data: Any, path: tuple) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


class _Redactor:
    """Hides every value that came from the environment, by YAML path and by value (a value
    reused through a YAML anchor keeps no path of its own)."""

    def __init__(self, source: ConfigSource):
        self.paths = source.env_paths
        self.values = {value for value in (_lookup(source.data, p) for p in source.env_paths)
                       if isinstance(value, str) and value}

    def redact(self, value: Any, path: tuple) -> Any:
        if path in self.paths or (isinstance(value, str) and value in self.values):
            return REDACTED
        if isinstance(value, dict):
            return {key: self.redact(item, path + (key,)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.redact(item, path + (index,)) for index, item in enumerate(value)]
        return value


_PARSER = Environment()


def sample_payload(steps: list[dict]) -> dict | None:
    """A payload with the ``data.<field>`` each step's templates read, empty, or None if none do."""
    fields: list[str] = []
    for step in steps:
        for text in _strings(step["options"]):
            if "{{" not in text and "{%" not in text:
                continue
            try:
                tree = _PARSER.parse(text)
            except TemplateSyntaxError:  # the compiler has already refused such a config
                continue
            for name in _data_fields(tree):
                if name not in fields:
                    fields.append(name)
    return {name: "" for name in fields} if fields else None


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _data_fields(tree: nodes.Template) -> list[str]:
    """``data.room`` and ``data['room']`` in a template, in order of appearance."""
    found = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if not (isinstance(node.node, nodes.Name) and node.node.name == "data"):
            continue
        if isinstance(node, nodes.Getattr):
            found.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.append(node.arg.value)
    return found
