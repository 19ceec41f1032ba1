"""The config file's shape, as pydantic models. No I/O here: the loader reads files and the environment.

A plugin's own options are validated against the plugin's model by the compiler,
once the registry knows every plugin; here a step is only its name and raw options.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from router.config.durations import Duration
from router.config.limits import EventRate, NamespaceRate, RoomsConfig
from router.config.strict import StrictModel

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


class StepSpec(BaseModel):
    """One step as written: ``plugin-name: {options}`` or a bare ``plugin-name``."""

    plugin: str
    options: dict[str, Any] = Field(default_factory=dict)
    group: list["StepSpec"] | None = None  # the rules of an auth ``any:`` group


# What a client hears when a step fails and neither the namespace nor the file says otherwise,
# written as a config would write it: `- emit: {event: error, data: "{{ failure }}"}`, i.e.
# {"message": ..., "event": ...}, plus "code" and its details for a step error that has a code.
DEFAULT_ON_ERROR = [StepSpec(plugin="emit", options={"event": "error", "data": "{{ failure }}"})]


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
            return StepSpec(plugin="any", group=_as_step_list(options, allow_group=True, at=("any",)))
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


def _as_step_list(value: Any, *, allow_group: bool = False, at: tuple = ()) -> Any:
    """The steps of a list (or the one step written alone); a bad step's error is located at its
    own item (``at`` + its index), so the message names its line, not the list's."""
    if value is None:
        return []
    alone = not isinstance(value, list)
    steps, errors = [], []
    for index, item in enumerate([value] if alone else value):
        where = at if alone else at + (index,)
        try:
            steps.append(_parse_step(item, allow_group=allow_group))
        except ValidationError as exc:  # from an `any:` group inside: already located within it
            errors += [{"type": e["type"], "loc": where + e["loc"], "input": e["input"], "ctx": e.get("ctx", {})}
                       for e in exc.errors()]
        except ValueError as exc:
            errors.append({"type": "value_error", "loc": where, "input": item, "ctx": {"error": exc}})
    if errors:
        # pydantic prefixes a ValidationError raised in a validator with the validator's location.
        raise ValidationError.from_exception_data("steps", errors)
    return steps


Steps = Annotated[list[StepSpec], BeforeValidator(_as_step_list)]
AuthRules = Annotated[list[StepSpec], BeforeValidator(lambda v: _as_step_list(v, allow_group=True))]

# The keys of an event written in full: `name: {steps: [...], rate: 5/s, schema: {...}}`.
EVENT_KEYS = ("steps", "rate", "schema", "max_payload_bytes", "rooms")


def _event_form(value: Any) -> Any:
    """The short forms (a list of steps, or one step) become ``{steps: ...}``.

    Short forms are parsed here so their errors keep the location written: the step's own
    item, or the event's when its one step stands alone.
    """
    if isinstance(value, dict) and set(value) & set(EVENT_KEYS):
        return value
    return {"steps": _as_step_list(value)}


class AdminUIConfig(StrictModel):
    """The official Socket.IO Admin UI, through python-socketio's ``server.instrument()``."""

    username: str = Field("admin", description="the user name to log in to the Admin UI with")
    password: str = Field(..., min_length=1, description="its password (write ${ENV}: `check --strict` "
                                                         "warns otherwise); compared in constant time")
    namespace: str = Field("/admin", description="the namespace the UI connects to; not one the config "
                                                 "declares")
    mode: Literal["development", "production"] = Field(
        "production", description="production sends the UI less; development reports every event and "
                                  "room change, at a cost on each message")
    read_only: bool = Field(False, description="hide the UI's disconnect and room actions")


