"""Run the compiled steps for each connect, event, disconnect and error, at message time."""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any, Callable, Mapping

import flask

from router.compile.compiler import (
    AuthCheck,
    CompiledNamespace,
    CompiledRouter,
    CompiledStep,
)
from router.errors import Refused, StepError
from router.plugin_api import ConnectContext, StepContext, room_name
from router.runtime import current_event
from router.runtime.admission import Admission
from router.runtime.history import History
from router.runtime.library_hooks import LibraryHooks
from router.runtime.metrics import RouterMetrics
from router.runtime.presence import Presence
from router.text import shown

log = logging.getLogger("socketio_router")


# What Flask-SocketIO answers for an event of a client it no longer knows; the direct entry of
# an event answers a client that is gone the same (router/upstream/lean_events.py).
GONE = ("", 400)


class StepFailed(Exception):
    """A step raised; carries what the client is told and what the log keeps."""

    def __init__(self, step: CompiledStep, cause: BaseException):
        self.step = step
        self.cause = cause
        if isinstance(cause, StepError) and cause.code is not None:
            self.client_message = str(cause)  # the code says what failed
        elif isinstance(cause, StepError):
            self.client_message = f"{step.plugin.name} failed: {cause}"
        else:  # never show a client our internals: the traceback goes to the log
            self.client_message = f"{step.plugin.name} failed: internal error"
        super().__init__(self.client_message)


class Connection:
    """What the router keeps per connected client and namespace."""

    __slots__ = ("auth", "identity", "count", "recovered", "_numbers")

    def __init__(self, auth: Any, identity: dict, count: int = 0, recovered: bool = False):
        self.auth = auth
        self.identity = identity
        self.count = count  # events this client sent here: the `count` template variable
        self.recovered = recovered  # its session came back (router/runtime/recovery.py)
        self._numbers = itertools.count(count + 1)

    def counted(self) -> int:
        """Count one more event; its number (next() is atomic, handlers may run concurrently)."""
        self.count = number = next(self._numbers)
        return number


def connect_error(refusal: Refused):
    """python-socketio's ConnectionRefusedError carrying ``refusal``'s payload, for a connect
    handler to raise: python-socketio sends its ``error_args`` as the CONNECT_ERROR data."""
    from socketio.exceptions import ConnectionRefusedError

    error = ConnectionRefusedError(refusal.error_args["message"])
    error.error_args = refusal.error_args
    return error


def run_steps(steps: list[CompiledStep], ctx: StepContext) -> None:
    """Run ``steps`` in order; the first failure stops the rest and raises :class:`StepFailed`."""
    for step in steps:
        try:
            options = step.render_options(ctx) if step.renderers else step.options
            step.handler(ctx, options)
        except Exception as exc:
            raise StepFailed(step, exc) from exc


def ack_value(ctx: StepContext) -> Any:
    """The handler's return value: python-socketio sends a tuple as several ack arguments."""
    if not ctx.has_ack:
        return None
    return ctx.ack[0] if len(ctx.ack) == 1 else ctx.ack


class RecordingContext(StepContext):
    """The step context of a namespace with ``rooms.history``: what a step sends into a room is kept.

    Only those namespaces get it, so a message elsewhere pays nothing for history.
    """

    __slots__ = ()

    def emit(self, event: str, *values: Any, to: Any = None, include_self: bool = True,
             volatile: bool = False) -> None:
        super().emit(event, *values, to=to, include_self=include_self, volatile=volatile)
        # Sent (a payload that is not JSON raised before): keep it, unless it was volatile (a
        # cursor or a price that the next one replaces is nothing to replay).
        if to is not None and not volatile:
            self._history.record(self.namespace, room_name(to), event, values)


class Route:
    """What one declared event runs now, as ``handle(sid, args)``: the handler registered with
    Socket.IO calls it, so a --reload swap (:meth:`Dispatcher.swap`) only re-points it."""

    __slots__ = ("handle",)

    def __init__(self, handle: Callable[[str, tuple], Any]):
        self.handle = handle


