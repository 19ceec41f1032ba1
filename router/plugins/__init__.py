"""The plugin registry: built-in, ``plugins/*.py`` and entry-point plugins, each checked against
the contract of router/plugin_api.py when it is registered."""
