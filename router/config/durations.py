"""Durations as written in the config (``500ms``, ``2s``, ``1m``, or a number of seconds), as seconds."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
DURATION_HINT = "write a duration like 500ms, 2s or 1m, or a number of seconds"


def parse_duration(value) -> float:
    """``"500ms"`` -> 0.5, ``"2s"`` -> 2.0, ``3`` -> 3.0; anything else is a ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"a duration is a number of seconds or text like 2s, got "
                         f"{type(value).__name__} {value!r}")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")
        seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    else:
        seconds = float(value)
    if not seconds > 0:
        raise ValueError(f"{value!r} is no time at all; a duration must be above 0")
    return seconds


# A duration option: the YAML holds 500ms / 2s / 3, the model holds seconds (a float).
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema({
    "anyOf": [{"type": "number", "exclusiveMinimum": 0},
              {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$"}],
    "description": "a duration: 500ms, 2s, 1m, or a number of seconds"})]


def shown_duration(seconds: float) -> str:
    """A duration as a config would write it: ``1h``, ``90s``, ``500ms``."""
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds:g}s" if seconds >= 1 else f"{seconds * 1000:g}ms"