class RecoveryConfig(StrictModel):
    """Connection state recovery, as Node socket.io 4.6 speaks it (docs/connection-state-recovery.md):
    a client back within ``max_disconnection`` gets its sid, rooms and identity back, and every
    packet it missed meanwhile."""

    max_disconnection: Duration = Field("2m", validate_default=True,
                                        description="how long a session may be away and still recover: "
                                                    "500ms, 2s, 1m")
    skip_auth: bool = Field(True, description="a recovered client is not asked the auth rules again "
                                              "(Node's skipMiddlewares); its identity is the one it had")
    max_buffered_packets: int = Field(10_000, ge=1,
                                      description="packets kept per namespace for clients that come "
                                                  "back, the newest; a client that missed older ones "
                                                  "connects as new")
    max_buffered_bytes: int = Field(16_000_000, ge=1,
                                    description="bytes of packets kept per namespace and process, the "
                                                "newest (in memory; on Redis the stream is capped by "
                                                "max_buffered_packets and age)")


class ServerConfig(StrictModel):
    """How the server listens, and the Flask-SocketIO / python-socketio server options."""

    host: str = Field("127.0.0.1", description="the address to listen on; `--host` overrides it")
    port: int = Field(5000, ge=0, le=65535, description="the port to listen on; `--port` overrides it; "
                                                        "0 picks a free port")
    async_mode: Literal["eventlet", "gevent", "threading"] = Field(
        "eventlet", description="eventlet, gevent or threading (development only)")
    # Declared before cors_allowed_origins so its validator can see it.
    cors_allow_any_origin: bool = Field(False, description="the explicit opt-in for any origin "
                                                           "(cors_allowed_origins \"*\" or []); check and "
                                                           "serve print a warning for it")
    cors_allowed_origins: list[str] | Literal["*"] | None = Field(
        None, description="the origins whose pages may connect, e.g. [\"https://app.example.com\"]; "
                          "default: same origin only. \"*\" (or [], which turns engine.io's origin "
                          "check off) only with cors_allow_any_origin: true")
    cors_credentials: bool = Field(True, description="allow cookies on cross-origin requests")
    ping_interval: float = Field(25, gt=0, description="seconds between two Engine.IO pings")
    ping_timeout: float = Field(20, gt=0, description="seconds a client has to answer a ping before "
                                                      "it is dropped")
    max_http_buffer_size: int = Field(1_000_000, gt=0, description="the largest message accepted, in "
                                                                   "bytes; above it engine.io drops "
                                                                   "the connection")
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
    # Bounded outgoing queues: counted where Engine.IO queues packets (router/upstream/outbound_queues.py).
    max_queued_bytes_per_client: int | None = Field(
        8_000_000, gt=0,
        description="bytes that may wait to be sent to one client; a client that stops reading is "
                    "disconnected with the reason \"slow consumer\" once more would wait (a message "
                    "that finds nothing waiting always goes). null: no limit")
    max_queued_messages_per_client: int | None = Field(
        10_000, gt=0,
        description="messages that may wait to be sent to one client, as max_queued_bytes_per_client "
                    "counts bytes. null: no limit")
    secret_key: str | None = Field(None, description="the Flask secret key (write ${ENV}); default: "
                                                     "random per process, so console logins end "
                                                     "with a restart")
    path: str = Field("socket.io", description="the Socket.IO endpoint path")
    transports: list[Literal["polling", "websocket"]] | None = Field(
        None, description="[websocket] refuses long-polling; default: both")
    async_handlers: bool = Field(True, description="run each event in its own task "
                                                   "(python-socketio's default)")
    max_connections: int | None = Field(None, gt=0, description="the most concurrent connections; "
                                                                "default: no cap (socketio.run caps "
                                                                "eventlet at 1,024)")
    tcp_nodelay: bool = Field(True, description="disable Nagle's algorithm: without it a reply "
                                                "followed by an ack waits ~40 ms")
    websocket_compression: bool = Field(False, description="accept the permessage-deflate browsers "
                                                           "offer; it costs ~90 KB per connection and "
                                                           "a deflate per frame per client")
    logger: bool = Field(False, description="python-socketio's packet log")
    engineio_logger: bool = Field(False, description="python-engineio's packet log")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="the router's own log: one line per connect, refusal, disconnect, failure")
    message_queue: str | None = Field(None, description="the broker the processes of a cluster share: "
                                                        "redis://..., amqp://... (docs/scale-out.md); "
                                                        "empty: none")
    channel: str = Field("flask-socketio", min_length=1,
                         description="the channel (Redis) or exchange (AMQP) of the cluster; the same "
                                     "in every process of one cluster, another for another cluster")
    demo_page: str | bool | None = Field(None, description="a namespace, e.g. /test: GET / serves the "
                                                           "classic Flask-SocketIO example page on it; "
                                                           "default: off")
    console: bool = Field(False, description="serve the live console at /console; `--console` turns "
                                             "it on from the command line")
    api_key: str | None = Field(None, description="the key of the protected HTTP endpoints (write "
                                                  "\"${ROUTER_API_KEY}\"): the publish API (off while "
                                                  "unset or empty) and the console (without a key, "
                                                  "only on a loopback host)")
    timers_enabled: bool = Field(True, description="run the config's `timers:` in this process; false "
                                                   "(or serve --no-timers) in all but one process of "
                                                   "a cluster")
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per line, "
                                                                    "with sid, namespace and event")
    admin_ui: AdminUIConfig | None = Field(None, description="the Socket.IO Admin UI: {username, "
                                                             "password, namespace, mode, read_only}; "
                                                             "default: off")
    shutdown_timeout: float = Field(5, gt=0, description="seconds clients get to receive their "
                                                         "goodbye on SIGTERM / SIGINT")
    shutdown_reconnect: bool = Field(True, description="say goodbye with an Engine.IO close, after "
                                                       "which socket.io-client reconnects; false: a "
                                                       "final Socket.IO disconnect")
    connection_state_recovery: RecoveryConfig | None = Field(
        None, description="clients that drop for a moment get their sid, rooms and missed packets back: "
                          "{max_disconnection, skip_auth, max_buffered_packets, max_buffered_bytes}; "
                          "default: off")

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


