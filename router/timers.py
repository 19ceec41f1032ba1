"""Timers: messages the server sends on its own every N seconds (the classic example's
background thread, written in YAML).

```yaml
timers:
  server_time:
    every: 10
    namespace: /test
    event: my_response
    data: {data: Server generated event, count: "{{ count }}", at: "{{ now }}"}
```

Templates see ``count`` (1 on the first send), ``now`` (the time, ISO 8601 in UTC)
and ``timer`` (the timer's name). They are compiled with the rest of the config;
a timer naming an undeclared namespace is a startup error. Each timer is one
background task of the SocketIO server, started with it and stopped by
:meth:`TimerRunner.stop`. With a message queue, what one process sends reaches the
clients of every process: run timers in one process only (``server.timers_enabled``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .builtin_steps import room_name
from .config import RouterConfig
from .diagnostics import suggest
from .errors import Problem, StepError
from .templates import TemplateEngine, TemplateProblem, Value
from .yaml_source import ConfigSource

log = logging.getLogger("socketio_router.timers")

TIMER_NAMES = frozenset({"count", "now", "timer"})


@dataclass
class CompiledTimer:
    """A timer with its templates compiled."""

    name: str
    every: float
    namespace: str
    event: str
    values: Value            # renders to the list of values sent
    room: Value | None

    def render(self, count: int, now: datetime) -> tuple[tuple, str | None]:
        """The values to send and the room (None: the whole namespace) for send number ``count``."""
        context = {"count": count, "now": now.isoformat(timespec="seconds"), "timer": self.name}
        values = tuple(self.values.render(context))
        room = room_name(self.room.render(context)) if self.room is not None else None
        return values, room


def compile_timers(config: RouterConfig, source: ConfigSource,
                   engine: TemplateEngine) -> tuple[list[CompiledTimer], list[Problem]]:
    """Compile every ``timers:`` entry; return the timers and the problems found."""
    timers, problems = [], []
    for name, timer in config.timers.items():
        path = ("timers", name)
        if timer.namespace not in config.namespaces:
            hint = suggest(timer.namespace, list(config.namespaces))
            problems.append(source.problem(
                path + ("namespace",), f"timer {name!r} sends to namespace {timer.namespace!r}, "
                                       f"which the config does not declare", hint))
        if timer.args is not None:
            raw_values, key = timer.args, "args"
        else:
            raw_values, key = ([timer.data] if "data" in timer.model_fields_set else []), "data"
        values = room = None
        try:
            values = engine.compile(raw_values, TIMER_NAMES)
        except TemplateProblem as exc:
            inner = exc.path if key == "args" else exc.path[1:]  # data was wrapped in a list
            problems.append(source.problem(path + (key,) + tuple(inner), str(exc), exc.hint))
        try:
            room = engine.compile(timer.room, TIMER_NAMES) if timer.room is not None else None
        except TemplateProblem as exc:
            problems.append(source.problem(path + ("room",) + exc.path, str(exc), exc.hint))
        if values is None or (timer.room is not None and room is None):
            continue
        if room is not None and room.static:
            try:
                room_name(room.value)
            except StepError as exc:
                problems.append(source.problem(path + ("room",), str(exc)))
                continue
        timers.append(CompiledTimer(name, timer.every, timer.namespace, timer.event, values, room))
    return timers, problems


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
