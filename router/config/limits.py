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


class RoomsConfig(StrictModel):
    """Which rooms a client may be put in, and how many."""

    allow: str | None = Field(None, description="a regular expression the whole room name must match")
    max_per_client: int | None = Field(None, ge=1, description="most rooms a client may be in at once "
                                                               "(its own sid room not counted)")

    @field_validator("allow")
    @classmethod
    def _pattern_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return pattern
