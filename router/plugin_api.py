"""The plugin contract, in one place: what a step or an auth rule is, and what it is given.

A plugin is a function marked with :func:`step` or :func:`auth_rule`, in a module
that the registry loads (built-in modules, ``plugins/*.py``, or an installed
package's ``socketio_router.plugins`` entry point). Built-in plugins use exactly
this contract.

Step handler:   ``def handler(ctx: StepContext, options: MyOptions) -> None``
Auth rule:      ``def check(ctx: ConnectContext, options: MyOptions) -> Mapping | None``
                (return claims to merge into ``identity``; raise :class:`Refused` to say no)

A plugin's options are validated once per configured step or rule, at startup:
what a model keeps in private attributes (``PrivateAttr``: a key, a limiter, its
counters) belongs to that one step and lasts as long as the config is served;
rendering templated options per message keeps them. :func:`config_path` tells a
validator where in the file its step stands, for the plugin's logs and metrics.
"""

from __future__ import annotations

import inspect
import operator
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Iterable, Mapping
from urllib.parse import parse_qs

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from router.delivery import volatile_sends
from router.errors import Refused, StepError

__all__ = ["Options", "NoOptions", "PluginSpec", "StepContext", "ConnectContext", "step",
           "auth_rule", "room_name", "Refused", "StepError", "SPEC_ATTRIBUTE", "FileText", "ConfigFile",
           "Risk", "config_path"]

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
CONFIG_PATH = "config_path"  # the validation-context key of where the options stand in the file


def config_path(info: ValidationInfo) -> tuple:
    """Where the options being validated stand in the config file, as the compiler walks it:
    ``("namespaces", "/shop", "events", "order", 0)``; ``()`` when not validated by the compiler.

    For a validator (``def check(self, info: ValidationInfo)``) that names its step in logs
    and metrics labels.
    """
    return tuple((info.context or {}).get(CONFIG_PATH, ()))


def _file_from_loader(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, FileText):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"give the path of a file, got {type(value).__name__} {value!r}")
    reader = (info.context or {}).get(FILE_READER)
    if reader is None:  # options models do no I/O: only the loader reads files
        raise ValueError("file options are read by the config loader; load the config with "
                         "router.compile.load.load_router")
    return reader(value)


# An option naming a file: the YAML holds a path, the plugin gets its FileText. Read once, at
# startup, by the loader; a missing file is a config error on that option's line.
ConfigFile = Annotated[FileText, BeforeValidator(_file_from_loader, json_schema_input_type=str)]


@dataclass(frozen=True)
class Risk:
    """Something ``check --strict`` warns about in one configured step or rule (see ``risks=``).

    ``option`` names the option at fault, so the warning points at its line; None: the step's.
    """

    message: str
    hint: str | None = None
    option: str | None = None


@dataclass(frozen=True)
class PluginSpec:
    """A registered plugin: its kind, name, options model and handler, and what it declares.

    ``answers_callback``: a step that sets the client's callback value; at most one
    such step per event, and none in on_connect / on_disconnect (no callback there).
    A function of the step's options says so per configured step (``room.history``
    answers unless it replays).
    ``secret_options``: options holding credentials; ``check --strict`` warns when
    one is written in the file instead of an ``${ENV}`` reference.
    ``provides``: template variables the step sets (:meth:`StepContext.set_variable`);
    the templates of the steps after it in the same list may use them, checked at startup.
    ``describe(options) -> str``: what ``check`` prints next to the plugin's name in the
    routing table (where the step sends things).
    ``risks(options) -> [Risk]``: what ``check --strict`` warns about in one configured step.
    ``metrics(options_list) -> metric families``: called at each scrape of ``/metrics``
    with the options of every step and rule of the config that declares this same
    function; returns prometheus_client metric families (``CounterMetricFamily``...).
    ``needs_request_context``: the step uses what Flask-SocketIO gives a handler
    (``flask.request.sid``, ``session``, ``url_for``, ``request.event``, ``emit()`` without
    arguments). True unless declared otherwise; an event whose steps and error steps all say
    False is handled without a Flask request context, about a third of what an echo costs
    in process (every built-in step says False: it acts through its :class:`StepContext`).
    """

    kind: str
    name: str
    options: type[BaseModel]
    handler: Callable
    description: str
    answers_callback: bool | Callable[[Any], bool] = False
    secret_options: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset()
    describe: Callable[[Any], str | None] | None = None
    risks: Callable[[Any], Iterable[Risk]] | None = None
    metrics: Callable[[list], Iterable[Any]] | None = None
    needs_request_context: bool = True

    @property
    def origin(self) -> str:
        """Where the handler is defined, for error messages."""
        code = getattr(self.handler, "__code__", None)
        if code is not None:
            return f"{code.co_filename}:{code.co_firstlineno}"
        return getattr(self.handler, "__module__", "?")


