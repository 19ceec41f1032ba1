"""The command line: ``serve`` (the default), ``check``, ``schema``, ``test`` and ``emit``, and
the ``--reload`` supervisor. Config problems print as one message and exit 2, never a traceback."""
