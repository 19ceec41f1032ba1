"""Connect-auth rules, in-process: for each rule the accepted case, each refusal reason and
the bypass attempts (missing field, wrong type, expired / none-algorithm / forged JWT,
spoofed X-Forwarded-For), and the startup errors a user reads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from router.compile.load import load_source
from router.errors import StartupError
from router.config.source import parse_config_text
from tests.conftest import PLUGINS_DIR

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def token(claims: dict | None = None, key=SECRET, algorithm="HS256", headers=None, **extra) -> str:
    body = {"sub": "alice", "aud": "chat", "exp": int(time.time()) + 60}
    body.update(claims or {})
    body.update(extra)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm,
                      headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def reason(payload) -> tuple[str, str]:
    assert payload is not None, "the client was accepted"
    assert payload["data"] == {"rule": payload["rule"], "reason": payload["reason"]}
    return payload["rule"], payload["reason"]


def startup_error(text: str, environ: dict | None = None) -> str:
    import textwrap

    with pytest.raises(StartupError) as caught:
        load_source(parse_config_text(textwrap.dedent(text).lstrip(), "auth.yaml", environ or {}))
    return str(caught.value)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """RSA and EC key pairs; the public halves in PEM files, the private halves to sign with."""
    folder = tmp_path_factory.mktemp("keys")
    pairs = {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
             "ec": ec.generate_private_key(ec.SECP256R1())}
    result = {}
    for name, private in pairs.items():
        public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)
        private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
        (folder / f"{name}.pub").write_bytes(public_pem)
        (folder / f"{name}.key").write_bytes(private_pem)
        result[name] = {"private": private_pem, "public": str(folder / f"{name}.pub"),
                        "private_file": str(folder / f"{name}.key")}
    return result


# -- jwt ----------------------------------------------------------------------------------------

ISSUE_EXAMPLE = """
namespaces:
  /secure:
    auth:
      - jwt: {secret: "${JWT_SECRET}", algorithms: [HS256], audience: chat}
    rooms:
      allow: "^room-[a-z0-9]{1,16}$"
    rate: 10/s
    events:
      join:
        - room.join: {room: "{{ data.room }}"}
        - ack: {data: true}
      whoami:
        - ack: {data: "{{ identity.sub }}"}
