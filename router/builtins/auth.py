"""The built-in connect-auth rules. They use the same contract and registry as user plugins.

Every rule reads what it needs from the handshake (the client's ``auth`` payload,
a header, a query parameter, the peer address) and refuses with a reason a client
can act on, never echoing a secret it was sent.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, PrivateAttr, field_validator, model_validator

from router.config.networks import NetworkList, client_address, in_networks
from router.credentials import bearer_token, secret_in
from router.errors import Refused
from router.plugin_api import ConfigFile, ConnectContext, Options, auth_rule
from router.text import clip


class TokenSource(Options):
    """Where a rule finds the client's token: its auth payload, a header or a query parameter."""

    field: str = Field("token", description="the key of the client's auth payload holding the token")
    header: str | None = Field(None, description="read the token from this HTTP header instead "
                                                 "(a 'Bearer ' prefix is removed)")
    query: str | None = Field(None, description="read the token from this query parameter instead")

    @model_validator(mode="after")
    def _one_source(self):
        if self.header and self.query:
            raise ValueError("read the token from a header or from a query parameter, not both")
        return self

    def where(self) -> str:
        return (f"header {self.header}" if self.header else
                f"query parameter {self.query}" if self.query else f"auth field {self.field!r}")


class TokenOptions(TokenSource):
    values: list[str] = Field(..., min_length=1, description="accepted shared secrets; use ${ENV} references")

    @model_validator(mode="after")
    def _no_empty_token(self):
        if any(not value for value in self.values):
            raise ValueError("an empty token would let anyone in; check the ${ENV} reference")
        return self


def _presented_token(ctx: ConnectContext, options: TokenSource) -> str | None:
    """The token the client presented, None if it sent none; a non-text token is refused."""
    if options.header:
        value = ctx.header(options.header)
        return bearer_token(value) or value
    if options.query:
        return ctx.query(options.query)
    if isinstance(ctx.auth, dict):
        value = ctx.auth.get(options.field)
        if value is not None and not isinstance(value, str):
            raise Refused(f"the token ({options.where()}) must be a string, got {type(value).__name__}")
        return value
    return None


@auth_rule("token", TokenOptions, secret_options=("values",))
def token(ctx: ConnectContext, options: TokenOptions) -> None:
    """A shared secret from the auth payload (or a header / query parameter)."""
    presented = _presented_token(ctx, options)
    if not presented:
        raise Refused(f"missing token ({options.where()})")
    if not secret_in(presented, options.values):
        raise Refused("invalid token")


# -- jwt ------------------------------------------------------------------------------------

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
KEY_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
# RFC 7518 3.2: an HMAC key at least as long as the hash; shorter ones fall to offline guessing.
HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_KEY_FAMILY = {"RS": "RSA", "PS": "RSA", "ES": "EC"}


