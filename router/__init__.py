"""socketio-router: a declarative, YAML-configured Socket.IO event router on Flask-SocketIO.

The package root re-exports the plugin contract. Names resolve on first use, so
``python router.py`` can choose its async mode and monkey-patch before pydantic,
Flask or python-socketio are imported.
"""

import importlib

_EXPORTS = {
    "ConnectContext": "plugin_api", "NoOptions": "plugin_api", "Options": "plugin_api",
    "StepContext": "plugin_api", "auth_rule": "plugin_api", "step": "plugin_api",
    "ConfigFile": "plugin_api", "FileText": "plugin_api",
    "Refused": "refusal", "StartupError": "errors", "StepError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'router' has no attribute {name!r}")
