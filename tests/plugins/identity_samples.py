"""An auth rule for the presence tests: the identity is what the client says it is (tests only)."""

from router import ConnectContext, NoOptions, Refused, auth_rule


@auth_rule("claimed", NoOptions)
def claimed(ctx: ConnectContext, options: NoOptions) -> dict:
    """Take ``auth["identity"]`` as the identity, as a JWT's claims would be (never in production)."""
    identity = (ctx.auth or {}).get("identity") if isinstance(ctx.auth, dict) else None
    if not isinstance(identity, dict):
        raise Refused("no identity in auth")
    return identity
