"""The config file's shape, as pydantic models. No I/O here: the loader reads files and the environment.

A plugin's own options are validated against the plugin's model by the compiler,
once the registry knows every plugin; here a step is only its name and raw options.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from router.config.limits import EventRate, NamespaceRate, RoomsConfig

RESERVED_EVENTS = ("connect", "disconnect", "connect_error")


def check_data_or_args(model: BaseModel) -> None:
    """One value (``data``) or several (``args``): the rule of every model that sends values."""
    if "data" in model.model_fields_set and getattr(model, "args", None) is not None:
        raise ValueError("give either data (one value) or args (several values), not both")


def check_namespace_name(namespace: str) -> str:
    """A namespace named in a request (the publish API, the emit command): it starts with '/'."""
    if not namespace.startswith("/"):
        raise ValueError(f"a namespace starts with '/', e.g. '/{namespace}'")
    return namespace


def check_event_name(event: str) -> str:
    """An event a server may emit: Socket.IO's lifecycle names are not."""
    if event in RESERVED_EVENTS:
        raise ValueError(f"{event!r} is reserved by Socket.IO; pick another event name")
    return event


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StepSpec(BaseModel):
    """One step as written: ``plugin-name: {options}`` or a bare ``plugin-name``."""

    plugin: str
    options: dict[str, Any] = Field(default_factory=dict)
    group: list["StepSpec"] | None = None  # the rules of an auth ``any:`` group


def _parse_step(value: Any, *, allow_group: bool = False) -> Any:
    if isinstance(value, StepSpec):
        return value
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("a step cannot be an empty name")
        return StepSpec(plugin=value.strip())
    if isinstance(value, dict) and len(value) == 1:
        name, options = next(iter(value.items()))
        if allow_group and name == "any":
            if not isinstance(options, list) or not options:
                raise ValueError("`any:` takes a non-empty list of rules, one of which must pass")
            return StepSpec(plugin="any", group=[_parse_step(rule, allow_group=True) for rule in options])
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ValueError(f"the options of {name!r} must be a mapping like {{key: value}}, "
                             f"got {type(options).__name__} {options!r}")
        return StepSpec(plugin=str(name), options=options)
    if isinstance(value, dict):
        keys = ", ".join(map(repr, value)) or "nothing"
        raise ValueError(f"a step is one plugin name with its options, but this mapping has {keys}; "
                         f"put each step in its own list item (- plugin: {{...}})")
    raise ValueError(f"a step is a plugin name or a one-key mapping `plugin: {{options}}`, "
                     f"got {type(value).__name__} {value!r}")


def _as_step_list(value: Any, *, allow_group: bool = False) -> Any:
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    return [_parse_step(item, allow_group=allow_group) for item in value]


Steps = Annotated[list[StepSpec], BeforeValidator(_as_step_list)]
AuthRules = Annotated[list[StepSpec], BeforeValidator(lambda v: _as_step_list(v, allow_group=True))]

# The keys of an event written in full: `name: {steps: [...], rate: 5/s, schema: {...}}`.
EVENT_KEYS = ("steps", "rate", "schema", "max_payload_bytes", "rooms")


def _event_form(value: Any) -> Any:
    """The short forms (a list of steps, or one step) become ``{steps: ...}``.

    Short forms are parsed here so their errors keep the event's own location.
    """
    if isinstance(value, dict) and set(value) & set(EVENT_KEYS):
        return value
    return {"steps": _as_step_list(value)}


class AdminUIConfig(_Strict):
    """The official Socket.IO Admin UI, through python-socketio's ``server.instrument()``."""

    username: str = "admin"
    password: str = Field(..., min_length=1)  # write ${ENV}: `check --strict` warns otherwise
    namespace: str = "/admin"
    # "development" reports every event and room change to the UI, at a cost on each message.
    mode: Literal["development", "production"] = "production"
    read_only: bool = False


