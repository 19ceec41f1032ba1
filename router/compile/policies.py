"""Compile the abuse-control sections (rate, rooms, max_payload_bytes, schema) into policies.

Runs at startup with the rest of the compiler: a bad schema, a payload limit
engine.io would pre-empt, or a model that does not exist is a located
:class:`Problem`. The policies hold no per-client state (see :mod:`router.runtime.admission`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from router.compile.payload_schema import PayloadSchema, SchemaProblem, compile_schema
from router.config.durations import shown_duration
from router.config.limits import HistoryConfig, PresenceConfig, RoomsConfig
from router.config.models import EventConfig, NamespaceConfig, RouterConfig
from router.config.networks import Network
from router.config.rates import Rate
from router.errors import Problem, RoomRefused
from router.text import shown


@dataclass(frozen=True)
class RoomsPolicy:
    """``rooms.allow`` (the whole name must match) and ``rooms.max_per_client``."""

    allow: re.Pattern | None = None
    max_per_client: int | None = None
    presence: PresenceConfig | None = None  # the joins made under this policy are tracked so

    @property
    def limits_anything(self) -> bool:
        return self.allow is not None or self.max_per_client is not None

    def check(self, room: str, current_rooms: list, sid: str) -> None:
        """Raise :class:`RoomRefused` unless ``sid`` (now in ``current_rooms``) may enter ``room``."""
        if self.allow is not None and not (isinstance(room, str) and self.allow.fullmatch(room)):
            raise RoomRefused(f"room {shown(room)} is not allowed here (rooms must match "
                              f"{self.allow.pattern!r})")
        if self.max_per_client is not None and room not in current_rooms:
            joined = sum(1 for r in current_rooms if r != sid)  # its own sid room is not counted
            if joined >= self.max_per_client:
                raise RoomRefused(f"already in {joined} rooms, the most allowed here; "
                                  f"leave one first")


@dataclass(frozen=True)
class BucketSpec:
    """A token bucket per client: the namespace's (``key`` None) or one event's own."""

    key: str | None
    rate: Rate
    capacity: float

    def describe(self) -> str:
        return f"{self.rate} (burst {self.capacity:g})"


@dataclass(frozen=True)
class EventPolicy:
    """The checks an event's messages pass before its steps run, cheapest first."""

    rate: BucketSpec | None = None
    max_payload_bytes: int | None = None
    schema: PayloadSchema | None = None

    @property
    def checks_anything(self) -> bool:
        return self.rate is not None or self.max_payload_bytes is not None or self.schema is not None

    def describe(self) -> list[str]:
        parts = []
        if self.rate is not None:
            parts.append(f"rate {self.rate.describe()}")
        if self.max_payload_bytes is not None:
            parts.append(f"max {self.max_payload_bytes} bytes")
        if self.schema is not None:
            parts.append(f"schema: {self.schema.description}")
        return parts


@dataclass
class NamespacePolicy:
    """Everything the abuse controls need to know about one namespace."""

    name: str
    default: EventPolicy = field(default_factory=EventPolicy)   # unknown events, and the base
    events: dict[str, EventPolicy] = field(default_factory=dict)
    unknown_events: str = "ignore"
    disconnect_after: int | None = None
    abuse_window: float = 10.0
    connects: BucketSpec | None = None
    trusted_proxies: list[Network] = field(default_factory=list)
    rooms: RoomsPolicy | None = None
    event_rooms: dict[str, RoomsPolicy | None] = field(default_factory=dict)
    history: HistoryConfig | None = None

    @property
    def presence_anywhere(self) -> bool:
        """Whether some join of this namespace (its own rooms: or an event's) is tracked."""
        return any(policy is not None and policy.presence is not None
                   for policy in (self.rooms, *self.event_rooms.values()))

    def rooms_for(self, event: str | None) -> RoomsPolicy | None:
        if event is not None and event in self.event_rooms:
            return self.event_rooms[event]
        return self.rooms

    def describe(self) -> str:
        """One line for ``check``: the namespace's limits and the events that differ."""
        parts = self.default.describe()
        if self.connects is not None:
            parts.append(f"connects {self.connects.rate} per address")
        if self.rooms is not None and self.rooms.limits_anything:
            parts.append("rooms " + _describe_rooms(self.rooms))
        if self.unknown_events != "ignore":
            parts.append(f"unknown events: {self.unknown_events}")
        own = []
        for event, policy in self.events.items():
            differs = [p for p in policy.describe() if p not in self.default.describe()]
            if event in self.event_rooms and _describe_rooms(self.event_rooms[event]) != \
                    _describe_rooms(self.rooms):
                differs.append("rooms " + _describe_rooms(self.event_rooms[event]))
            if differs:
                own.append(f"{event} ({', '.join(differs)})")
        if own:
            parts.append("own limits: " + "; ".join(own))
        return ", ".join(parts)


def _describe_rooms(policy: RoomsPolicy | None) -> str:
    if policy is None:
        return "any"
    parts = []
    if policy.allow is not None:
        parts.append(f"matching {policy.allow.pattern}")
    if policy.max_per_client is not None:
        parts.append(f"at most {policy.max_per_client}")
    return " ".join(parts) or "any"


def describe_presence(presence: PresenceConfig | None) -> str:
    """``key sub, fields sub name, announced, ttl 30s``; ``off`` for None."""
    if presence is None:
        return "off"
    parts = [f"key {presence.key}" if presence.key else "one member per connection"]
    if presence.fields:
        parts.append("fields " + " ".join(presence.fields))
    parts.append("announced" if presence.announce else "not announced")
    parts.append(f"ttl {shown_duration(presence.ttl)}")
    return ", ".join(parts)


