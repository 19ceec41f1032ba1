"""Load a config file end to end: read the YAML, load plugins, validate, compile.

This is the only place that touches the file system and the environment for a config.
"""

from __future__ import annotations

import functools
import os
from typing import Mapping

from pydantic import ValidationError

from router.builtins import auth as builtin_auth
from router.builtins import http as builtin_http
from router.builtins import steps as builtin_steps
from router.compile.compiler import CompiledRouter, compile_router
from router.compile.pages import check_pages
from router.compile.policies import check_room_steps
from router.compile.timers import compile_timers
from router.config.brokers import check_message_queue
from router.config.models import RouterConfig
from router.config.problems import problems_from_validation
from router.config.source import ConfigSource, read_config_file
from router.errors import StartupError
from router.plugin_api import FileText
from router.plugins.registry import Registry

DEFAULT_PLUGINS_DIR = "plugins"
# Features outside the namespaces check (and compile) their part of the config here.
FEATURE_CHECKS = (check_pages, compile_timers, check_message_queue, check_room_steps)
BUILTIN_MODULES = (builtin_steps, builtin_auth, builtin_http)


def load_router(filename: str, environ: Mapping[str, str] | None = None,
                overrides: dict | None = None) -> CompiledRouter:
    """Read ``filename`` and compile it; every problem is one :class:`StartupError`.

    ``overrides`` are merged into ``server:`` (the CLI's --host / --port).
    """
    source = read_config_file(filename, environ)
    return load_source(source, overrides)


def load_source(source: ConfigSource, overrides: dict | None = None) -> CompiledRouter:
    if not isinstance(source.data, dict):
        raise StartupError(source.problem((), "the config must be a mapping with a `namespaces:` key",
                                          hint="see configs/chat.yaml for an example"))
    data = dict(source.data)
    if overrides:
        server = data.get("server") or {}
        data["server"] = {**server, **{k: v for k, v in overrides.items() if v is not None}}
    registry = build_registry(source, data.get("plugins_dir"))
    try:
        config = RouterConfig.model_validate(data)
    except ValidationError as exc:
        raise StartupError(problems_from_validation(exc, source, (), RouterConfig)) from None
    return compile_router(config, source, registry, read_file=functools.partial(read_named_file, source),
                          checks=FEATURE_CHECKS)


def read_named_file(source: ConfigSource, path: str) -> FileText:
    """A file a plugin option of ``source`` names (a key file), read once at startup.

    A relative path starts from the config file's directory, as every path in a
    config does. A ValueError becomes a problem located at the option that names the file.
    """
    absolute = source.resolve(path)
    try:
        with open(absolute, encoding="utf-8") as handle:
            return FileText(absolute, handle.read())
    except FileNotFoundError:
        raise ValueError(f"file {path!r} not found ({relative_paths(source)})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path!r}: {exc}") from None


def relative_paths(source: ConfigSource) -> str:
    """Where a relative path of ``source`` starts, for messages about a path not found."""
    if source.file.startswith("<"):
        return f"relative paths start from the working directory, {source.directory}"
    return f"relative paths start from the config file's directory, {source.directory}"


def plugins_directory(source: ConfigSource, written=None) -> str:
    """The plugins directory of ``source``: ``written`` (its plugins_dir), else plugins/ beside it."""
    return source.resolve(written if isinstance(written, str) else DEFAULT_PLUGINS_DIR)


def build_registry(source: ConfigSource, plugins_dir) -> Registry:
    """Built-in plugins, then installed entry points, then the plugins directory."""
    registry = Registry()
    for module in BUILTIN_MODULES:
        registry.register_module(module)
    registry.load_entry_points()
    directory = plugins_directory(source, plugins_dir)
    if plugins_dir is None:
        if os.path.isdir(directory):
            registry.load_directory(directory)
    elif not isinstance(plugins_dir, str):
        raise StartupError(source.problem(("plugins_dir",), "plugins_dir must be a path"))
    elif not os.path.isdir(directory):
        raise StartupError(source.problem(
            ("plugins_dir",), f"plugins directory {plugins_dir!r} does not exist ({relative_paths(source)})",
            hint="create it, or fix the path"))
    else:
        registry.load_directory(directory)
    return registry