class JwtOptions(TokenSource):
    algorithms: list[str] = Field(..., min_length=1, description="accepted signing algorithms, "
                                                                 "e.g. [HS256] or [RS256]")
    secret: str | None = Field(None, description="the HMAC secret for HS256/384/512; use ${ENV}")
    public_key: str | None = Field(None, description="the PEM public key for RS/PS/ES algorithms")
    public_key_file: ConfigFile | None = Field(None, description="a PEM public key file, read at startup")
    audience: str | list[str] | None = Field(None, description="the aud claim must be (one of) this")
    issuer: str | None = Field(None, description="the iss claim must be this")
    required_claims: list[str] = Field(["exp"], description="claims a token must carry; [] accepts "
                                                            "tokens that never expire")
    leeway: float = Field(0, ge=0, description="seconds of clock skew allowed on exp / nbf / iat")

    _key: Any = PrivateAttr(None)

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, algorithms: list[str]) -> list[str]:
        for name in algorithms:
            if name.lower() == "none":
                raise ValueError("the 'none' algorithm accepts unsigned tokens: anyone could forge "
                                 "one. It is never allowed")
            if name not in HMAC_ALGORITHMS + KEY_ALGORITHMS:
                raise ValueError(f"unknown algorithm {name!r}; use one of "
                                 + ", ".join(HMAC_ALGORITHMS + KEY_ALGORITHMS))
        return algorithms

    @model_validator(mode="after")
    def _key_for_algorithms(self):
        hmac_algs = [a for a in self.algorithms if a in HMAC_ALGORITHMS]
        key_algs = [a for a in self.algorithms if a in KEY_ALGORITHMS]
        if hmac_algs and key_algs:
            # One verifier for both kinds invites algorithm confusion (a public key used as an
            # HMAC secret); use two rules in an `any:` group instead.
            raise ValueError("do not mix HMAC (HS*) and public-key algorithms in one rule; "
                             "write two jwt rules inside `- any: [...]`")
        if hmac_algs:
            if self.public_key or self.public_key_file:
                raise ValueError("HS* algorithms verify with `secret`, not a public key")
            if not self.secret:
                raise ValueError("HS* algorithms need `secret` (write secret: \"${JWT_SECRET}\"); "
                                 "an empty secret would let anyone sign tokens")
            needed = max(HMAC_MIN_BYTES[a] for a in hmac_algs)
            if len(self.secret.encode()) < needed:
                raise ValueError(f"the secret is {len(self.secret.encode())} bytes; "
                                 f"{'/'.join(hmac_algs)} needs at least {needed} bytes (RFC 7518), "
                                 f"else it can be guessed from any token. Generate one with: "
                                 f"python -c 'import secrets; print(secrets.token_urlsafe({needed}))'")
            self._key = self.secret
            return self
        if self.secret:
            raise ValueError(f"{'/'.join(key_algs)} verify with a public key (public_key or "
                             f"public_key_file), not `secret`")
        if bool(self.public_key) == bool(self.public_key_file):
            raise ValueError(f"{'/'.join(key_algs)} need exactly one of public_key (PEM text) "
                             f"or public_key_file (a path)")
        families = {_KEY_FAMILY[a[:2]] for a in key_algs}
        if len(families) > 1:
            raise ValueError("one public key cannot verify both RSA (RS*/PS*) and EC (ES*) "
                             "algorithms; write one jwt rule per key inside `- any: [...]`")
        pem = self.public_key or self.public_key_file.text
        where = f"public_key_file {self.public_key_file.path}" if self.public_key_file else "public_key"
        if "PRIVATE KEY" in pem:
            raise ValueError(f"{where} holds a private key; give the router the public key only "
                             f"(the signing key stays with whoever issues tokens)")
        from jwt.algorithms import (
            get_default_algorithms,  # PyJWT only for configs that use it
        )

        try:
            self._key = get_default_algorithms()[key_algs[0]].prepare_key(pem)
        except Exception as exc:  # PyJWT raises several types for an unusable key
            raise ValueError(f"{where} is not a PEM {families.pop()} public key: {exc}") from None
        return self


def _jwt_reasons(jwt) -> list:
    return [  # most specific first: these exceptions subclass one another
        (jwt.ExpiredSignatureError, "token expired"),
        (jwt.ImmatureSignatureError, "token not yet valid"),
        (jwt.InvalidAudienceError, "wrong audience"),
        (jwt.InvalidIssuerError, "wrong issuer"),
        (jwt.InvalidAlgorithmError, "algorithm not allowed"),
        (jwt.InvalidSignatureError, "invalid signature"),
        (jwt.DecodeError, "malformed token"),
    ]


@auth_rule("jwt", JwtOptions, secret_options=("secret",))
def jwt_rule(ctx: ConnectContext, options: JwtOptions) -> dict:
    """A signed JSON Web Token; its claims become ``identity`` (e.g. ``{{ identity.sub }}``)."""
    import jwt  # imported on use: `check` of a config without jwt rules does not load PyJWT

    presented = _presented_token(ctx, options)
    if not presented:
        raise Refused(f"missing token ({options.where()})")
    try:
        return jwt.decode(presented, options._key, algorithms=options.algorithms,
                          audience=options.audience, issuer=options.issuer, leeway=options.leeway,
                          options={"require": options.required_claims})
    except jwt.MissingRequiredClaimError as exc:
        raise Refused(f"missing claim {exc.claim!r}") from None
    except jwt.InvalidTokenError as exc:
        for kind, reason in _jwt_reasons(jwt):
            if isinstance(exc, kind):
                raise Refused(reason) from None
        raise Refused(f"invalid token: {exc}") from None


# -- header / query -------------------------------------------------------------------------

