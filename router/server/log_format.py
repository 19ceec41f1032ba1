"""Log formats: the plain text line, or one JSON object per line (``server.log_format: json``)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from router.runtime import current_event

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields a caller may pass with ``extra=`` that we copy to the JSON object.
CONTEXT_FIELDS = ("sid", "namespace", "event", "rule", "reason", "plugin", "remote_addr")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the Socket.IO context.

    ``sid``, ``namespace`` and ``event`` come from ``extra=`` when the caller gives
    them, else from the event being handled (the router's current event, or the
    Flask-SocketIO request), so every line a handler or a plugin logs carries them
    without changing the logging call.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_request_context())
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=repr, ensure_ascii=False)


def _request_context() -> dict:
    handled = current_event.current()  # an event handled without Flask's request context
    if handled is not None:
        return {"sid": handled.sid, "namespace": handled.namespace, "event": handled.event}
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return {}
    request = flask.request
    context = {}
    sid = getattr(request, "sid", None)
    if sid is not None:
        context["sid"] = sid
    namespace = getattr(request, "namespace", None)
    if namespace is not None:
        context["namespace"] = namespace
    event = getattr(request, "event", None)
    if isinstance(event, dict) and event.get("message"):
        context["event"] = event["message"]
    return context


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``server.log_format`` (``text`` or ``json``)."""
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)
