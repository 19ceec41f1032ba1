"""Text fit for a message or a log line: a client's value, cut to a length a reader can take."""

from __future__ import annotations

from typing import Any


def clip(text: str, limit: int) -> str:
    """``text``, or its first ``limit - 3`` characters and ``...`` when it is longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` clipped: a client may send a megabyte where a room name was expected."""
    return clip(repr(value), limit)


def shown_name(value: Any, limit: int = 100) -> str:
    """A name as itself when it is a string, else its ``repr``, clipped (an event name a client sent)."""
    return clip(value if isinstance(value, str) else repr(value), limit)
