"""The ``http`` step and the ``http`` auth rule: route events and connections to your backend.

The step sends the event to a URL (by default a JSON envelope of the event) and lets the
steps after it use the answer as ``response``; a 4xx answer stops the steps with
``code: backend_rejected``, no usable answer with ``code: backend_unavailable``. The rule
asks a URL whether a client may connect, and fails closed. Both sign their requests with
``secret:`` (router/builtins/backend_client.py has the scheme) and count their calls in
``/metrics``. Only the configured scheme and host are ever called: a template may come
after the host, never before it.
"""

from __future__ import annotations

import collections
import ipaddress
import re
import threading
import time
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from router.builtins.backend_client import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Backend,
    Unreachable,
    backend_metrics,
    json_body,
)
from router.config.durations import Duration
from router.errors import Refused, StepError
from router.plugin_api import (
    ConnectContext,
    Options,
    Risk,
    StepContext,
    auth_rule,
    config_path,
    step,
)
from router.text import clip, format_path

SECRET_MIN_BYTES = 32  # as long as the SHA-256 output (RFC 2104): a shorter key is easier to guess
_TEMPLATE = re.compile(r"\{\{|\{%")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Set by the router on every request: a config may not replace them.
_OWN_HEADERS = {"content-type", "content-length", "host", "transfer-encoding",
                TIMESTAMP_HEADER.lower(), SIGNATURE_HEADER.lower()}
_ENGINEIO_QUERY = {"EIO", "transport", "t", "sid"}  # the handshake's own query parameters
DEFAULT_FORWARD_HEADERS = ["Authorization", "Cookie", "Origin", "User-Agent"]
MAX_CACHED_ANSWERS = 10_000
MESSAGE_LIMIT = 500  # characters of a backend's message passed on to a client


class BackendOptions(Options):
    """What the http step and the http rule share: where to call, how long to wait, the secret."""

    URL_TEMPLATES: ClassVar[bool] = False

    url: str = Field(..., description="the backend's http:// or https:// URL")
    timeout: Duration = Field(5.0, description="how long to wait for the answer: 500ms, 2s, "
                                               "or a number of seconds")
    secret: str | None = Field(None, description="sign every request with HMAC-SHA256 under this "
                                                 "secret (X-Router-Signature); use ${ENV}")

    _backend: Backend = PrivateAttr(None)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        check_url(url, cls.URL_TEMPLATES)
        return url

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, secret: str | None) -> str | None:
        if secret is not None and len(secret.encode()) < SECRET_MIN_BYTES:
            raise ValueError(f"the secret is {len(secret.encode())} bytes; signing needs at least "
                             f"{SECRET_MIN_BYTES} (an empty one usually means the ${{ENV}} variable is "
                             f"empty). Generate one with: python -c 'import secrets; "
                             f"print(secrets.token_urlsafe({SECRET_MIN_BYTES}))'")
        return secret

    def backend(self, info: ValidationInfo, max_in_flight: int | None = None) -> Backend:
        """The calls of this configured step, named by where it stands in the file."""
        path = config_path(info)
        namespace = str(path[1]) if len(path) > 1 and path[0] == "namespaces" else ""
        within = format_path(path[2:] if namespace else path) or "?"
        return Backend(format_path(path) or "an http step", (namespace, within), self.timeout,
                       self.secret, max_in_flight)


def check_url(url: str, templates: bool) -> None:
    """An http(s) URL whose scheme and host are written out; a template only after the host."""
    marker = _TEMPLATE.search(url)
    if marker and not templates:
        raise ValueError("the auth rule's url is not a template (there is no message yet); "
                         "use ${ENV} references")
    fixed = url[:marker.start()] if marker else url
    try:
        parts = urlsplit(fixed)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r}: the url must start with http:// or https://")
    if marker and not re.match(r"^[a-z]+://[^/?#]+[/?#]", fixed):
        raise ValueError(f"{url!r}: a template may only come after the host (http://host:port/"
                         f"path/{{{{ data.id }}}}), so no message can choose where the router connects")
    if not parts.hostname:
        raise ValueError(f"{url!r} names no host; write e.g. http://127.0.0.1:8080/orders")
    if parts.username is not None or parts.password is not None:
        raise ValueError("put credentials in headers (or use secret:), not in the url, where "
                         "`check` and the logs would show them")


def check_header_name(name: str) -> None:
    if not _HEADER_NAME.match(name):
        raise ValueError(f"{name!r} is not a header name (letters, digits and -)")