def _marker(kind: str, name: str, options: type[BaseModel] | None, description: str | None,
            **declared: Any):
    if not isinstance(name, str) or not name:
        raise TypeError(f"a {kind} plugin needs a non-empty name, got {name!r}")
    options = NoOptions if options is None else options
    if not (isinstance(options, type) and issubclass(options, BaseModel)):
        raise TypeError(f"{kind} plugin {name!r}: options must be a pydantic model class, "
                        f"got {options!r}")

    def decorate(handler: Callable) -> Callable:
        doc = description or (inspect.getdoc(handler) or "").split("\n", 1)[0]
        setattr(handler, SPEC_ATTRIBUTE, PluginSpec(kind, name, options, handler, doc, **declared))
        return handler

    return decorate


def step(name: str, options: type[BaseModel] | None = None, *, description: str | None = None,
         answers_callback: bool | Callable[[Any], bool] = False, secret_options: tuple[str, ...] = (),
         provides: tuple[str, ...] = (), describe: Callable | None = None,
         risks: Callable | None = None, metrics: Callable | None = None,
         needs_request_context: bool = True):
    """Mark ``handler(ctx, options)`` as the step plugin ``name`` (see :class:`PluginSpec`)."""
    _check_secret_options(name, options, secret_options)
    for variable in provides:
        if not (isinstance(variable, str) and variable.isidentifier()):
            raise TypeError(f"step plugin {name!r}: provides names template variables, "
                            f"got {variable!r}")
    return _marker(STEP, name, options, description, answers_callback=answers_callback,
                   secret_options=frozenset(secret_options), provides=frozenset(provides),
                   describe=describe, risks=risks, metrics=metrics,
                   needs_request_context=bool(needs_request_context))


def auth_rule(name: str, options: type[BaseModel] | None = None, *, description: str | None = None,
              secret_options: tuple[str, ...] = (), describe: Callable | None = None,
              risks: Callable | None = None, metrics: Callable | None = None):
    """Mark ``check(ctx, options)`` as the connect-auth rule ``name`` (see :class:`PluginSpec`)."""
    _check_secret_options(name, options, secret_options)
    return _marker(AUTH_RULE, name, options, description, secret_options=frozenset(secret_options),
                   describe=describe, risks=risks, metrics=metrics)


def _check_secret_options(name: str, options: type[BaseModel] | None, secret: tuple[str, ...]) -> None:
    fields = set(getattr(options, "model_fields", None) or ())
    unknown = sorted(set(secret) - fields)
    if unknown:
        raise TypeError(f"plugin {name!r}: secret_options names {unknown}, which its options "
                        f"model does not have")


def room_name(value: Any) -> str:
    """A room named by a rendered option: a non-empty string (numbers are accepted as text)."""
    if type(value) is str and value:  # what nearly every call gets
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise StepError(f"room must be a non-empty string, got {type(value).__name__} {value!r}")
    name = str(value)
    if not name:
        raise StepError("room must be a non-empty string, got an empty one")
    return name


