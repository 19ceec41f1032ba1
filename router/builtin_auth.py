"""The built-in connect-auth rules. They use the same contract and registry as user plugins."""

from __future__ import annotations

import hmac

from pydantic import Field, model_validator

from .refusal import Refused
from .plugin_api import ConnectContext, Options, auth_rule


class TokenOptions(Options):
    values: list[str] = Field(..., min_length=1, description="accepted shared secrets; use ${ENV} references")
    field: str = Field("token", description="the key of the client's auth payload holding the token")
    header: str | None = Field(None, description="read the token from this HTTP header instead "
                                                 "(a 'Bearer ' prefix is removed)")
    query: str | None = Field(None, description="read the token from this query parameter instead")

    @model_validator(mode="after")
    def _one_source(self):
        if self.header and self.query:
            raise ValueError("read the token from a header or from a query parameter, not both")
        if any(not value for value in self.values):
            raise ValueError("an empty token would let anyone in; check the ${ENV} reference")
        return self


def _presented_token(ctx: ConnectContext, options: TokenOptions) -> str | None:
    if options.header:
        value = ctx.header(options.header)
        if value and value[:7].lower() == "bearer ":
            value = value[7:].strip()
        return value
    if options.query:
        return ctx.query(options.query)
    if isinstance(ctx.auth, dict):
        value = ctx.auth.get(options.field)
        return value if isinstance(value, str) else None
    return None


def constant_time_in(presented: str, accepted: list[str]) -> bool:
    """Whether ``presented`` is one of ``accepted``, comparing every candidate in constant time."""
    presented_bytes = presented.encode()
    found = False
    for value in accepted:
        found |= hmac.compare_digest(presented_bytes, value.encode())
    return found


@auth_rule("token", TokenOptions)
def token(ctx: ConnectContext, options: TokenOptions) -> None:
    """A shared secret from the auth payload (or a header / query parameter)."""
    presented = _presented_token(ctx, options)
    if not presented:
        where = (f"header {options.header}" if options.header else
                 f"query parameter {options.query}" if options.query else
                 f"auth field {options.field!r}")
        raise Refused(f"missing token ({where})")
    if not constant_time_in(presented, options.values):
        raise Refused("invalid token")
