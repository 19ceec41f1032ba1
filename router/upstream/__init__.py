"""Every override of a third-party library's internals, one module per seam, fenced in here.

Each module starts with a table of what it overrides (module, name, why) and the versions it
was tested with, and declares a ``SEAM`` (router/upstream/_contract.py): the library names,
parameters and attributes it relies on. tests/test_upstream_contract.py checks every SEAM
against the installed libraries, so a library update fails there, naming the seam and what
changed. Only router/server/ (and the CLI) import this package, and it imports nothing of ours
but the base modules (router.errors, router.text); the runtime gets what it needs from here
through router/runtime/library_hooks.py, built by the server.
"""
