"""Reading a config: YAML text with its lines and ${ENV} references, the pydantic models, located
problems, lint. No Flask, no Socket.IO and no network here; only the loader reads files.

source.py (the file and its line map), models.py and limits.py (the shape of the file),
rates.py, durations.py and networks.py (the values users write: ``20/s``, ``2s``, ``10.0.0.0/8``),
problems.py (validation errors as located problems with hints), brokers.py (message queue
URLs), lint.py (risky settings, for ``check --strict``).
"""