class ServerConfig(_Strict):
    """How the server listens, and the Flask-SocketIO / python-socketio server options."""

    host: str = "127.0.0.1"
    port: int = Field(5000, ge=0, le=65535)
    async_mode: Literal["eventlet", "gevent", "threading"] = "eventlet"
    # Declared before cors_allowed_origins so its validator can see it.
    cors_allow_any_origin: bool = False
    # None: same origin only. "*" allows every origin and must be written on purpose.
    cors_allowed_origins: list[str] | Literal["*"] | None = None
    cors_credentials: bool = True
    ping_interval: float = Field(25, gt=0)
    ping_timeout: float = Field(20, gt=0)
    max_http_buffer_size: int = Field(1_000_000, gt=0)
    # Fair intake: checked where WebSocket frames are read (router/upstream/websocket_frames.py).
    max_client_bytes_per_second: int | None = Field(
        4_000_000, gt=0,
        description="bytes a second one WebSocket client may send, averaged over its burst; once "
                    "it has sent more, its next read waits (TCP slows the client down) instead of "
                    "the server spending its CPU on it. null: no limit")
    max_client_burst_bytes: int | None = Field(
        None, gt=0,
        description="bytes a client may send at once before max_client_bytes_per_second applies; "
                    "default: twice max_http_buffer_size, so a largest message always passes at once")
    secret_key: str | None = None
    path: str = "socket.io"
    transports: list[Literal["polling", "websocket"]] | None = None
    async_handlers: bool = True
    # The hand-written default caps eventlet at 1,024 concurrent connections; we do not.
    max_connections: int | None = Field(None, gt=0)
    tcp_nodelay: bool = True
    # permessage-deflate costs ~100 KB per connection and a deflate per frame per client.
    websocket_compression: bool = False
    logger: bool = False
    engineio_logger: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    message_queue: str | None = None
    channel: str = Field("flask-socketio", min_length=1)
    # Browser pages (router/pages.py, router/web.py): the classic demo page, the live console.
    demo_page: str | bool | None = None  # the namespace the page at / talks to, e.g. /test
    console: bool = False
    # Who may use the protected HTTP endpoints (router/api_key.py); write "${ROUTER_API_KEY}".
    api_key: str | None = None
    # Off in all but one process of a cluster, or every process runs every timer.
    timers_enabled: bool = True
    # Operations (see README "Operations")
    log_format: Literal["text", "json"] = "text"
    admin_ui: AdminUIConfig | None = None
    shutdown_timeout: float = Field(5, gt=0)  # seconds clients get to leave on SIGTERM
    shutdown_reconnect: bool = True  # close transports so clients reconnect (to the next server)

    @property
    def client_burst_bytes(self) -> int:
        """``max_client_burst_bytes``, or its default: twice ``max_http_buffer_size``."""
        return self.max_client_burst_bytes or 2 * self.max_http_buffer_size

    @field_validator("cors_allowed_origins")
    @classmethod
    def _any_origin_on_purpose(cls, origins: Any, info: ValidationInfo) -> Any:
        # engine.io reads "*", a list holding "*", and an empty list (no origin check at all)
        # as "any web page may connect with its visitors' cookies".
        if origins is not None and (origins == "*" or "*" in origins or not origins) \
                and not info.data.get("cors_allow_any_origin"):
            written = "an empty list" if origins == [] else repr(origins)
            raise ValueError(f"{written} lets any web page connect to this server; "
                             f"add cors_allow_any_origin: true next to it if that is what you want, "
                             f"list your sites' origins (e.g. [\"https://app.example.com\"]), "
                             f"or remove the key for same-origin only")
        return origins

    @field_validator("path")
    @classmethod
    def _strip_slashes(cls, value: str) -> str:
        return value.strip("/") or "socket.io"

    @field_validator("message_queue")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        # "${ROUTER_MESSAGE_QUEUE:-}" makes the queue optional: an empty value means "none".
        return value if value is None or value.strip() else None


class EventConfig(_Strict):
    """One event: its steps, and the abuse controls that override the namespace's for it."""

    steps: Steps
    rate: EventRate | None = None
    schema_: dict[str, Any] | bool | str | None = Field(None, alias="schema")
    max_payload_bytes: int | None = Field(None, gt=0)
    rooms: RoomsConfig | None = None


