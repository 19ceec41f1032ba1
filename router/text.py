"""Text fit for a message or a log line: a client's value, cut to a length a reader can take."""

from __future__ import annotations

import re
from typing import Any

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def clip(text: str, limit: int) -> str:
    """``text``, or its first ``limit - 3`` characters and ``...`` when it is longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` clipped: a client may send a megabyte where a room name was expected."""
    return clip(repr(value), limit)


def shown_name(value: Any, limit: int = 100) -> str:
    """A name as itself when it is a string, else its ``repr``, clipped (an event name a client sent)."""
    return clip(value if isinstance(value, str) else repr(value), limit)


def format_path(path: tuple) -> str:
    """``('namespaces', '/chat', 'events', 'join', 0)`` -> ``namespaces['/chat'].events.join[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{str(part)!r}]"
    return text
