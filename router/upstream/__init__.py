"""Every override of a third-party library's internals, one module per seam, fenced in here.

Each module starts with a table of what it overrides (module, name, why) and the versions it
was tested with; tests/test_upstream_contract.py asserts that every overridden name still
exists with the shape the override assumes, so a library update fails there, naming the seam.
Only router/server/ imports this package, and it imports nothing of ours but router.errors.
"""
