"""Compiling a validated config, once, at startup: plugins looked up, options validated,
templates compiled, abuse policies built, feature checks run. Everything that can be wrong
with a config is found here, with its line; nothing here runs per message.

load.py is the entry point (file -> CompiledRouter); compiler.py knows no plugin and no
feature by name: timers.py, pages.py and the broker URL check hand their checks in.
"""