def text_field(answer, keys: tuple[str, ...], limit: int) -> str | None:
    """The first of ``keys`` that the answer's JSON object holds as text, clipped."""
    body = answer.json()
    if isinstance(body, dict):
        for key in keys:
            if isinstance(body.get(key), str) and body[key]:
                return clip(body[key], limit)
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shown_url(url: str) -> str:
    """The url for ``check``'s table: its query left out, as it may hold a key."""
    return url.split("?", 1)[0] + ("?..." if "?" in url else "")


def _risks(options: BackendOptions) -> list[Risk]:
    risks = []
    parts = urlsplit(_TEMPLATE.split(options.url, 1)[0])
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        risks.append(Risk(f"{parts.hostname} is called over plain http://: anyone on the way can "
                          f"read and change the calls and the answers",
                          hint="use https://, or keep the backend on this machine (127.0.0.1)",
                          option="url"))
    if options.secret is None:
        risks.append(Risk("the calls are not signed: the backend cannot tell them from anyone "
                          "else's requests",
                          hint='add secret: "${WEBHOOK_SECRET}" and check X-Router-Signature in '
                               'the backend (see docs/backend.md)'))
    return risks


def _metrics(options_list: list[BackendOptions]):
    return backend_metrics([options._backend for options in options_list])


# -- the step -------------------------------------------------------------------------------

class HttpStepOptions(BackendOptions):
    URL_TEMPLATES: ClassVar[bool] = True

    url: str = Field(..., description="the backend's http:// or https:// URL; a template may "
                                      "follow the host, e.g. .../orders/{{ data.id }}")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        "POST", description="the HTTP method; GET sends no body")
    headers: dict[str, Any] = Field(default_factory=dict, description="more request headers; "
                                                                      "values may be templates")
    body: Any = Field(None, description="the JSON body; default: {namespace, event, args, sid, "
                                        "identity}")
    max_in_flight: int | None = Field(None, gt=0, description="calls of this step under way at "
                                                              "once, in this process; more are "
                                                              "refused at once")

    _envelope: bool = PrivateAttr(True)

    @field_validator("headers")
    @classmethod
    def _header_names(cls, headers: dict) -> dict:
        for name in headers:
            check_header_name(name)
            if name.lower() in _OWN_HEADERS:
                raise ValueError(f"the router sets {name} itself; remove it from headers")
        return headers

    @model_validator(mode="after")
    def _per_step(self, info: ValidationInfo):
        self._envelope = "body" not in self.model_fields_set
        self._backend = self.backend(info, self.max_in_flight)
        return self


def _describe_step(options: HttpStepOptions) -> str:
    return f"{options.method} {shown_url(options.url)}"


def _request_headers(headers: dict[str, Any]) -> dict[str, str]:
    sent = {}
    for name, value in headers.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        if "\r" in text or "\n" in text:
            raise StepError(f"header {name}: a value cannot hold a line break")
        sent[name] = text
    return sent


def _checked_url(url: str) -> str:
    """The url as rendered for this message; no ``..`` segment may climb out of the written path
    (urllib3 and many backends resolve them: ``/orders/{{ data.id }}`` must not reach ``/admin``)."""
    path = urlsplit(url).path
    if "." in path and any(segment.lower().replace("%2e", ".") in (".", "..")
                           for segment in path.split("/")):
        raise StepError("the url built from this message has a '.' or '..' segment; "
                        "send such values in the query string or in the body")
    return url


def _envelope(ctx: StepContext) -> dict:
    return {"namespace": ctx.namespace, "event": ctx.event, "args": list(ctx.args), "sid": ctx.sid,
            "identity": ctx.identity}


@step("http", HttpStepOptions, provides=("response",), secret_options=("secret",),
      describe=_describe_step, risks=_risks, metrics=_metrics, needs_request_context=False)
def http_step(ctx: StepContext, options: HttpStepOptions) -> None:
    """Call your backend; the steps after it see its answer as `response` (status, json, text, headers)."""
    backend = options._backend
    if options.method == "GET":
        body = b""
    else:
        try:
            body = json_body(_envelope(ctx) if options._envelope else options.body)
        except (TypeError, ValueError) as exc:
            raise StepError(f"the body cannot be sent as JSON: {exc}") from None
    try:
        answer, seconds = backend.call(options.method, _checked_url(options.url),
                                       _request_headers(options.headers), body)
    except Unreachable as exc:
        raise StepError(_UNAVAILABLE[exc.outcome], code="backend_unavailable", logged=True) from None
    except ValueError as exc:  # http.client refuses a URL with spaces or control characters
        raise StepError(f"the url built from this message is not valid: {clip(str(exc), 200)}") from None
    status = answer.status
    if 200 <= status < 300:
        backend.record("ok", seconds)
        ctx.set_variable("response", {"status": status, "json": answer.json(), "text": answer.text,
                                      "headers": answer.headers})
        return
    if 400 <= status < 500:
        backend.record("rejected", seconds)
        raise StepError(text_field(answer, ("message", "error"), MESSAGE_LIMIT)
                        or f"the backend refused the request ({status})",
                        code="backend_rejected", status=status)
    backend.record("server_error", seconds, f"answered {status}", options.method, options.url)
    raise StepError("the backend is unavailable", code="backend_unavailable", logged=True,
                    status=status)


