"""Rates as written in the config (``20/s``) and the token buckets that enforce them.

Pure logic, no I/O and no Socket.IO: :mod:`router.admission` decides what a bucket
guards (a client's events, the connects of an address) and what to answer.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Hashable

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


class TokenBucket:
    """Holds up to ``capacity`` tokens, refilled at ``rate`` per second; each event takes one.

    Not locked: the caller serialises access (one lock per table, or one client's
    events, which python-socketio runs one at a time per greenlet anyway).
    """

    __slots__ = ("rate", "capacity", "tokens", "stamp")

    def __init__(self, rate: float, capacity: float, now: float):
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 if one was there, else the seconds until one will be."""
        tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate

    def is_full(self, now: float) -> bool:
        return self.tokens + (now - self.stamp) * self.rate >= self.capacity


class BucketTable:
    """Token buckets by key (a client address, say), bounded in size.

    A full bucket is indistinguishable from a new one, so full buckets are dropped
    when the table grows past ``max_keys``; if every bucket is busy (many keys
    seen at once), the oldest half goes. Memory stays bounded whatever a client sends.
    """

    def __init__(self, rate: Rate, burst: int | None = None, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.capacity = float(burst if burst is not None else max(1.0, rate.count))
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[Hashable, TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, key: Hashable) -> float:
        """0.0 if ``key`` may go on, else the seconds to wait."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._sweep(now)
                bucket = self._buckets[key] = TokenBucket(self.rate.per_second, self.capacity, now)
            return bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.is_full(now)]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            for key in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[key]


class StrikeCounter:
    """Counts refusals in a fixed window; says when ``limit`` is reached within one."""

    __slots__ = ("count", "window_start")

    def __init__(self):
        self.count = 0
        self.window_start = 0.0

    def add(self, now: float, window: float) -> int:
        """Count one refusal; returns the count in the current window."""
        if now - self.window_start > window:
            self.window_start = now
            self.count = 0
        self.count += 1
        return self.count
