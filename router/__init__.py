"""socketio-router: a declarative, YAML-configured Socket.IO event router on Flask-SocketIO.

A config travels one way, and each stage is a folder that imports only the folders
below it (tests/test_layers.py keeps it so)::

    cli/       the command line: serve, check, schema, test, emit, --reload
    server/    the Flask app and Flask-SocketIO object, managers, brokers, WSGI servers, stop, swap
    http/      HTTP endpoints: publish API, health, metrics, demo page, console
    runtime/   per connection and per message: dispatch, admission, rooms guard, timers
    compile/   at startup, once: models -> CompiledRouter (steps, templates, policies)
    builtins/  the built-in plugins, through the same contract as user plugins
    plugins/   the registry: built-ins, ./plugins/*.py, entry points
    config/    YAML text -> validated models; no Flask, no Socket.IO, no network
    plugin_api.py, errors.py, text.py, credentials.py, delivery.py: the contract and what every
               layer shares

upstream/ holds every override of a library's internals; only server/ imports it.

The package root re-exports the plugin contract. Names resolve on first use, so
``python router.py`` can choose its async mode and monkey-patch before pydantic,
Flask or python-socketio are imported.
"""

import importlib

_EXPORTS = {
    "ConnectContext": "plugin_api", "NoOptions": "plugin_api", "Options": "plugin_api",
    "StepContext": "plugin_api", "auth_rule": "plugin_api", "step": "plugin_api",
    "ConfigFile": "plugin_api", "FileText": "plugin_api", "room_name": "plugin_api",
    "Refused": "errors", "StartupError": "errors", "StepError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'router' has no attribute {name!r}")