"""


@pytest.fixture
def secure(build_router):
    return build_router(ISSUE_EXAMPLE, environ={"JWT_SECRET": SECRET})


def test_the_issue_example_loads_and_the_claims_become_identity(secure, connect):
    client = connect(secure, "/secure", auth={"token": token()})
    assert client.is_connected("/secure")
    assert client.emit("whoami", {}, namespace="/secure", callback=True) == "alice"
    assert client.emit("join", {"room": "room-abc"}, namespace="/secure", callback=True) is True


def test_configs_secure_yaml_is_the_issue_example():
    from tests.support.router_process import ROOT

    shipped = (ROOT / "configs" / "secure.yaml").read_text()
    assert ISSUE_EXAMPLE.strip().splitlines()[1:] == \
        [line for line in shipped.splitlines()[shipped.splitlines().index("namespaces:") + 1:]]


@pytest.mark.parametrize("make, expected", [
    (lambda: None, "missing token (auth field 'token')"),
    (lambda: token(exp=int(time.time()) - 30), "token expired"),
    (lambda: token(nbf=int(time.time()) + 300), "token not yet valid"),
    (lambda: token(aud="billing"), "wrong audience"),
    (lambda: token(aud=None), "missing claim 'aud'"),
    (lambda: token(exp=None), "missing claim 'exp'"),
    (lambda: token(key="another-secret-that-is-also-long-enough!!"), "invalid signature"),
    (lambda: token()[:-4] + "AAAA", "invalid signature"),
    (lambda: "not.a.jwt", "malformed token"),
    (lambda: "garbage", "malformed token"),
    (lambda: jwt.encode({"sub": "alice", "aud": "chat", "exp": int(time.time()) + 60}, None,
                        algorithm="none"), "algorithm not allowed"),
    (lambda: token(algorithm="HS512", key=SECRET * 2), "algorithm not allowed"),
], ids=["missing", "expired", "not-yet-valid", "wrong-audience", "no-audience", "no-expiry",
        "forged-with-other-key", "tampered-signature", "malformed", "not-a-jwt", "alg-none",
        "algorithm-not-listed"])
def test_jwt_refusals_say_why(secure, refusal, make, expected):
    presented = make()
    auth = {"token": presented} if presented is not None else {}
    assert reason(refusal(secure, "/secure", auth=auth)) == ("jwt", expected)


def test_jwt_bypass_attempts_with_the_wrong_shape(secure, refusal):
    assert reason(refusal(secure, "/secure", auth={"token": 12345})) == \
        ("jwt", "the token (auth field 'token') must be a string, got int")
    assert reason(refusal(secure, "/secure", auth={"token": {"sub": "alice"}})) == \
        ("jwt", "the token (auth field 'token') must be a string, got dict")
    assert reason(refusal(secure, "/secure", auth="just-a-string")) == \
        ("jwt", "missing token (auth field 'token')")
    assert reason(refusal(secure, "/secure")) == ("jwt", "missing token (auth field 'token')")
    # A none-algorithm token whose header lies about being HS256 fails the signature instead.
    header, payload, _ = token().split(".")
    forged_payload = jwt.utils.base64url_encode(b'{"sub":"root","aud":"chat","exp":9999999999}').decode()
    assert reason(refusal(secure, "/secure", auth={"token": f"{header}.{forged_payload}."})) == \
        ("jwt", "invalid signature")


def test_jwt_leeway_issuer_and_header_source(build_router, connect, refusal):
    router = build_router(f"""
        namespaces:
          /api:
            auth:
              - jwt: {{secret: "{SECRET}", algorithms: [HS256], issuer: auth.example,
                       leeway: 60, header: Authorization, required_claims: [exp, sub]}}
            events:
              me: {{ack: {{data: "{{{{ identity.sub }}}} from {{{{ identity.iss }}}}"}}}}
        """)
    ok = token(iss="auth.example", exp=int(time.time()) - 30, aud=None)  # expired, within leeway
    client = connect(router, "/api", headers={"Authorization": f"Bearer {ok}"})
    assert client.emit("me", namespace="/api", callback=True) == "alice from auth.example"
    assert reason(refusal(router, "/api", headers={"Authorization": f"Bearer {token(iss='evil', aud=None)}"})) \
        == ("jwt", "wrong issuer")
    assert reason(refusal(router, "/api", headers={"Authorization": f"Bearer {token(iss='auth.example', sub=None, aud=None)}"})) \
        == ("jwt", "missing claim 'sub'")
    assert reason(refusal(router, "/api", auth={"token": ok})) == ("jwt", "missing token (header Authorization)")


@pytest.mark.parametrize("kind, algorithm", [("rsa", "RS256"), ("ec", "ES256")])
def test_jwt_public_key_file(build_router, connect, refusal, keys, kind, algorithm):
    router = build_router(f"""
        namespaces:
          /k:
            auth:
              - jwt: {{public_key_file: "{keys[kind]['public']}", algorithms: [{algorithm}], audience: chat}}
            events:
              me: {{ack: {{data: "{{{{ identity.sub }}}}"}}}}
        """)
    signed = token(key=keys[kind]["private"], algorithm=algorithm)
    assert connect(router, "/k", auth={"token": signed}).emit("me", namespace="/k", callback=True) == "alice"
    other = "ec" if kind == "rsa" else "rsa"
    assert reason(refusal(router, "/k", auth={"token": token(key=keys[other]["private"],
                                                             algorithm="ES256" if other == "ec" else "RS256")})) \
        == ("jwt", "algorithm not allowed")
    # Algorithm confusion: an HS256 token signed with the (public) key file as the HMAC secret.
    # PyJWT will not sign with a PEM secret, so the token is built by hand.
    public_pem = open(keys[kind]["public"], "rb").read()
    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + \
        b64(json.dumps({"sub": "mallory", "aud": "chat", "exp": int(time.time()) + 60}).encode())
    signature = b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    assert reason(refusal(router, "/k", auth={"token": f"{signing_input}.{signature}"})) == \
        ("jwt", "algorithm not allowed")


def test_jwt_startup_errors_name_the_line_and_say_what_to_do(keys, tmp_path):
    text = startup_error("""
        namespaces:
          /a:
            auth:
              - jwt: {secret: "${JWT_SECRET}", algorithms: [none]}
        """, {"JWT_SECRET": SECRET})
    assert "auth.yaml:4: namespaces['/a'].auth[0].jwt.algorithms" in text
    assert "the 'none' algorithm accepts unsigned tokens" in text and "never allowed" in text

    text = startup_error("""
        namespaces:
          /a:
            auth:
              - jwt: {secret: "${JWT_SECRET}", algorithms: [HS256]}
        """, {"JWT_SECRET": "short"})
    assert "the secret is 5 bytes; HS256 needs at least 32 bytes (RFC 7518)" in text
    assert "secrets.token_urlsafe" in text

    text = startup_error("""
        namespaces:
          /a:
            auth:
              - jwt:
                  algorithms: [RS256]
                  public_key_file: does/not/exist.pem
        """)
    assert "auth.yaml:6: namespaces['/a'].auth[0].jwt.public_key_file: file 'does/not/exist.pem' not found" in text

    text = startup_error(f"""
        namespaces:
          /a:
            auth:
              - jwt: {{public_key_file: "{keys['rsa']['private_file']}", algorithms: [RS256]}}
        """)
    assert "holds a private key; give the router the public key only" in text

    text = startup_error(f"""
        namespaces:
          /a:
            auth:
              - jwt: {{public_key_file: "{keys['rsa']['public']}", algorithms: [ES256]}}
        """)
    assert "is not a PEM EC public key" in text

    text = startup_error(f"""
        namespaces:
          /a:
            auth:
              - jwt: {{secret: "{SECRET}", public_key_file: "{keys['rsa']['public']}", algorithms: [HS256, RS256]}}
        """)
    assert "do not mix HMAC (HS*) and public-key algorithms in one rule" in text

    text = startup_error("""
        namespaces:
          /a:
            auth:
              - jwt: {algorithms: [HS256]}
        """)
    assert "HS* algorithms need `secret`" in text


# -- token (the existing rule, wrong types) -----------------------------------------------------

def test_token_rule_refuses_non_string_tokens_without_crashing(build_router, refusal, connect):
    router = build_router("""
        namespaces:
          /t:
            auth:
              - token: {values: [s3cret]}
        """)
    assert reason(refusal(router, "/t", auth={"token": ["s3cret"]})) == \
        ("token", "the token (auth field 'token') must be a string, got list")
    assert reason(refusal(router, "/t", auth={"token": "\ud800"})) == ("token", "invalid token")
    assert connect(router, "/t", auth={"token": "s3cret"}).is_connected("/t")


# -- header / query -----------------------------------------------------------------------------

@pytest.fixture
def matching(build_router):
    return build_router("""
        namespaces:
          /h:
            auth:
              - header: {name: X-Client-Version, pattern: "2\\\\.[0-9]+"}
              - query: {name: tenant, values: [acme, globex]}
        """)


def test_header_and_query_rules_accept(matching, refusal):
    assert refusal(matching, "/h", headers={"X-Client-Version": "2.14"}, query_string="tenant=acme") is None


@pytest.mark.parametrize("headers, query, expected", [
    ({}, "tenant=acme", ("header", "missing header X-Client-Version")),
    ({"X-Client-Version": "1.9"}, "tenant=acme", ("header", "header X-Client-Version has a value that is not accepted")),
    # The pattern must match the whole value, so a prefix or suffix does not sneak through.
    ({"X-Client-Version": "2.1; drop"}, "tenant=acme", ("header", "header X-Client-Version has a value that is not accepted")),
    ({"X-Client-Version": " 2.1"}, "tenant=acme", ("header", "header X-Client-Version has a value that is not accepted")),
    ({"X-Client-Version": "2.1"}, "", ("query", "missing query parameter tenant")),
    ({"X-Client-Version": "2.1"}, "tenant=initech", ("query", "query parameter tenant has a value that is not accepted")),
    ({"X-Client-Version": "2.1"}, "tenant=ACME", ("query", "query parameter tenant has a value that is not accepted")),
])
def test_header_and_query_refusals(matching, refusal, headers, query, expected):
    assert reason(refusal(matching, "/h", headers=headers, query_string=query)) == expected


def test_header_rule_options_are_checked_at_startup():
    text = startup_error("""
        namespaces:
          /h:
            auth:
              - header: {name: X-Key}
        """)
    assert "auth.yaml:4: namespaces['/h'].auth[0].header: give values: [...] (accepted values)" in text
    text = startup_error("""
        namespaces:
          /h:
            auth:
              - query: {name: k, pattern: "(unclosed"}
        """)
    assert "invalid regular expression '(unclosed'" in text


# -- origin -------------------------------------------------------------------------------------

@pytest.fixture
def origins(build_router):
    return build_router("""
        namespaces:
          /o:
            auth:
              - origin: {allow: ["https://app.example.com", "http://localhost:3000"]}
          /lenient:
            auth:
              - origin: {allow: ["https://app.example.com"], allow_missing: true}
        """)


@pytest.mark.parametrize("origin", ["https://app.example.com", "HTTPS://App.Example.com:443",
                                    "https://app.example.com/", "http://localhost:3000"])
def test_origin_rule_accepts_listed_origins(origins, refusal, origin):
    assert refusal(origins, "/o", headers={"Origin": origin}) is None


@pytest.mark.parametrize("origin, expected", [
    (None, "missing Origin header"),
    ("https://evil.example.com", "origin 'https://evil.example.com' is not allowed"),
    ("https://app.example.com.evil.com", "origin 'https://app.example.com.evil.com' is not allowed"),
    ("http://app.example.com", "origin 'http://app.example.com' is not allowed"),
    ("http://localhost:3001", "origin 'http://localhost:3001' is not allowed"),
    ("null", "origin 'null' is not allowed"),
])
def test_origin_rule_refusals(origins, refusal, origin, expected):
    headers = {"Origin": origin} if origin is not None else {}
    assert reason(refusal(origins, "/o", headers=headers)) == ("origin", expected)


def test_origin_rule_allow_missing_is_for_non_browser_clients(origins, refusal):
    assert refusal(origins, "/lenient") is None
    assert reason(refusal(origins, "/lenient", headers={"Origin": "https://evil.example.com"})) == \
        ("origin", "origin 'https://evil.example.com' is not allowed")


def test_origin_rule_refuses_paths_and_wildcards_at_startup():
    text = startup_error("""
        namespaces:
          /o:
            auth:
              - origin: {allow: ["*"]}
        """)
    assert "'*' is not an origin; write scheme://host[:port] with no path" in text


# -- ip -----------------------------------------------------------------------------------------

def peer(router_app, address: str = "127.0.0.1"):
    """A Flask test client whose requests come from ``address`` (REMOTE_ADDR)."""
    client = router_app.app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_ip_rule_allow_and_deny(build_router, refusal):
    router = build_router("""
        namespaces:
          /local:
            auth:
              - ip: {allow: [127.0.0.0/8, "::1/128"]}
          /office:
            auth:
              - ip: {allow: [10.0.0.0/8]}
          /blocked:
            auth:
              - ip: {deny: [127.0.0.1]}
        """)
    assert refusal(router, "/local", flask_test_client=peer(router)) is None
    assert refusal(router, "/local", flask_test_client=peer(router, "::1")) is None
    assert reason(refusal(router, "/office", flask_test_client=peer(router))) == \
        ("ip", "address 127.0.0.1 is not in the allowed ranges")
    assert refusal(router, "/office", flask_test_client=peer(router, "10.20.30.40")) is None
    assert reason(refusal(router, "/blocked", flask_test_client=peer(router))) == \
        ("ip", "address 127.0.0.1 is denied")
    assert reason(refusal(router, "/blocked")) == ("ip", "cannot determine the client address")


def test_ip_rule_ignores_a_spoofed_forwarded_for_unless_the_proxy_is_trusted(build_router, refusal):
    router = build_router("""
        namespaces:
          /office:
            auth:
              - ip: {allow: [10.0.0.0/8]}
          /behind-proxy:
            auth:
              - ip: {allow: [10.0.0.0/8], deny: [10.6.6.0/24], trust_forwarded_for: [127.0.0.1/32]}
        """)
    spoofed = {"X-Forwarded-For": "10.1.2.3"}

    def attempt(namespace, headers, address="127.0.0.1"):
        return refusal(router, namespace, headers=headers, flask_test_client=peer(router, address))

    assert reason(attempt("/office", spoofed)) == ("ip", "address 127.0.0.1 is not in the allowed ranges")
    assert attempt("/behind-proxy", spoofed) is None
    # Not from the trusted proxy: the header is the client's own claim and is ignored.
    assert reason(attempt("/behind-proxy", spoofed, "192.0.2.50")) == \
        ("ip", "address 192.0.2.50 is not in the allowed ranges")
    # The client prepends a fake hop; the proxy appends the real one: the rightmost untrusted wins.
    assert reason(attempt("/behind-proxy", {"X-Forwarded-For": "10.1.2.3, 10.6.6.6"})) == \
        ("ip", "address 10.6.6.6 is denied")
    assert reason(attempt("/behind-proxy", {"X-Forwarded-For": "10.1.2.3, not-an-ip"})) == \
        ("ip", "cannot determine the client address")
    assert reason(attempt("/behind-proxy", {"X-Forwarded-For": "192.0.2.1"})) == \
        ("ip", "address 192.0.2.1 is not in the allowed ranges")


def test_client_address_resolution():
    from router.config.networks import client_address, parse_network

    proxies = [parse_network("10.0.0.0/8"), parse_network("2001:db8::/32")]
    assert str(client_address({"REMOTE_ADDR": "203.0.113.9"}, proxies)) == "203.0.113.9"
    assert str(client_address({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.1, 10.0.0.7"},
                              proxies)) == "198.51.100.1"
    assert str(client_address({"REMOTE_ADDR": "::ffff:10.0.0.2",
                               "HTTP_X_FORWARDED_FOR": "[2001:db8::5]:443, 198.51.100.2:5000"},
                              proxies)) == "198.51.100.2"
    assert str(client_address({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "10.0.0.9"}, proxies)) \
        == "10.0.0.9"
    assert client_address({"REMOTE_ADDR": "garbage"}, proxies) is None
    assert client_address({}, proxies) is None


def test_ip_rule_startup_errors():
    text = startup_error("""
        namespaces:
          /a:
            auth:
              - ip: {allow: [10.0.0.0/33]}
        """)
    assert "auth.yaml:4: namespaces['/a'].auth[0].ip.allow[0]: '10.0.0.0/33' is not an address range" in text
    text = startup_error("""
        namespaces:
          /a:
            auth:
              - ip: {trust_forwarded_for: [10.0.0.0/8]}
        """)
    assert "give allow: [...] or deny: [...] address ranges" in text


# -- custom rules from plugins/, any: groups ----------------------------------------------------

@pytest.fixture
def tenants(build_router):
    return build_router(f"""
        plugins_dir: "{PLUGINS_DIR}"
        namespaces:
          /t:
            auth:
              - tenant_key: {{tenants: {{acme: acme-key, globex: globex-key}}}}
            events:
              whoami: {{ack: {{data: "{{{{ identity.tenant }}}}"}}}}
          /either:
            auth:
              - any:
                  - tenant_key: {{tenants: {{acme: acme-key}}}}
                  - jwt: {{secret: "{SECRET}", algorithms: [HS256], audience: chat}}
            events:
              whoami: {{ack: {{data: "{{{{ identity.tenant | default(identity.sub) }}}}"}}}}
          /broken:
            auth:
              - broken_rule
        """)


def test_custom_rule_from_plugins_accepts_and_sets_identity(tenants, connect):
    client = connect(tenants, "/t", headers={"X-Tenant": "globex"}, auth={"key": "globex-key"})
    assert client.emit("whoami", namespace="/t", callback=True) == "globex"


@pytest.mark.parametrize("headers, auth, expected", [
    ({}, {"key": "acme-key"}, "missing X-Tenant header"),
    ({"X-Tenant": "initech"}, {"key": "acme-key"}, "unknown tenant"),
    ({"X-Tenant": "acme"}, {"key": "globex-key"}, "invalid key"),
    ({"X-Tenant": "acme"}, {"key": 7}, "invalid key"),
    ({"X-Tenant": "acme"}, None, "invalid key"),
])
def test_custom_rule_refusals(tenants, refusal, headers, auth, expected):
    assert reason(refusal(tenants, "/t", headers=headers, auth=auth)) == ("tenant_key", expected)


def test_any_group_passes_on_either_rule_and_lists_every_reason(tenants, connect, refusal):
    by_jwt = connect(tenants, "/either", auth={"token": token(sub="bob")})
    assert by_jwt.emit("whoami", namespace="/either", callback=True) == "bob"
    by_key = connect(tenants, "/either", headers={"X-Tenant": "acme"}, auth={"key": "acme-key"})
    assert by_key.emit("whoami", namespace="/either", callback=True) == "acme"
    assert reason(refusal(tenants, "/either", auth={"token": token(exp=int(time.time()) - 5)})) == \
        ("any", "no rule passed (tenant_key: missing X-Tenant header; jwt: token expired)")


def test_a_crashing_custom_rule_refuses_without_leaking_internals(tenants, refusal, caplog):
    payload = refusal(tenants, "/broken")
    assert reason(payload) == ("broken_rule", "internal error in the auth rule")
    assert "secret internals" not in repr(payload)
    assert "secret internals" in caplog.text  # the traceback is for the operator's log


def test_refusals_are_logged_with_rule_and_reason(secure, refusal, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="socketio_router")
    refusal(secure, "/secure", auth={"token": token(exp=int(time.time()) - 30)})
    assert "rule=jwt reason=token expired" in caplog.text