def describe_history(history: HistoryConfig) -> str:
    return (f"last {history.size} per room, ttl {shown_duration(history.ttl)}, at most "
            f"{history.max_rooms} rooms in memory")


def compile_policies(config: RouterConfig, source, registry, compiled_namespaces: dict) -> list[Problem]:
    """Give each compiled namespace its ``policy``; return the problems found."""
    problems: list[Problem] = []
    for name, namespace in config.namespaces.items():
        compiler = _PolicyCompiler(config, source, registry, problems, ("namespaces", name))
        compiled_namespaces[name].policy = compiler.namespace(name, namespace)
    return problems


class _PolicyCompiler:
    def __init__(self, config: RouterConfig, source, registry, problems: list[Problem], path: tuple):
        self.buffer_size = config.server.max_http_buffer_size
        self.source = source
        self.registry = registry
        self.problems = problems
        self.path = path

    def namespace(self, name: str, namespace: NamespaceConfig) -> NamespacePolicy:
        rate = namespace.rate
        base_bucket = None
        if rate is not None and rate.events is not None:
            base_bucket = BucketSpec(None, rate.events, _capacity(rate.events, rate.burst))
        base = EventPolicy(rate=base_bucket,
                           max_payload_bytes=self._payload_limit(namespace.max_payload_bytes,
                                                                 self.path + ("max_payload_bytes",)))
        policy = NamespacePolicy(name=name, default=base, unknown_events=namespace.unknown_events,
                                 rooms=_rooms(namespace.rooms, None),
                                 history=namespace.rooms.history if namespace.rooms else None)
        if rate is not None:
            policy.disconnect_after = rate.disconnect_after
            policy.abuse_window = rate.abuse_window
            policy.trusted_proxies = list(rate.trust_forwarded_for)
            if rate.connects_per_ip is not None:
                policy.connects = BucketSpec(None, rate.connects_per_ip,
                                             _capacity(rate.connects_per_ip, rate.connect_burst))
        for event, spec in namespace.events.items():
            policy.events[event] = self.event(event, spec, base)
            if spec.rooms is not None:
                policy.event_rooms[event] = _rooms(spec.rooms, namespace.rooms)
        return policy

    def event(self, event: str, spec: EventConfig, base: EventPolicy) -> EventPolicy:
        path = self.path + ("events", event)
        bucket = base.rate
        if spec.rate is not None:
            bucket = BucketSpec(event, spec.rate.events, _capacity(spec.rate.events, spec.rate.burst))
        limit = base.max_payload_bytes
        if spec.max_payload_bytes is not None:
            limit = self._payload_limit(spec.max_payload_bytes, path + ("max_payload_bytes",))
        schema = None
        if spec.schema_ is not None:
            schema = self._schema(spec.schema_, path + ("schema",))
        return EventPolicy(rate=bucket, max_payload_bytes=limit, schema=schema)

    def _payload_limit(self, limit: int | None, path: tuple) -> int | None:
        if limit is not None and limit >= self.buffer_size:
            self.problems.append(self.source.problem(
                path, f"max_payload_bytes ({limit}) must be below server.max_http_buffer_size "
                      f"({self.buffer_size}): engine.io drops the connection above that size "
                      f"before the router can answer",
                hint="lower max_payload_bytes, or raise server.max_http_buffer_size above it "
                     "(leave room for the event name and packet framing)"))
            return None
        return limit

    def _schema(self, value: Any, path: tuple) -> PayloadSchema | None:
        try:
            return compile_schema(value, self.registry.resolve_object)
        except SchemaProblem as exc:
            self.problems.append(self.source.problem(path + exc.path, str(exc), exc.hint))
            return None


def _capacity(rate: Rate, burst: int | None) -> float:
    # A bucket holds at least one token, else a rate like 1/m could never let anything through.
    return float(burst) if burst is not None else max(1.0, rate.count)


def _rooms(rooms: RoomsConfig | None, base: RoomsConfig | None) -> RoomsPolicy | None:
    """An event's ``rooms:`` overrides the namespace's key by key."""
    if rooms is None and base is None:
        return None
    merged: dict = {}
    for layer in (base, rooms):
        if layer is not None:
            merged.update({key: getattr(layer, key) for key in layer.model_fields_set})
    allow = merged.get("allow")
    return RoomsPolicy(allow=re.compile(allow) if allow is not None else None,
                       max_per_client=merged.get("max_per_client"), presence=merged.get("presence"))


# The built-in steps that read what rooms.presence / rooms.history keep, and what each needs.
ROOM_STATE_STEPS = {"room.members": "presence", "room.history": "history"}


def check_room_steps(compiled, engine=None) -> list[Problem]:
    """``room.members`` needs rooms.presence in its namespace, ``room.history`` rooms.history (a
    feature check of the compiler)."""
    problems = []
    for path, plugin, _ in compiled.configured_plugins():
        needs = ROOM_STATE_STEPS.get(plugin.name)
        if needs is None:
            continue
        if path[0] != "namespaces":  # the top-level on_error: no namespace of its own
            problems.append(compiled.source.problem(
                path, f"{plugin.name} reads the rooms of a namespace; the top-level on_error has none",
                hint=f"use {plugin.name} in a namespace's events"))
            continue
        policy = compiled.namespaces[path[1]].policy
        has = policy is not None and (policy.presence_anywhere if needs == "presence"
                                      else policy.history is not None)
        if not has:
            example = "presence: {}" if needs == "presence" else "history: {size: 50, ttl: 1h}"
            problems.append(compiled.source.problem(
                path, f"{plugin.name} needs rooms.{needs} in namespace {path[1]}",
                hint=f"add rooms: {{{example}}} to {path[1]}"))
    return problems