# What a --reload applies in the running process and what needs a new one (router/server/live.py):
# every ServerConfig key is in exactly one of the two (tests/test_live_swap.py checks it).
# Process-level: the listening socket, the monkey patching, the Engine.IO server's options, the
# broker, the WSGI middleware and the pages and Admin UI mounted on the Flask app are made once;
# connection_state_recovery chooses the client manager's class and keeps its log in this process.
PROCESS_LEVEL_KEYS = frozenset({
    "host", "port", "async_mode", "cors_allow_any_origin", "cors_allowed_origins", "cors_credentials",
    "ping_interval", "ping_timeout", "max_http_buffer_size", "max_client_bytes_per_second",
    "max_client_burst_bytes", "max_queued_bytes_per_client", "max_queued_messages_per_client",
    "secret_key", "path", "transports", "async_handlers", "max_connections", "tcp_nodelay",
    "websocket_compression", "logger", "engineio_logger", "log_level", "log_format",
    "message_queue", "channel", "demo_page", "console", "admin_ui", "shutdown_timeout",
    "shutdown_reconnect", "connection_state_recovery",
})
# Swapped in place: read where they are used, from the config in force.
SWAPPED_KEYS = frozenset({"api_key", "timers_enabled"})


class EventConfig(StrictModel):
    """One event: its steps, and the abuse controls that override the namespace's for it."""

    steps: Steps = Field(description="the steps, run in order")
    rate: EventRate | None = Field(None, description="this event's own rate, with its own bucket: "
                                                     "5/s, or {events, burst}")
    schema_: dict[str, Any] | bool | str | None = Field(
        None, alias="schema", description="the event's data must validate: a JSON Schema (its $schema "
                                          "draft, or 2020-12; formats checked), or "
                                          "\"module:PydanticModel\" from plugins/")
    max_payload_bytes: int | None = Field(None, gt=0, description="the largest payload of this event, "
                                                                  "instead of the namespace's")
    rooms: RoomsConfig | None = Field(None, description="the rooms this event may put clients in, "
                                                        "and their presence, instead of the "
                                                        "namespace's")

    @field_validator("rooms")
    @classmethod
    def _history_per_namespace(cls, rooms: RoomsConfig | None) -> RoomsConfig | None:
        if rooms is not None and "history" in rooms.model_fields_set:
            raise ValueError("history is kept per room of the namespace, whichever event sends; "
                             "move history: to the namespace's rooms:")
        return rooms


