"""Attach the official Socket.IO Admin UI (https://admin.socket.io) through python-socketio's instrumentation.

``Server.instrument()`` is python-socketio's documented API for it, not an override.
What the instrumentation patches and what that means for the ping scheduler is
written down in router/upstream/pings.py (``works_with_admin_ui``).
"""

from __future__ import annotations

import logging
from typing import Any

from router.config.models import AdminUIConfig
from router.credentials import secrets_equal

log = logging.getLogger("socketio_router")


class AdminCredentials:
    """Checks the UI's login in constant time (python-socketio compares dicts with ``==``)."""

    def __init__(self, username: str, password: str):
        self.username = username
        self.password = password

    def __call__(self, auth: Any) -> bool:
        if not isinstance(auth, dict):
            return False
        username, password = auth.get("username"), auth.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return False
        # Both comparisons always run, so the time taken does not tell which one failed.
        user_ok = secrets_equal(username, self.username)
        password_ok = secrets_equal(password, self.password)
        return user_ok and password_ok


def attach_admin_ui(socketio, options: AdminUIConfig):
    """Instrument ``socketio``'s server; a wrong login gets ``connect_error`` "authentication failed".

    The UI is a web page on another origin: add ``https://admin.socket.io`` (or where
    you host the UI) to ``server.cors_allowed_origins``.
    """
    instrumented = socketio.server.instrument(
        auth=AdminCredentials(options.username, options.password), mode=options.mode,
        read_only=options.read_only, namespace=options.namespace)
    log.info("Admin UI attached on namespace %s (mode=%s%s)", options.namespace, options.mode,
             ", read-only" if options.read_only else "")
    return instrumented
