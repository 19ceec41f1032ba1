"""The token buckets that enforce the config's rates, and the refusal counter.

Pure logic, no I/O and no Socket.IO: router/runtime/admission.py decides what a
bucket guards (a client's events, the connects of an address) and what to answer.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Hashable

from router.config.rates import Rate


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