Event = Annotated[EventConfig, BeforeValidator(_event_form)]


class NamespaceConfig(_Strict):
    """One namespace: its door (auth), its lifecycle steps and its events."""

    class_: str | None = Field(None, alias="class")
    auth: AuthRules = Field(default_factory=list)
    on_connect: Steps = Field(default_factory=list)
    on_disconnect: Steps = Field(default_factory=list)
    events: dict[str, Event] = Field(default_factory=dict)
    on_error: Steps | None = None
    # Abuse controls (see README "Abuse controls"); an event's own settings override these.
    rooms: RoomsConfig | None = None
    rate: NamespaceRate | None = None
    max_payload_bytes: int | None = Field(None, gt=0)
    unknown_events: Literal["ignore", "error"] = "ignore"

    @field_validator("events")
    @classmethod
    def _no_reserved_events(cls, events: dict) -> dict:
        for name in events:
            if name in RESERVED_EVENTS:
                raise ValueError(f"{name!r} is a reserved event; use on_connect / on_disconnect "
                                 f"for the connection's lifecycle")
        return events

    @model_validator(mode="after")
    def _class_stands_alone(self) -> "NamespaceConfig":
        if self.class_ and (self.events or self.on_connect or self.on_disconnect or self.on_error
                            or self.auth):
            raise ValueError("a namespace mounted from a class handles its own events; remove "
                             "auth, events, on_connect, on_disconnect and on_error, or remove class")
        return self

    @model_validator(mode="after")
    def _limits_need_routed_events(self) -> "NamespaceConfig":
        # rooms: is enforced where clients enter rooms, so it holds for class namespaces too.
        if self.class_ and (self.rate or self.max_payload_bytes
                            or "unknown_events" in self.model_fields_set):
            raise ValueError("rate, max_payload_bytes and unknown_events apply to the namespace's "
                             "YAML events; a class namespace enforces its own")
        return self


class RouterConfig(_Strict):
    """The whole config file."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    plugins_dir: str | None = None
    on_error: Steps | None = None
    namespaces: dict[str, NamespaceConfig]
    timers: dict[str, "TimerConfig"] = Field(default_factory=dict)

    @field_validator("namespaces", mode="before")
    @classmethod
    def _namespace_names(cls, namespaces: Any) -> Any:
        if not isinstance(namespaces, dict):
            return namespaces
        if not namespaces:
            raise ValueError("declare at least one namespace, e.g. namespaces: {/chat: {events: ...}}")
        for name in namespaces:
            if not str(name).startswith("/"):
                raise ValueError(f"namespace {name!r} must start with '/', e.g. '/{name}'")
        # `/chat:` with nothing under it is a namespace with no events, not an error.
        return {name: ({} if body is None else body) for name, body in namespaces.items()}

    @model_validator(mode="after")
    def _admin_namespace_free(self) -> "RouterConfig":
        admin = self.server.admin_ui
        if admin is not None and admin.namespace in self.namespaces:
            raise ValueError(f"server.admin_ui.namespace {admin.namespace!r} is also declared under "
                             f"namespaces:; give the Admin UI another one, e.g. namespace: /socket-admin")
        return self


class TimerConfig(_Strict):
    """A message the server sends on its own every ``every`` seconds (see router/timers.py)."""

    every: float = Field(..., gt=0, description="seconds between two sends")
    namespace: str = Field(..., description="the namespace whose clients receive it")
    event: str = Field(..., min_length=1, description="the event name")
    data: Any = Field(None, description="one value (a template may use count, now, timer)")
    args: list[Any] | None = Field(None, description="several values instead of data")
    room: Any = Field(None, description="only this room's clients; default: the whole namespace")

    @field_validator("event")
    @classmethod
    def _not_reserved(cls, event: str) -> str:
        return check_event_name(event)

    @model_validator(mode="after")
    def _data_or_args(self) -> "TimerConfig":
        check_data_or_args(self)
        return self


RouterConfig.model_rebuild()
