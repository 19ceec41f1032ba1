"""Sample plugins for the auth and abuse-control tests.

A custom auth rule (``tenant_key``), a pydantic payload model (``ChatLine``) and
a class namespace that joins whatever room a client names, as hand-written
Flask-SocketIO apps do (the rooms guard must hold for it too).
"""

import hmac

from flask_socketio import Namespace, close_room, join_room
from pydantic import BaseModel, ConfigDict, Field

from router import ConnectContext, Options, Refused, auth_rule


class TenantKeyOptions(Options):
    tenants: dict[str, str] = Field(..., min_length=1, description="tenant name -> its key")


@auth_rule("tenant_key", TenantKeyOptions)
def tenant_key(ctx: ConnectContext, options: TenantKeyOptions) -> dict:
    """Header X-Tenant names a tenant and auth.key is its key; the tenant becomes identity.tenant."""
    tenant = ctx.header("X-Tenant")
    if not tenant:
        raise Refused("missing X-Tenant header")
    expected = options.tenants.get(tenant)
    if expected is None:
        raise Refused("unknown tenant")
    key = ctx.auth.get("key") if isinstance(ctx.auth, dict) else None
    if not isinstance(key, str) or not hmac.compare_digest(key.encode(), expected.encode()):
        raise Refused("invalid key")
    return {"tenant": tenant}


@auth_rule("broken_rule")
def broken_rule(ctx: ConnectContext, options) -> None:
    """A rule with a bug: the client must see a clean refusal, never the exception."""
    raise KeyError("secret internals")


class ChatLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room: str = Field(..., pattern=r"^room-")
    text: str = Field(..., max_length=20)


class HandWrittenRooms(Namespace):
    """join_room(data['room']) with no checks: the classic way to listen to anyone's messages."""

    def on_join(self, data):
        join_room(data["room"])
        return True

    def on_close(self, data):
        close_room(data["room"])
        return True
