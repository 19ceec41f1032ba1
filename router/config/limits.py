"""The abuse-control sections of the config (``rate:``, ``rooms:``), as pydantic models.

No I/O and no per-client state: :mod:`router.compile.policies` compiles these into the
checks :mod:`router.runtime.admission` runs per message.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from router.config.durations import Duration
from router.config.networks import NetworkList
from router.config.rates import Rate, parse_rate
from router.config.strict import StrictModel

# json_schema_input_type: the JSON Schema (router.py schema) shows what a user writes.
RateText = Annotated[Rate, BeforeValidator(parse_rate, json_schema_input_type=str)]


def _short_rate(value: Any) -> Any:
    # `rate: 10/s` is the short form of `rate: {events: 10/s}`.
    return {"events": value} if isinstance(value, str) else value


class EventRateConfig(StrictModel):
    """An event's own rate: a token bucket per client for this event alone."""

    events: RateText = Field(..., description="events per client, e.g. 20/s")
    burst: int | None = Field(None, ge=1, description="bucket size: events a client may send at "
                                                      "once; default: the count of the rate")


EventRate = Annotated[EventRateConfig, BeforeValidator(_short_rate,
                                                      json_schema_input_type=str | EventRateConfig)]


class RateConfig(StrictModel):
    """A namespace's rates: its clients' events, and connection attempts per address."""

    events: RateText | None = Field(None, description="events per client, e.g. 20/s")
    burst: int | None = Field(None, ge=1, description="events a client may send at once; "
                                                      "default: the count of the rate")
    disconnect_after: int | None = Field(100, ge=1, description="disconnect a client once this many "
                                                                "of its events were refused within "
                                                                "abuse_window; null: never")
    abuse_window: float = Field(10.0, gt=0, description="seconds over which refusals are counted")
    connects_per_ip: RateText | None = Field(None, description="connection attempts per client "
                                                               "address, e.g. 30/m")
    connect_burst: int | None = Field(None, ge=1, description="attempts an address may make at once")
    trust_forwarded_for: NetworkList = Field(default_factory=list,
                                             description="proxies whose X-Forwarded-For names the "
                                                         "client address for connects_per_ip")

    @model_validator(mode="after")
    def _something_to_limit(self) -> "RateConfig":
        if self.events is None and self.connects_per_ip is None:
            raise ValueError("a rate section limits events, connects_per_ip or both; "
                             "write e.g. rate: 20/s or rate: {events: 20/s, connects_per_ip: 30/m}")
        if self.burst is not None and self.events is None:
            raise ValueError("burst sizes the events bucket; give events: too")
        if self.connect_burst is not None and self.connects_per_ip is None:
            raise ValueError("connect_burst sizes the connects_per_ip bucket; give connects_per_ip: too")
        return self


NamespaceRate = Annotated[RateConfig, BeforeValidator(_short_rate,
                                                     json_schema_input_type=str | RateConfig)]


IDENTITY_FIELD = r"^[A-Za-z_][A-Za-z0-9_]*$"


class PresenceConfig(StrictModel):
    """Who is in each room: members tracked across the cluster, joins and leaves announced."""

    key: str | None = Field(None, pattern=IDENTITY_FIELD,
                            description="an identity field (e.g. sub): a user's connections are one "
                                        "member, with a connections count; default: each connection "
                                        "is a member, shown with its sid")
    fields: list[Annotated[str, Field(pattern=IDENTITY_FIELD)]] = Field(
        default_factory=list, description="the identity fields a member shows, e.g. [sub, name]")
    announce: bool = Field(True, description="send `presence` join and leave notices to the room's "
                                             "other members; false: track only")
    ttl: Duration = Field("30s", validate_default=True, description="how soon the members of a router process that stopped "
                                            "answering leave the member lists (with Redis)")


class HistoryConfig(StrictModel):
    """What was said in each room: the last messages the steps sent into it."""

    size: int = Field(50, ge=1, le=10_000, description="messages kept per room, the newest")
    ttl: Duration = Field("24h", validate_default=True,
                          description="none older than this: 500ms, 2s, 1m, 1h")
    max_rooms: int = Field(10_000, ge=1, description="rooms whose history one process keeps in "
                                                     "memory; the least recently used goes first")


class RoomsConfig(StrictModel):
    """Which rooms a client may be put in, and how many; who is in them and what was said."""

    allow: str | None = Field(None, description="a regular expression the whole room name must match")
    max_per_client: int | None = Field(None, ge=1, description="most rooms a client may be in at once "
                                                               "(its own sid room not counted)")
    presence: PresenceConfig | None = Field(None, description="track members and announce joins and "
                                                              "leaves: {key, fields, announce, ttl} "
                                                              "(docs/presence-and-history.md)")
    history: HistoryConfig | None = Field(None, description="keep what the steps send into each room: "
                                                            "{size, ttl, max_rooms}; a namespace's "
                                                            "rooms only")

    @field_validator("allow")
    @classmethod
    def _pattern_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return pattern