class StepContext:
    """What a step sees of the message it handles, and where it answers.

    ``args`` are the values the client sent (``data`` is the first). A step acts
    through :meth:`emit`, :meth:`broadcast`, :meth:`join`, :meth:`leave`,
    :meth:`close_room` and :meth:`disconnect`, all on this namespace, and sets the
    value returned to the client's callback with :meth:`set_ack`. ``socketio`` is
    the Flask-SocketIO object, for what these do not cover (emit with an explicit
    ``namespace``). A problem the client caused is a :class:`StepError` here.
    :meth:`room_members` and :meth:`room_history` read what ``rooms.presence`` and
    ``rooms.history`` keep (across the cluster), :meth:`in_room` whether the sender is in a room.
    ``count`` is how many events this client has sent on this namespace, this one
    included (0 in on_connect), as the classic Flask-SocketIO example counts them.
    ``recovered`` is true for a client whose session came back with connection state
    recovery (its on_connect steps included), false otherwise.
    In on_error steps, ``error`` is the message of what failed and ``failure`` the
    whole error payload (``message``, ``event``, and ``code`` with the details of a
    :class:`StepError` that has one). A step hands a value to the steps after it
    with :meth:`set_variable` (the ``http`` step's ``response``).
    """

    __slots__ = ("socketio", "namespace", "sid", "event", "args", "auth", "identity",
                 "error", "failure", "ack", "has_ack", "count", "recovered", "_template_context",
                 "_variables")

    # Set on the app's own subclass (router/runtime/dispatch.py) when its config uses them.
    _presence = None  # router/runtime/presence.py Presence
    _history = None   # router/runtime/history.py History

    def __init__(self, socketio, namespace: str, sid: str, event: str, args: tuple,
                 auth: Any = None, identity: Mapping | None = None, error: str | None = None,
                 count: int = 0, failure: Mapping | None = None):
        self.socketio = socketio
        self.namespace = namespace
        self.sid = sid
        self.event = event
        self.args = args
        self.auth = auth
        self.identity = identity if identity is not None else {}
        self.error = error
        self.failure = failure
        self.ack: tuple = ()
        self.has_ack = False
        self.count = count
        self.recovered = False  # the dispatcher sets it for a client whose session was recovered
        self._template_context: dict | None = None
        self._variables: dict | None = None

    @property
    def data(self) -> Any:
        return self.args[0] if self.args else None

    def emit(self, event: str, *values: Any, to: Any = None, include_self: bool = True,
             volatile: bool = False) -> None:
        """Send ``event`` with ``values`` to the sender, or with ``to`` to a room or a client's sid
        (``include_self=False``: not to the sender, if it is in that room). ``volatile``: not to
        a client that has other messages waiting to be sent (router/delivery.py)."""
        if to is None:
            self._send(event, values, self.sid, None, volatile)
        else:
            self._send(event, values, room_name(to), None if include_self else self.sid, volatile)

    def broadcast(self, event: str, *values: Any, include_self: bool = True,
                  volatile: bool = False) -> None:
        """Send ``event`` with ``values`` to every client of this namespace."""
        self._send(event, values, None, None if include_self else self.sid, volatile)

    def join(self, room: Any) -> None:
        """Put the sender in ``room`` (the namespace's ``rooms:`` policy may refuse it)."""
        self.socketio.server.enter_room(self.sid, room_name(room), namespace=self.namespace)

    def leave(self, room: Any) -> None:
        """Take the sender out of ``room``."""
        self.socketio.server.leave_room(self.sid, room_name(room), namespace=self.namespace)

    def close_room(self, room: Any) -> None:
        """Remove everyone from ``room``."""
        self.socketio.server.close_room(room_name(room), namespace=self.namespace)

    def disconnect(self) -> None:
        """Disconnect the sender from this namespace, after what was sent to it so far."""
        self.socketio.server.disconnect(self.sid, namespace=self.namespace)

    def in_room(self, room: Any) -> bool:
        """Whether the sender is in ``room``."""
        return room_name(room) in self.socketio.server.rooms(self.sid, namespace=self.namespace)

    def room_members(self, room: Any) -> list[dict]:
        """The members of ``room`` that ``rooms.presence`` tracks, across the cluster, sorted by key."""
        if self._presence is None:
            raise StepError("this config tracks no presence; set rooms.presence on the namespace")
        return self._presence.members(self.namespace, room_name(room))

    def room_history(self, room: Any, limit: int | None = None) -> list[dict]:
        """The last ``limit`` messages sent into ``room`` (``{"event", "args", "at"}``), oldest first."""
        if self._history is None or not self._history.keeps(self.namespace):
            raise StepError(f"namespace {self.namespace} keeps no history; set rooms.history on it")
        return self._history.last(self.namespace, room_name(room), limit)

    def _send(self, event: str, values: tuple, to: str | None, skip_sid: str | None,
              volatile: bool) -> None:
        if not isinstance(event, str) or not event:
            raise StepError(f"event must be a non-empty string, got {event!r}")
        # A tuple goes as several arguments, one value as itself. Straight to python-socketio:
        # Flask-SocketIO's emit only adds what a callback or include_self needs, unused here.
        payload = values[0] if len(values) == 1 else tuple(values)
        try:
            if volatile:
                with volatile_sends():
                    self.socketio.server.emit(event, payload, to=to, skip_sid=skip_sid,
                                              namespace=self.namespace)
            else:
                self.socketio.server.emit(event, payload, to=to, skip_sid=skip_sid,
                                          namespace=self.namespace)
        except (TypeError, ValueError) as exc:  # raised by the JSON encoder, before anything is sent
            raise StepError(f"the payload cannot be sent as JSON: {exc}") from exc

    def set_ack(self, *values: Any) -> None:
        """The values the client's callback receives (one value, or several)."""
        self.ack = values
        self.has_ack = True

    def set_variable(self, name: str, value: Any) -> None:
        """Let the templates of the following steps use ``value`` as ``name``.

        The plugin declares the names it sets (``@step(..., provides=("name",))``), so
        the compiler accepts them in later steps' templates and refuses them elsewhere.
        """
        if self._variables is None:
            self._variables = {}
        self._variables[name] = value
        if self._template_context is not None:
            self._template_context[name] = value

    def variable(self, name: str, default: Any = None) -> Any:
        """A value an earlier step set with :meth:`set_variable`."""
        return (self._variables or {}).get(name, default)

    def template_value(self, name: str, default: Any = None) -> Any:
        """What templates see as ``name`` (``default`` if they see no such variable): the same
        as ``template_context().get(name, default)``, without building every variable."""
        if self._template_context is not None:
            return self._template_context.get(name, default)
        if self._variables and name in self._variables:
            return self._variables[name]
        read = _TEMPLATE_VARIABLES.get(name)
        return default if read is None else read(self)

    def template_context(self) -> dict:
        """The variables templates see; built once per message."""
        if self._template_context is None:
            self._template_context = {name: read(self) for name, read in _TEMPLATE_VARIABLES.items()}
            if self._variables:
                self._template_context.update(self._variables)
        return self._template_context


# What template_context holds, by name: how each variable is read from a StepContext.
_TEMPLATE_VARIABLES: dict[str, Callable[[StepContext], Any]] = {
    "data": StepContext.data.fget, "args": lambda ctx: list(ctx.args),
    **{name: operator.attrgetter(name) for name in ("event", "namespace", "sid", "auth", "identity",
                                                    "error", "count", "failure", "recovered")},
}


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