class Dispatcher:
    """Builds the handler functions the loader registers, and keeps per-connection state.

    ``compiled`` is the config served now: a --reload swap replaces it (with the admission,
    presence and history that follow from it) and keeps the connections and the metrics.
    """

    def __init__(self, compiled: CompiledRouter, socketio, hooks: LibraryHooks, room_store=None):
        """``hooks`` are what the server reads from the Socket.IO stack's internals for us;
        ``room_store`` shares presence and history with the other processes of a cluster
        (router/server/shared_rooms.py), None for a server of one process."""
        self.socketio = socketio
        self.hooks = hooks
        self.room_store = room_store
        self.connections: dict[tuple[str, str], Connection] = {}
        self.recovery = None  # router/runtime/recovery.py Recovery, set by the loader when it is on
        self.routes: dict[tuple[str, str], Route] = {}
        self.presence: Presence | None = None
        self.history: History | None = None
        self.metrics = RouterMetrics(client_counts=hooks.client_counts)
        self.swap(compiled)

    def swap(self, compiled: CompiledRouter) -> None:
        """Serve ``compiled`` from now on: connected clients keep their identity and rooms, every
        event's route runs its new steps (a removed one answers as an unknown event does), the
        metrics go on counting. Rate buckets start afresh under the new limits; presence is kept
        while the config tracks any, history while its settings stay the same.

        Nothing here waits, so under eventlet and gevent no message sees half a swap.
        """
        policies = {name: namespace.policy for name, namespace in compiled.namespaces.items()
                    if namespace.policy is not None}
        tracks_presence = any(policy.presence_anywhere for policy in policies.values())
        declared = [(namespace.name, event) for namespace in compiled.namespaces.values()
                    for event in namespace.events]
        self.metrics.declare(compiled.namespaces, declared,
                             [(plugin, options) for _, plugin, options in compiled.configured_plugins()],
                             presence_counts=self._presence_counts if tracks_presence else None)
        self.compiled = compiled
        # rate, payload size, schema and unknown events; what it drops is counted in the metrics
        self.admission = Admission(compiled, self.socketio, self.hooks, on_drop=self.metrics.event_dropped)
        if not tracks_presence:
            self.presence = None
        elif self.presence is None:  # it asks the admission in force through rooms_policy
            self.presence = Presence(self.rooms_policy, self.identity_of, self.socketio.server.emit,
                                     self.room_store)
        histories = {name: policy.history for name, policy in policies.items()
                     if policy.history is not None}
        allow = {name: policies[name].rooms.allow if policies[name].rooms else None for name in histories}
        if not histories:
            self.history = None
        elif self.history is None or (self.history.configs, self.history.allow) != (histories, allow):
            self.history = History(histories, self.hooks.is_client_sid, allow, store=self.room_store)
        self._contexts = _context_classes(self.presence, self.history)
        for (namespace, event), route in self.routes.items():
            route.handle = self._handle(namespace, event)

    def _presence_counts(self) -> dict[str, int]:
        return self.presence.local_counts() if self.presence is not None else {}

    def connection_state(self, namespace: str, sid: str) -> dict | None:
        """What a client's session keeps of its connection for a recovery: its identity and count."""
        connection = self.connections.get((namespace, sid))
        if connection is None:
            return None
        return {"identity": connection.identity, "count": connection.count}

    def identity_of(self, namespace: str, sid: str) -> dict | None:
        """A connected client's identity (the claims of its auth rules), for presence."""
        connection = self.connections.get((namespace, sid))
        return connection.identity if connection is not None else None

    def rooms_policy(self, namespace: str, event: str | None):
        """The rooms policy in force for ``event`` on ``namespace`` (asked on each join)."""
        return self.admission.rooms_policy(namespace, event)

    def context_class(self, namespace: str) -> type[StepContext]:
        """The step context of ``namespace``'s messages: one that keeps history where it has one."""
        plain, recording = self._contexts
        return recording if self.history is not None and self.history.keeps(namespace) else plain

    # -- connection lifecycle -------------------------------------------------------------

    def connect_handler(self, name: str) -> Callable:
        """The connect handler of namespace ``name``: the auth rules in force when a client comes."""

        def on_connect(auth: Any = None) -> bool:
            request = flask.request
            namespace = self.compiled.namespaces.get(name)
            if namespace is None:  # removed by a --reload swap: as an undeclared namespace
                from socketio.exceptions import ConnectionRefusedError

                raise ConnectionRefusedError("Invalid namespace")
            if self.admission.is_forged("connect", name, request.sid):
                return None
            ctx = ConnectContext(name, request.sid, auth, request.environ)
            restoring = self.recovery.restoring(name, request.sid) if self.recovery is not None else None
            state = (restoring.session.state or {}) if restoring is not None else {}
            try:
                self.admission.admit_connect(name, ctx)
                if restoring is not None and self.recovery.skip_auth and "identity" in state:
                    identity = state["identity"]  # Node's skipMiddlewares: the rules said yes before
                else:
                    identity = self.authorize(namespace, ctx)
            except Refused as refusal:
                log.info("refused %s on %s from %s: rule=%s reason=%s", request.sid, name,
                         ctx.remote_addr, refusal.rule, refusal.reason)
                self.metrics.refused(name, refusal.rule)
                raise connect_error(refusal) from None
            self.connections[(name, request.sid)] = Connection(auth, identity, state.get("count", 0),
                                                               recovered=restoring is not None)
            log.info("connect %s on %s from %s%s", request.sid, name, ctx.remote_addr,
                     " (recovered)" if restoring is not None else "")
            return True

        return on_connect

    def authorize(self, namespace: CompiledNamespace, ctx: ConnectContext) -> dict:
        """Every rule must pass; their claims merge into the identity."""
        identity: dict = {}
        for check in namespace.auth:
            claims = self._run_check(check, ctx)
            if claims:
                identity.update(claims)
        return identity

    def _run_check(self, check: AuthCheck, ctx: ConnectContext) -> Mapping | None:
        if check.any_of:
            reasons = []
            for rule in check.any_of:
                try:
                    return self._run_check(rule, ctx)
                except Refused as refusal:
                    reasons.append(f"{refusal.rule}: {refusal.reason}")
            raise Refused("no rule passed (" + "; ".join(reasons) + ")", rule="any")
        try:
            claims = check.plugin.handler(ctx, check.options)
        except Refused as refusal:
            raise refusal.for_rule(check.name)
        except Exception:
            log.exception("auth rule %r raised on %s", check.name, ctx.namespace)
            raise Refused("internal error in the auth rule", rule=check.name) from None
        if claims is not None and not isinstance(claims, Mapping):
            log.error("auth rule %r returned %r; expected a mapping of claims or None",
                      check.name, type(claims).__name__)
            raise Refused("internal error in the auth rule", rule=check.name)
        return claims

    def after_connect(self, sid: str, namespace_name: str) -> None:
        """on_connect steps, run once the client has its connect confirmation."""
        namespace = self.compiled.namespaces.get(namespace_name)
        if namespace is None or not namespace.on_connect:
            return
        environ = self.socketio.server.get_environ(sid, namespace=namespace_name)
        context = self.hooks.event_context(environ, sid, namespace_name, "connect", ())
        if context is None:
            return
        with context:
            ctx = self._context(namespace_name, sid, "connect", ())
            try:
                run_steps(namespace.on_connect, ctx)
            except StepFailed as failure:
                self.handle_failure(failure, namespace_name, sid, "connect", ())

    def disconnect_handler(self, name: str) -> Callable:
        """The disconnect handler of namespace ``name``: its on_disconnect steps in force."""

        def on_disconnect(*reason: Any) -> None:
            sid = flask.request.sid
            if self.admission.is_forged("disconnect", name, sid):
                return
            namespace = self.compiled.namespaces.get(name)
            try:
                if namespace is not None and namespace.on_disconnect:
                    ctx = self._context(name, sid, "disconnect", ())
                    try:
                        run_steps(namespace.on_disconnect, ctx)
                    except StepFailed as failure:
                        self.metrics.step_failed(name, failure.step.plugin.name)
                        _log_failure(failure, name, sid, "disconnect", ())
            finally:
                self.connections.pop((name, sid), None)
                self.admission.forget(name, sid)
                log.info("disconnect %s from %s%s", sid, name, f" ({reason[0]})" if reason else "")

        return on_disconnect

    # -- events ---------------------------------------------------------------------------

    def route(self, namespace: str, event: str) -> Route:
        """The route of ``event`` on ``namespace``, made on the first ask."""
        route = self.routes.get((namespace, event))
        if route is None:
            route = self.routes[(namespace, event)] = Route(self._handle(namespace, event))
        return route

    def event_handler(self, namespace: str, event: str) -> Callable:
        """The handler of ``event`` for Flask-SocketIO, in its request context: the sender is
        ``flask.request.sid``, and a failure goes to the namespace's error handler."""
        route = self.route(namespace, event)

        def on_event(*args: Any) -> Any:
            return route.handle(flask.request.sid, args)

        on_event.__name__ = f"on_{event}"
        return on_event

    def direct_event_handler(self, namespace: str, event: str) -> Callable:
        """The same handler called as python-socketio calls one, ``(sid, *args)``, without a
        Flask request context: what it handles is the current event, and a failure goes to the
        on_error steps from here."""
        route = self.route(namespace, event)
        enter, leave = current_event.enter, current_event.leave
        connections = self.connections

        def on_event_direct(sid: str, *args: Any) -> Any:
            if (namespace, sid) not in connections:
                return GONE  # disconnected before its event ran (python-socketio runs it in a task)
            token = enter(sid, namespace, event)
            try:
                return route.handle(sid, args)
            except Exception as exc:
                return self.handle_failure(exc, namespace, sid, event, args)
            finally:
                leave(token)

        return on_event_direct

    def needs_request_context(self, namespace: str, steps: list[CompiledStep]) -> bool:
        """Whether an event of ``namespace`` running ``steps`` needs Flask's request context:
        whether one of them, or of the error steps its failures run, says it does."""
        compiled = self.compiled.namespaces.get(namespace)
        errors = compiled.on_error if compiled and compiled.on_error is not None else self.compiled.on_error
        return any(step.plugin.needs_request_context for step in (*steps, *errors))

    def unknown_event_handler(self, namespace: str) -> Callable:
        """The catch-all (``'*'``) handler of a namespace: count, rate-limit, ignore or answer."""

        def on_unknown_event(event: Any, *args: Any) -> None:
            self.admission.unknown(namespace, flask.request.sid, event)

        return on_unknown_event

    def _handle(self, namespace: str, event: str) -> Callable[[str, tuple], Any]:
        """What ``event`` runs under the config in force: its steps, or the unknown-event answer."""
        compiled = self.compiled.namespaces.get(namespace)
        steps = compiled.events.get(event) if compiled is not None else None
        if steps is None:
            admission = self.admission
            return lambda sid, args: admission.unknown(namespace, sid, event)
        return self._event(namespace, event, steps)

    def _event(self, namespace: str, event: str, steps: list[CompiledStep]) -> Callable:
        gate = self.admission.gate(namespace, event)  # None when no limit applies to this event
        stats = self.metrics.event_stats(namespace, event)
        clock = time.perf_counter
        make = self.context_class(namespace)  # chosen once, not per message
        connections, socketio = self.connections, self.socketio

        def handle(sid: str, args: tuple) -> Any:
            started = clock()
            try:
                if gate is not None and not gate.admit(sid, args):
                    return None  # refused: the sender got an error event
                connection = connections.get((namespace, sid))
                if connection is None:
                    ctx = make(socketio, namespace, sid, event, args)
                else:  # as _context builds it, counting the event, without its call
                    ctx = make(socketio, namespace, sid, event, args, connection.auth,
                               connection.identity, None, connection.counted())
                    if connection.recovered:
                        ctx.recovered = True
                run_steps(steps, ctx)  # StepFailed goes to the caller's error handling
            finally:
                stats.observe(clock() - started)
            return ack_value(ctx)

        return handle

    def error_handler(self) -> Callable:
        """Flask-SocketIO's default error handler: the on_error steps in force of the failing
        event's namespace, else the top-level ones."""

        def on_error(exc: BaseException) -> Any:
            request = flask.request
            event = getattr(request, "event", None) or {}
            if isinstance(exc, Refused) and event.get("message") == "connect":
                raise connect_error(exc) from None  # a class namespace's on_connect said no
            return self.handle_failure(exc, request.namespace, request.sid,
                                       event.get("message"), tuple(event.get("args") or ()))

        return on_error

    def handle_failure(self, exc: BaseException, namespace: str, sid: str, event: str | None,
                       args: tuple) -> Any:
        """Log the failure and run the on_error steps in force for that client alone."""
        _log_failure(exc, namespace, sid, event, args)
        if isinstance(exc, StepFailed):
            self.metrics.step_failed(namespace, exc.step.plugin.name)
        compiled = self.compiled.namespaces.get(namespace)
        steps = compiled.on_error if compiled and compiled.on_error is not None else self.compiled.on_error
        message = exc.client_message if isinstance(exc, StepFailed) else "internal error"
        if isinstance(exc, StepError):  # raised outside a step, e.g. a class namespace's refused room
            message = str(exc)
        ctx = self._context(namespace, sid, event or "", args, error=message,
                            failure=_failure(exc, message, event or ""))
        try:
            run_steps(steps, ctx)
        except StepFailed as second:
            self.metrics.step_failed(namespace, second.step.plugin.name)
            _log_failure(second, namespace, sid, "on_error", args)
            return None
        return ack_value(ctx)

    def _context(self, namespace: str, sid: str, event: str, args: tuple, error: str | None = None,
                 failure: dict | None = None) -> StepContext:
        """The context of a connect, disconnect or error (an event's own counts it: handle)."""
        make = self.context_class(namespace)
        connection = self.connections.get((namespace, sid))
        if connection is None:
            return make(self.socketio, namespace, sid, event, args, error=error, failure=failure)
        ctx = make(self.socketio, namespace, sid, event, args, connection.auth,
                   connection.identity, error, connection.count, failure)
        ctx.recovered = connection.recovered
        return ctx


