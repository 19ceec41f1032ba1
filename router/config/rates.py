"""Rates as written in the config (``20/s``): parsed and checked, enforced by router/runtime/rate_limit.py."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PERIODS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
            "h": 3600.0, "hr": 3600.0, "hour": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+?)s?\s*$", re.IGNORECASE)
RATE_HINT = "write a rate as COUNT/PERIOD with a period of s, m or h, e.g. 20/s, 300/m or 5/10s"


@dataclass(frozen=True)
class Rate:
    """``count`` events per ``period`` seconds, as the user wrote it (``text``)."""

    count: float
    period: float
    text: str

    @property
    def per_second(self) -> float:
        return self.count / self.period

    def __str__(self) -> str:
        return self.text


def parse_rate(value) -> Rate:
    """``"20/s"``, ``"300/m"``, ``"5/10s"`` -> :class:`Rate`; anything else is a ValueError."""
    if isinstance(value, Rate):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a rate is text like 20/s, got {type(value).__name__} {value!r}")
    match = _RATE.match(value)
    unit = match and match.group(3).lower()
    if not match or unit not in _PERIODS:
        raise ValueError(f"{value!r} is not a rate; {RATE_HINT}")
    count = float(match.group(1))
    period = float(match.group(2) or 1) * _PERIODS[unit]
    if count <= 0 or period <= 0:
        raise ValueError(f"{value!r} allows nothing; a rate needs a count and a period above 0")
    return Rate(count, period, value.strip())