Event = Annotated[EventConfig, BeforeValidator(_event_form)]


class NamespaceConfig(StrictModel):
    """One namespace: its door (auth), its lifecycle steps and its events."""

    class_: str | None = Field(None, alias="class",
                               description="\"module:ClassName\": mount a flask_socketio.Namespace "
                                           "subclass from plugins/ instead of YAML events; its "
                                           "on_connect may raise Refused(\"reason\")")
    auth: AuthRules = Field(default_factory=list, description="connect-auth rules; every one must "
                                                              "pass, else the client gets connect_error")
    on_connect: Steps = Field(default_factory=list, description="steps run once the connection is "
                                                                "accepted (the client has its connect "
                                                                "confirmation first)")
    on_disconnect: Steps = Field(default_factory=list, description="steps run when the client leaves")
    events: dict[str, Event] = Field(default_factory=dict,
                                     description="event name -> steps, or {steps, rate, schema, "
                                                 "max_payload_bytes, rooms}; `message` is the unnamed "
                                                 "send() event")
    on_error: Steps | None = Field(None, description="steps run for that client alone when a step "
                                                     "fails ({{ error }} says what failed); default: "
                                                     "the top-level on_error")
    # Abuse controls (docs/abuse-controls.md); an event's own settings override these.
    rooms: RoomsConfig | None = Field(None, description="which rooms clients may be put in, and how "
                                                        "many (class namespaces included)")
    rate: NamespaceRate | None = Field(None, description="20/s (short for {events: 20/s}), or {events, "
                                                         "burst, disconnect_after, abuse_window, "
                                                         "connects_per_ip, connect_burst, "
                                                         "trust_forwarded_for}")
    max_payload_bytes: int | None = Field(None, gt=0, description="the largest payload (the values as "
                                                                  "UTF-8 JSON, binary at its size); "
                                                                  "below server.max_http_buffer_size")
    unknown_events: Literal["ignore", "error"] = Field(
        "ignore", description="events the namespace does not declare are dropped (logged once per "
                              "name, counted in events_dropped; they spend the namespace's rate); "
                              "error also answers the sender with an error")

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
        if self.class_ and self.rooms is not None and self.rooms.history is not None:
            raise ValueError("rooms.history keeps what the YAML steps send; a class namespace "
                             "sends on its own, so remove history: or the class")
        return self


class RouterConfig(StrictModel):
    """The whole config file."""

    server: ServerConfig = Field(default_factory=ServerConfig,
                                 description="how the server listens, and its Socket.IO options")
    plugins_dir: str | None = Field(None, description="the directory of plugin modules (relative to "
                                                      "the config file's directory); default: the "
                                                      "plugins folder beside the config, if it exists")
    on_error: Steps | None = Field(None, description="the on_error steps of namespaces without their "
                                                     "own")
    namespaces: dict[str, NamespaceConfig] = Field(description="namespace name (starting with /) -> "
                                                               "its auth, lifecycle steps and events")
    timers: dict[str, "TimerConfig"] = Field(default_factory=dict,
                                             description="timer name -> a message the server sends "
                                                         "on its own every few seconds")

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


class TimerConfig(StrictModel):
    """A message the server sends on its own every ``every`` seconds (see router/timers.py)."""

    every: float = Field(..., gt=0, description="seconds between two sends")
    namespace: str = Field(..., description="the namespace whose clients receive it")
    event: str = Field(..., min_length=1, description="the event name")
    data: Any = Field(None, description="one value (a template may use count, now, timer)")
    args: list[Any] | None = Field(None, description="several values instead of data")
    room: Any = Field(None, description="only this room's clients (may be a template); default: the "
                                        "whole namespace")

    @field_validator("event")
    @classmethod
    def _not_reserved(cls, event: str) -> str:
        return check_event_name(event)

    @model_validator(mode="after")
    def _data_or_args(self) -> "TimerConfig":
        check_data_or_args(self)
        return self


RouterConfig.model_rebuild()
