"""Risky settings in a valid config, for ``check --strict``: each a located warning with a hint.

A warning is not an error: the config serves as written. ``check`` counts them;
``check --strict`` lists them and exits 1 when there is any, so CI can refuse
a config that is fine for development but not for production.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Iterator
from urllib.parse import urlsplit

from .compiler import CompiledRouter
from .errors import Problem
from .security_warnings import security_warnings
from .yaml_source import ConfigSource

# Keys that hold secrets; `values` of a `token` rule too (see _is_secret).
_SECRET_KEY = re.compile(r"secret|password|passwd|api_?key|private_?key|credential|^tokens?$",
                         re.IGNORECASE)
EXIT_RISKY = 1


def find_risks(compiled: CompiledRouter) -> list[Problem]:
    """Every risky setting of ``compiled``, in file order."""
    source = compiled.source
    config = compiled.config
    risks: list[Problem] = []
    risks += security_warnings(compiled)  # CORS open to every origin
    for name, namespace in compiled.namespaces.items():
        if namespace.class_ref is None and not namespace.auth:
            risks.append(source.problem(
                ("namespaces", name),
                f"namespace {name} has no auth rules: anyone who can reach the server can connect",
                hint='add auth:, e.g. - token: {values: ["${TOKEN}"]}; leave it open only on purpose'))
        if _unlimited_rate(namespace.config):
            risks.append(source.problem(
                ("namespaces", name),
                f"namespace {name} has no rate limit: one client can flood it",
                hint="add rate:, e.g. rate: 20/s"))
    risks += _secrets_in_file(source)
    queue = config.server.message_queue
    if queue and urlsplit(queue).password and ("server", "message_queue") not in source.env_paths:
        risks.append(source.problem(
            ("server", "message_queue"), "the message queue URL holds a password written in the file",
            hint="write the URL as ${MESSAGE_QUEUE_URL} and set it in the environment"))
    return sorted(risks, key=lambda p: (p.line or 0, p.path or ""))


def _unlimited_rate(namespace_config) -> bool:
    # `rate:` belongs to the abuse controls; only judge it where the config has the key at all.
    if namespace_config is None or "rate" not in type(namespace_config).model_fields:
        return False
    return getattr(namespace_config, "rate") in (None, 0, "", "unlimited")


def _secrets_in_file(source: ConfigSource) -> Iterator[Problem]:
    for path, value in _leaves(source.data, ()):
        if not isinstance(value, str) or not value or not _is_secret(path):
            continue
        if path in source.env_defaults:
            yield source.problem(
                path, "a secret falls back to the default written in the file (its variable is not set)",
                hint="set the variable in production, or drop the default: ${NAME} fails when unset")
        elif path not in source.env_paths:
            yield source.problem(
                path, "a secret is written in the file",
                hint="write it as ${NAME} and set NAME in the environment, so the file can be shared")


def _is_secret(path: tuple) -> bool:
    keys = [part for part in path if isinstance(part, str)]
    if not keys:
        return False
    if keys[-1] == "values" and len(keys) >= 2 and keys[-2] == "token":
        return True
    return bool(_SECRET_KEY.search(keys[-1]))


def _leaves(value: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, path + (index,))
    else:
        yield path, value


def report_risks(compiled: CompiledRouter, strict: bool) -> int:
    """Print the warnings (all of them with ``strict``, else a count); the exit status of ``check``."""
    risks = find_risks(compiled)
    if not risks:
        return 0
    if not strict:
        print(f"{len(risks)} risky setting(s); run check --strict to list them", file=sys.stderr)
        return 0
    for risk in risks:
        print(f"warning: {risk.render()}", file=sys.stderr)
    print(f"{len(risks)} warning(s): risky for production (exit {EXIT_RISKY} under --strict)",
          file=sys.stderr)
    return EXIT_RISKY

