"""Timers at run time: each compiled timer is one background task of the SocketIO server."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any

from router.compile.timers import CompiledTimer

log = logging.getLogger("socketio_router.timers")


class TimerRunner:
    """Runs compiled timers as background tasks of one Flask-SocketIO server.

    ``start()`` and ``stop()`` may be called more than once. A send that fails (a
    template error, an unserialisable value) is logged and the timer goes on.
    """

    def __init__(self, timers: list[CompiledTimer], socketio):
        self.timers = timers
        self.socketio = socketio
        self.sent: dict[str, int] = {timer.name: 0 for timer in timers}
        self._stopping = None
        self._done: list = []

    @property
    def running(self) -> bool:
        return self._stopping is not None and not self._stopping.is_set()

    def start(self) -> None:
        if self.running or not self.timers:
            return
        eio = self.socketio.server.eio
        self._stopping = eio.create_event()
        self._done = []
        for timer in self.timers:
            done = eio.create_event()
            self._done.append(done)
            self.socketio.start_background_task(self._run, timer, done)
            target = f"room {timer.room.value!r} of " if timer.room is not None and timer.room.static else ""
            log.info("timer %r: %r every %g s to %s%s", timer.name, timer.event, timer.every, target,
                     timer.namespace)

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop every timer; True when all have ended within ``timeout`` seconds."""
        if self._stopping is None:
            return True
        first = not self._stopping.is_set()
        self._stopping.set()
        deadline = time.monotonic() + timeout
        stopped = all(done.wait(max(0.0, deadline - time.monotonic())) for done in self._done)
        if first:
            sent = ", ".join(f"{name}: {count}" for name, count in self.sent.items())
            if stopped:
                log.info("timers stopped (messages sent: %s)", sent)
            else:
                log.warning("timers did not stop within %g s (messages sent: %s)", timeout, sent)
        return stopped

    def _run(self, timer: CompiledTimer, done) -> None:
        try:
            count = 0
            next_at = time.monotonic() + timer.every
            while not self._stopping.wait(max(0.0, next_at - time.monotonic())):
                count += 1
                self.send(timer, count)
                next_at += timer.every
                now = time.monotonic()
                if next_at <= now:  # fell behind (a long send, a stalled process): skip, never burst
                    next_at = now + timer.every
        finally:
            done.set()

    def send(self, timer: CompiledTimer, count: int) -> None:
        """Send ``timer``'s message number ``count`` now."""
        try:
            values, room = timer.render(count, datetime.now(timezone.utc))
            payload: Any = values[0] if len(values) == 1 else values
            self.socketio.emit(timer.event, payload, namespace=timer.namespace, to=room)
        except Exception as exc:
            log.error("timer %r: send %d failed: %s: %s", timer.name, count, type(exc).__name__, exc)
            return
        self.sent[timer.name] += 1