def _context_classes(presence: Presence | None, history: History | None) -> tuple[type, type]:
    """(the app's step context, the one that keeps history): the plugin contract's own classes
    when the config tracks no presence and keeps no history."""
    if presence is None and history is None:
        return StepContext, RecordingContext
    services = {"__slots__": (), "_presence": presence, "_history": history}
    return (type("StepContext", (StepContext,), services),
            type("RecordingContext", (RecordingContext,), services))


def _failure(exc: BaseException, message: str, event: str) -> dict:
    """The error payload on_error templates see as ``failure`` (the default error event's data)."""
    cause = exc.cause if isinstance(exc, StepFailed) else exc
    failure = {"message": message, "event": event}
    if isinstance(cause, StepError) and cause.code is not None:
        failure["code"] = cause.code
        for key, value in cause.details.items():
            failure.setdefault(key, value)  # details never hide the message or the event
    return failure


def _log_failure(exc: BaseException, namespace: str, sid: str, event: str | None, args: tuple) -> None:
    shown = _Short(args)  # a client's payload can be 1 MB: repr it only if the record is emitted
    if isinstance(exc, StepFailed) and isinstance(exc.cause, StepError):
        # A plugin that logged the failure itself (once per burst) is not repeated per message.
        (log.debug if exc.cause.logged else log.warning)(
            "event %r on %s from %s: %s failed: %s (args=%s)", event, namespace, sid,
            exc.step.label, exc.cause, shown)
    else:
        cause = exc.cause if isinstance(exc, StepFailed) else exc
        where = exc.step.label if isinstance(exc, StepFailed) else "handler"
        log.error("event %r on %s from %s: %s raised (args=%s)", event, namespace, sid, where, shown,
                  exc_info=(type(cause), cause, cause.__traceback__))


class _Short:
    """``shown(value)``, computed when a log record is formatted, never for a filtered one."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __str__(self) -> str:
        return shown(self.value, 203)
