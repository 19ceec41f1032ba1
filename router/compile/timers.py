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
a timer naming an undeclared namespace is a startup error. Each timer runs as
one background task of the SocketIO server (router/runtime/timers.py). With a message queue, what one process sends reaches the
clients of every process: run timers in one process only (``server.timers_enabled``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from router.compile.templates import TemplateEngine, TemplateProblem, Value
from router.config.problems import suggest
from router.errors import Problem, StepError
from router.plugin_api import room_name

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


def compile_timers(compiled, engine: TemplateEngine) -> list[Problem]:
    """Compile every ``timers:`` entry into ``compiled.timers`` (a feature check of the
    compiler); return the problems found."""
    config, source = compiled.config, compiled.source
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
    compiled.timers = timers
    return problems