class MatchOptions(Options):
    name: str = Field(..., min_length=1, description="the header or query parameter to read")
    values: list[str] | None = Field(None, min_length=1, description="accepted values (exact, "
                                                                     "compared in constant time)")
    pattern: str | None = Field(None, description="a regular expression the whole value must match")

    _regex: re.Pattern | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _values_or_pattern(self):
        if self.values is None and self.pattern is None:
            raise ValueError("give values: [...] (accepted values) or pattern: \"...\" (a regular "
                             "expression), or both")
        if self.values is not None and any(not value for value in self.values):
            raise ValueError("an empty accepted value matches a missing one; check the ${ENV} reference")
        if self.pattern is not None:
            try:
                self._regex = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {self.pattern!r}: {exc}") from None
        return self

    def accepts(self, value: str) -> bool:
        if self.values is not None and secret_in(value, self.values):
            return True
        return self._regex is not None and self._regex.fullmatch(value) is not None


def _match(value: str | None, options: MatchOptions, what: str) -> None:
    # The value itself is never echoed: it may be a credential.
    if value is None:
        raise Refused(f"missing {what} {options.name}")
    if not options.accepts(value):
        raise Refused(f"{what} {options.name} has a value that is not accepted")


@auth_rule("header", MatchOptions)
def header_rule(ctx: ConnectContext, options: MatchOptions) -> None:
    """An HTTP header of the handshake equals one of `values` or matches `pattern`."""
    _match(ctx.header(options.name), options, "header")


@auth_rule("query", MatchOptions)
def query_rule(ctx: ConnectContext, options: MatchOptions) -> None:
    """A query parameter of the handshake equals one of `values` or matches `pattern`."""
    _match(ctx.query(options.name), options, "query parameter")


# -- origin ---------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_ORIGIN = re.compile(r"^(https?)://([^/?#\s:]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?/?$", re.IGNORECASE)


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port; None if not an origin."""
    match = _ORIGIN.match(origin.strip())
    if not match:
        return None
    scheme, host, port = match.group(1).lower(), match.group(2).lower(), match.group(3)
    if port and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


class OriginOptions(Options):
    allow: list[str] = Field(..., min_length=1, description="accepted origins, e.g. "
                                                            "https://app.example.com")
    allow_missing: bool = Field(False, description="accept clients that send no Origin header "
                                                   "(non-browser clients do not)")

    @field_validator("allow")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        normalized = []
        for origin in origins:
            value = normalize_origin(origin) if isinstance(origin, str) else None
            if value is None:
                raise ValueError(f"{origin!r} is not an origin; write scheme://host[:port] with no "
                                 f"path, e.g. https://app.example.com")
            normalized.append(value)
        return normalized


@auth_rule("origin", OriginOptions)
def origin_rule(ctx: ConnectContext, options: OriginOptions) -> None:
    """The handshake's Origin header is one of `allow` (on every transport, unlike CORS)."""
    origin = ctx.header("Origin")
    if origin is None:
        if options.allow_missing:
            return None
        raise Refused("missing Origin header")
    if normalize_origin(origin) not in options.allow:
        raise Refused(f"origin {clip(origin, 80)!r} is not allowed")
    return None


# -- ip -------------------------------------------------------------------------------------

class IpOptions(Options):
    allow: NetworkList = Field(default_factory=list, description="accepted ranges (CIDR); "
                                                                 "empty: every address not denied")
    deny: NetworkList = Field(default_factory=list, description="refused ranges (CIDR); win over allow")
    trust_forwarded_for: NetworkList = Field(default_factory=list,
                                             description="your reverse proxies (CIDR): from them "
                                                         "only, X-Forwarded-For names the client")

    @model_validator(mode="after")
    def _some_range(self):
        if not self.allow and not self.deny:
            raise ValueError("give allow: [...] or deny: [...] address ranges (CIDR, e.g. 10.0.0.0/8)")
        return self


@auth_rule("ip", IpOptions)
def ip_rule(ctx: ConnectContext, options: IpOptions) -> None:
    """The client's address is in `allow` (if given) and not in `deny`."""
    address = client_address(ctx.environ, options.trust_forwarded_for)
    if address is None:
        raise Refused("cannot determine the client address")
    if in_networks(address, options.deny):
        raise Refused(f"address {address} is denied")
    if options.allow and not in_networks(address, options.allow):
        raise Refused(f"address {address} is not in the allowed ranges")
    return None
