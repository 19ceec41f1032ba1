"""``schema``: print the JSON Schema of a config, for the plugins a config would load."""

from __future__ import annotations

import json

from router.compile.schema import config_schema


def schema_command(args) -> int:
    """``python router.py schema``: the schema for the plugins a config (or a directory) loads."""
    from router.compile.load import build_registry
    from router.config.source import ConfigSource, read_config_file

    if args.config:
        source = read_config_file(args.config)
        plugins_dir = source.raw("plugins_dir", object)
    else:
        source = ConfigSource(file="<schema>", data={})
        plugins_dir = args.plugins_dir
    registry = build_registry(source, plugins_dir)
    print(json.dumps(config_schema(registry), indent=2))
    return 0
