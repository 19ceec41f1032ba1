"""Risky settings in a valid config, for ``check`` and ``check --strict``: located warnings with hints.

A warning is not an error: the config serves as written. :func:`security_warnings`
are the ones ``check`` prints and ``serve`` logs every time; :func:`find_risks`
adds what is fine for development but not for production (no auth, no rate
limit, secrets written in the file), which ``check --strict`` lists and turns
into exit 1, so CI can refuse such a config. Plugins declare their secret
options (``secret_options=``); this module knows no plugin by name.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

from router.config.models import RouterConfig
from router.config.source import ConfigSource
from router.errors import Problem
from router.plugin_api import Risk

# Keys that hold secrets, whatever the plugin; a plugin names its own too (secret_options).
_SECRET_KEY = re.compile(r"secret|password|passwd|api_?key|private_?key|credential|^tokens?$",
                         re.IGNORECASE)


def security_warnings(config: RouterConfig, source: ConfigSource) -> list[Problem]:
    """Settings that load but weaken the server: ``check`` prints them, ``serve`` logs them."""
    warnings = []
    server = config.server
    origins = server.cors_allowed_origins
    if server.cors_allow_any_origin and (origins == "*" or (origins is not None and ("*" in origins
                                                                                    or not origins))):
        credentials = (" with its visitors' cookies" if server.cors_credentials else "")
        warnings.append(source.problem(
            ("server", "cors_allowed_origins"),
            f"any web page may open a Socket.IO connection to this server{credentials} "
            f"(cors_allow_any_origin is true)",
            hint="list the origins of your sites instead, or guard each namespace with an "
                 "origin or token rule"))
    return warnings


# The transport's guards against one client (docs/abuse-controls.md), when a config turns one off.
TRANSPORT_GUARDS = {
    "max_client_bytes_per_second": (
        "one client sending large messages flat out can take the process's CPU from the others",
        "leave the default (4,000,000), or raise it"),
    "max_queued_bytes_per_client": (
        "a client that stops reading keeps everything sent to it in the server's memory until "
        "its ping timeout", "leave the default (8,000,000), or raise it"),
    "max_queued_messages_per_client": (
        "a client that stops reading keeps every message sent to it in the server's memory until "
        "its ping timeout", "leave the default (10,000), or raise it"),
}


def find_risks(config: RouterConfig, source: ConfigSource,
               secret_options: dict[str, frozenset[str]] | None = None,
               plugin_risks: Iterable[tuple[tuple, Risk]] = ()) -> list[Problem]:
    """Every risky setting, in file order.

    ``secret_options`` maps a plugin's name to the options it declares secret (the
    registry's ``secret_options()``), e.g. ``{"token": {"values"}}``. ``plugin_risks``
    are what configured plugins declare risky (their ``risks=``), each with the YAML
    path of the plugin's options.
    """
    secret_options = secret_options or {}
    risks: list[Problem] = [source.problem(path + ((risk.option,) if risk.option else ()),
                                           risk.message, risk.hint)
                            for path, risk in plugin_risks]
    risks += security_warnings(config, source)  # CORS open to every origin
    for name, namespace in config.namespaces.items():
        if namespace.class_ is None and not namespace.auth:
            risks.append(source.problem(
                ("namespaces", name),
                f"namespace {name} has no auth rules: anyone who can reach the server can connect",
                hint='add auth:, e.g. - token: {values: ["${TOKEN}"]}; leave it open only on purpose'))
        if namespace.rate is None:
            risks.append(source.problem(
                ("namespaces", name),
                f"namespace {name} has no rate limit: one client can flood it",
                hint="add rate:, e.g. rate: 20/s"))
    risks += _secrets_in_file(source, secret_options)
    for key, (danger, hint) in TRANSPORT_GUARDS.items():
        if key in config.server.model_fields_set and getattr(config.server, key) is None:
            risks.append(source.problem(("server", key), f"turned off: {danger}", hint=hint))
    risks += _room_state_risks(config, source)
    risks += _recovery_risks(config, source)
    queue = config.server.message_queue
    if queue and urlsplit(queue).password and ("server", "message_queue") not in source.env_paths:
        risks.append(source.problem(
            ("server", "message_queue"), "the message queue URL holds a password written in the file",
            hint="write the URL as ${MESSAGE_QUEUE_URL} and set it in the environment"))
    return sorted(risks, key=lambda p: (p.line or 0, p.path or ""))


def _room_state_risks(config: RouterConfig, source: ConfigSource) -> Iterator[Problem]:
    """rooms.presence / rooms.history that a cluster cannot share, or that may keep a sid room."""
    from router.config.brokers import broker_of

    queue = config.server.message_queue
    redis = bool(queue) and broker_of(queue).family == "redis"
    for name, namespace in config.namespaces.items():
        rooms = namespace.rooms
        if rooms is None or (rooms.presence is None and rooms.history is None):
            continue
        path = ("namespaces", name, "rooms")
        if queue and not redis:
            yield source.problem(path, f"namespace {name} tracks presence or history, which only a Redis "
                                       f"message_queue shares: each process answers with its own",
                                 hint="use a redis:// message_queue, or accept per-process member lists")
        if redis and rooms.history is not None and rooms.allow is None:
            yield source.problem(path, f"namespace {name} keeps history without rooms.allow: a message to "
                                       f"another process's client sid would be kept as a room's",
                                 hint='add allow:, e.g. allow: "^[a-z0-9-]{1,32}$"')


def _recovery_risks(config: RouterConfig, source: ConfigSource) -> Iterator[Problem]:
    """connection_state_recovery that a cluster cannot share, or that overrides shutdown_reconnect."""
    from router.config.brokers import broker_of

    server = config.server
    if server.connection_state_recovery is None:
        return
    path = ("server", "connection_state_recovery")
    queue = server.message_queue
    if queue and broker_of(queue).family != "redis":
        yield source.problem(path, "connection state recovery keeps its sessions in each process with this "
                                   "message_queue: a client that comes back to another process connects as new",
                             hint="use a redis:// message_queue, or sticky sessions at the load balancer")
    if "shutdown_reconnect" in server.model_fields_set and not server.shutdown_reconnect:
        yield source.problem(("server", "shutdown_reconnect"), "shutdown_reconnect: false has no effect with "
                                                               "connection_state_recovery: a stop tells clients "
                                                               "to come back",
                             hint="remove shutdown_reconnect, or turn recovery off")


def _secrets_in_file(source: ConfigSource, secret_options: dict) -> Iterator[Problem]:
    for path, value in _leaves(source.data, ()):
        if not isinstance(value, str) or not value or not _is_secret(path, secret_options):
            continue
        if path in source.env_defaults:
            yield source.problem(
                path, "a secret falls back to the default written in the file (its variable is not set)",
                hint="set the variable in production, or drop the default: ${NAME} fails when unset")
        elif path not in source.env_paths:
            yield source.problem(
                path, "a secret is written in the file",
                hint="write it as ${NAME} and set NAME in the environment, so the file can be shared")


def _is_secret(path: tuple, secret_options: dict) -> bool:
    keys = [part for part in path if isinstance(part, str)]
    if not keys:
        return False
    if len(keys) >= 2 and keys[-1] in secret_options.get(keys[-2], ()):
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