# What a client is told when there is no answer; the log has the URL and the cause.
_UNAVAILABLE = {
    "timeout": "the backend did not answer in time",
    "connection_error": "the backend is unavailable",
    "bad_answer": "the backend's answer cannot be used",
    "busy": "the backend is busy; try again",
}


# -- the auth rule --------------------------------------------------------------------------

class HttpRuleOptions(BackendOptions):
    cache: Duration | None = Field(None, description="remember each answer this long, per auth "
                                                     "payload, headers, query and address")
    forward_headers: list[str] = Field(default_factory=lambda: list(DEFAULT_FORWARD_HEADERS),
                                       description="the handshake's headers sent to the backend")

    _answers: "AnswerCache | None" = PrivateAttr(None)

    @field_validator("forward_headers")
    @classmethod
    def _header_names(cls, names: list[str]) -> list[str]:
        for name in names:
            check_header_name(name)
        return names

    @model_validator(mode="after")
    def _per_rule(self, info: ValidationInfo):
        self._backend = self.backend(info)
        if self.cache is not None:
            self._answers = AnswerCache(self.cache)
        return self


class AnswerCache:
    """The backend's answers by request body, each kept ``seconds``; the oldest go first."""

    def __init__(self, seconds: float, size: int = MAX_CACHED_ANSWERS, clock=time.monotonic):
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._answers: collections.OrderedDict[bytes, tuple[float, Any]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Any:
        with self._lock:
            entry = self._answers.get(key)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self._answers[key]
                return None
            return entry[1]

    def put(self, key: bytes, answer: Any) -> None:
        with self._lock:
            self._answers[key] = (self.clock() + self.seconds, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)


def _describe_rule(options: HttpRuleOptions) -> str:
    cached = f", answers kept {options.cache:g} s" if options.cache else ""
    return f"POST {shown_url(options.url)}{cached}"


def _query(environ) -> dict[str, str]:
    values = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    return {name: found[0] for name, found in values.items() if name not in _ENGINEIO_QUERY}


UNAVAILABLE_REASON = "auth backend unavailable"


@auth_rule("http", HttpRuleOptions, secret_options=("secret",), describe=_describe_rule,
           risks=_risks, metrics=_metrics)
def http_rule(ctx: ConnectContext, options: HttpRuleOptions) -> dict:
    """Ask your backend: a 200 with a JSON object admits (its `identity` merges into identity)."""
    headers = {name: ctx.header(name) for name in options.forward_headers}
    request = {"namespace": ctx.namespace, "auth": ctx.auth,
               "headers": {name: value for name, value in headers.items() if value is not None},
               "query": _query(ctx.environ), "remote_addr": ctx.remote_addr}
    try:
        body = json_body(request)
    except (TypeError, ValueError):
        raise Refused("the auth payload cannot be sent as JSON") from None
    cache = options._answers
    if cache is not None:
        cached = cache.get(body)
        if cached is not None:
            return _decided(cached)
    backend = options._backend
    try:
        answer, seconds = backend.call("POST", options.url, {}, body)
    except Unreachable:
        raise Refused(UNAVAILABLE_REASON) from None
    decision = None
    payload = answer.json()
    if answer.status == 200 and isinstance(payload, dict):
        identity = payload.get("identity")
        decision = ("admit", identity if isinstance(identity, dict) else payload)
        backend.record("ok", seconds)
    elif answer.status in (401, 403):
        decision = ("refuse", text_field(answer, ("reason", "message"), 200)
                    or "refused by the auth backend")
        backend.record("rejected", seconds)
    elif answer.status == 200:
        backend.record("bad_answer", seconds, "answered 200 without a JSON object", "POST", options.url)
    else:
        backend.record("server_error", seconds, f"answered {answer.status}", "POST", options.url)
    if decision is None:
        raise Refused(UNAVAILABLE_REASON)  # fail closed
    if cache is not None:
        cache.put(body, decision)
    return _decided(decision)


def _decided(decision: tuple[str, Any]) -> dict:
    kind, value = decision
    if kind == "refuse":
        raise Refused(value)
    return dict(value)
