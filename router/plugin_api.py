"""The plugin contract, in one place: what a step or an auth rule is, and what it is given.

A plugin is a function marked with :func:`step` or :func:`auth_rule`, in a module
that the registry loads (built-in modules, ``plugins/*.py``, or an installed
package's ``socketio_router.plugins`` entry point). Built-in plugins use exactly
this contract.

Step handler:   ``def handler(ctx: StepContext, options: MyOptions) -> None``
Auth rule:      ``def check(ctx: ConnectContext, options: MyOptions) -> Mapping | None``
                (return claims to merge into ``identity``; raise :class:`Refused` to say no)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Mapping
from urllib.parse import parse_qs

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from .errors import StepError
from .refusal import Refused

__all__ = ["Options", "NoOptions", "PluginSpec", "StepContext", "ConnectContext", "step",
           "auth_rule", "Refused", "StepError", "SPEC_ATTRIBUTE", "FileText", "ConfigFile"]

SPEC_ATTRIBUTE = "__socketio_router_plugin__"
STEP = "step"
AUTH_RULE = "auth rule"


class Options(BaseModel):
    """Base for a plugin's options: unknown keys are errors, so a typo fails at startup."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class NoOptions(Options):
    """For plugins that take no options (``- disconnect``)."""


@dataclass(frozen=True)
class FileText:
    """A file named in a plugin's options (a key file), as read by the config loader at startup."""

    path: str  # absolute
    text: str


FILE_READER = "read_file"  # the validation-context key of the loader's file reader


def _file_from_loader(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, FileText):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"give the path of a file, got {type(value).__name__} {value!r}")
    reader = (info.context or {}).get(FILE_READER)
    if reader is None:  # options models do no I/O: only the loader reads files
        raise ValueError("file options are read by the config loader; load the config with "
                         "router.config_loader.load_router")
    return reader(value)


# An option naming a file: the YAML holds a path, the plugin gets its FileText. Read once, at
# startup, by the loader; a missing file is a config error on that option's line.
ConfigFile = Annotated[FileText, BeforeValidator(_file_from_loader)]


@dataclass(frozen=True)
class PluginSpec:
    """A registered plugin: its kind, name, options model and handler."""

    kind: str
    name: str
    options: type[BaseModel]
    handler: Callable
    description: str

    @property
    def origin(self) -> str:
        """Where the handler is defined, for error messages."""
        code = getattr(self.handler, "__code__", None)
        if code is not None:
            return f"{code.co_filename}:{code.co_firstlineno}"
        return getattr(self.handler, "__module__", "?")


def _marker(kind: str, name: str, options: type[BaseModel] | None, description: str | None):
    if not isinstance(name, str) or not name:
        raise TypeError(f"a {kind} plugin needs a non-empty name, got {name!r}")
    options = NoOptions if options is None else options
    if not (isinstance(options, type) and issubclass(options, BaseModel)):
        raise TypeError(f"{kind} plugin {name!r}: options must be a pydantic model class, "
                        f"got {options!r}")

    def decorate(handler: Callable) -> Callable:
        doc = description or (inspect.getdoc(handler) or "").split("\n", 1)[0]
        setattr(handler, SPEC_ATTRIBUTE, PluginSpec(kind, name, options, handler, doc))
        return handler

    return decorate


def step(name: str, options: type[BaseModel] | None = None, *, description: str | None = None):
    """Mark ``handler(ctx, options)`` as the step plugin ``name``."""
    return _marker(STEP, name, options, description)


def auth_rule(name: str, options: type[BaseModel] | None = None, *, description: str | None = None):
    """Mark ``check(ctx, options)`` as the connect-auth rule ``name``."""
    return _marker(AUTH_RULE, name, options, description)


class StepContext:
    """What a step sees of the message it handles, and where it answers.

    ``args`` are the values the client sent (``data`` is the first). ``socketio``
    is the Flask-SocketIO object: emit with an explicit ``namespace`` and ``to``.
    A step sets the value returned to the client's callback with :meth:`set_ack`.
    ``count`` is how many events this client has sent on this namespace, this one
    included (0 in on_connect), as the classic Flask-SocketIO example counts them.
    """

    __slots__ = ("socketio", "namespace", "sid", "event", "args", "auth", "identity",
                 "error", "ack", "has_ack", "count", "_template_context")

    def __init__(self, socketio, namespace: str, sid: str, event: str, args: tuple,
                 auth: Any = None, identity: Mapping | None = None, error: str | None = None,
                 count: int = 0):
        self.socketio = socketio
        self.namespace = namespace
        self.sid = sid
        self.event = event
        self.args = args
        self.auth = auth
        self.identity = identity if identity is not None else {}
        self.error = error
        self.ack: tuple = ()
        self.has_ack = False
        self.count = count
        self._template_context: dict | None = None

    @property
    def data(self) -> Any:
        return self.args[0] if self.args else None

    def set_ack(self, *values: Any) -> None:
        """The values the client's callback receives (one value, or several)."""
        self.ack = values
        self.has_ack = True

    def template_context(self) -> dict:
        """The variables templates see; built once per message."""
        if self._template_context is None:
            self._template_context = {
                "data": self.data, "args": list(self.args), "event": self.event,
                "namespace": self.namespace, "sid": self.sid, "auth": self.auth,
                "identity": self.identity, "error": self.error, "count": self.count,
            }
        return self._template_context


class ConnectContext:
    """What an auth rule sees of a connection attempt: the auth payload and the HTTP request."""

    def __init__(self, namespace: str, sid: str, auth: Any, environ: Mapping):
        self.namespace = namespace
        self.sid = sid
        self.auth = auth
        self.environ = environ
        self._query: dict[str, list[str]] | None = None

    def header(self, name: str) -> str | None:
        """An HTTP header of the handshake request, by its usual name (``Origin``, ``X-Token``)."""
        key = "HTTP_" + name.upper().replace("-", "_")
        if name.lower() == "content-type":
            key = "CONTENT_TYPE"
        return self.environ.get(key)

    def query(self, name: str) -> str | None:
        """A query-string parameter of the handshake request (the first value)."""
        if self._query is None:
            self._query = parse_qs(self.environ.get("QUERY_STRING", ""), keep_blank_values=True)
        values = self._query.get(name)
        return values[0] if values else None

    @property
    def remote_addr(self) -> str | None:
        return self.environ.get("REMOTE_ADDR")
