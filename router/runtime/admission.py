"""Admission: the abuse controls a message passes before an event's steps run.

Per client and namespace: token buckets (``rate``), then the payload size
(``max_payload_bytes``), then the schema, cheapest first; an event with none of
them gets no gate at all. A refused message never reaches the steps: its sender
alone gets an ``error`` event saying why (``code`` is machine-readable), and a
client refused too often within ``rate.abuse_window`` is disconnected. Also here:
connection attempts per address, unknown events, and EVENT packets that try to
pass for a connect or a disconnect.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable

from router.compile.payload_schema import MAX_REPORTED
from router.compile.policies import (
    BucketSpec,
    EventPolicy,
    NamespacePolicy,
    RoomsPolicy,
)
from router.config.networks import client_address
from router.errors import Refused
from router.runtime.library_hooks import LibraryHooks
from router.runtime.rate_limit import BucketTable, StrikeCounter, TokenBucket
from router.text import shown_name

log = logging.getLogger("socketio_router")

ERROR_EVENT = "error"
MAX_REMEMBERED_NAMES = 1000  # unknown event names logged once each, at most this many


def payload_size(args: tuple) -> int:
    """The size of an event's values as a client sends them: UTF-8 JSON, binary counted raw.

    A binary value counts as its length plus the 4 bytes of its JSON placeholder.
    """
    binary = 0

    def attachment(value: Any) -> None:
        nonlocal binary
        if isinstance(value, (bytes, bytearray, memoryview)):
            binary += len(value)
            return None
        raise TypeError(f"not JSON: {type(value).__name__}")

    text = json.dumps(args, separators=(",", ":"), ensure_ascii=False, default=attachment)
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return size - 2 + binary  # the values, not the brackets of the list holding them


class ClientState:
    """One client's buckets (the namespace's and events' own) and its recent refusals."""

    __slots__ = ("buckets", "strikes")

    def __init__(self):
        self.buckets: dict[str | None, TokenBucket] = {}
        self.strikes = StrikeCounter()


class Gate:
    """The checks of one event; :meth:`admit` says whether a message may reach the steps."""

    __slots__ = ("admission", "namespace", "event", "policy")

    def __init__(self, admission: "Admission", namespace: str, event: str, policy: EventPolicy):
        self.admission = admission
        self.namespace = namespace
        self.event = event
        self.policy = policy

    def admit(self, sid: str, args: tuple) -> bool:
        """True if the message may go on; else its sender has been told why (and maybe disconnected)."""
        policy = self.policy
        admission = self.admission
        if policy.rate is not None:
            wait = admission.take(self.namespace, sid, policy.rate)
            if wait:
                admission.refuse(self.namespace, sid, self.event, "rate_limited",
                                 f"rate limit exceeded ({policy.rate.rate}); this event was dropped",
                                 retry_after=round(wait, 3))
                return False
        if policy.max_payload_bytes is not None:
            size = payload_size(args)
            if size > policy.max_payload_bytes:
                admission.refuse(self.namespace, sid, self.event, "payload_too_large",
                                 f"payload too large: {size} bytes, the limit is "
                                 f"{policy.max_payload_bytes}", limit=policy.max_payload_bytes)
                return False
        if policy.schema is not None:
            problems = self._schema_problems(sid, args)
            if problems:
                listed = problems[:MAX_REPORTED]
                summary = "; ".join(f"{p['field']}: {p['error']}" for p in listed[:3])
                more = len(problems) - 3
                admission.refuse(self.namespace, sid, self.event, "invalid_payload",
                                 f"invalid payload: {summary}" + (f" (and {more} more)" if more > 0 else ""),
                                 fields=listed)
                return False
        return True

    def _schema_problems(self, sid: str, args: tuple) -> list[dict]:
        try:
            return self.policy.schema.problems(args[0] if args else None)
        except Exception:  # a plugin model's validator raised, or the payload nests too deep
            log.exception("validating event %r on %s from %s raised", self.event, self.namespace, sid)
            return [{"field": "(root)", "error": "the payload could not be validated"}]


class Admission:
    """The abuse controls of one router, with the per-client state they keep.

    State lives per connected client and is dropped by :meth:`forget` on
    disconnect; per-address connect buckets live in bounded tables.
    """

    def __init__(self, compiled, socketio, hooks: LibraryHooks, clock: Callable[[], float] = time.monotonic,
                 on_drop: Callable[[str, str, str], None] | None = None):
        self.socketio = socketio
        self.hooks = hooks  # tells a real connect / disconnect from an EVENT packet named so
        self.clock = clock
        # on_drop(namespace, event, code): event is a declared name, or "*" for an unknown one
        self.on_drop = on_drop
        self.declared = {name: set(namespace.events) for name, namespace in compiled.namespaces.items()}
        self.policies: dict[str, NamespacePolicy] = {
            name: namespace.policy for name, namespace in compiled.namespaces.items()
            if getattr(namespace, "policy", None) is not None}
        self.clients: dict[tuple[str, str], ClientState] = {}
        self.connect_tables = {name: BucketTable(policy.connects.rate, int(policy.connects.capacity),
                                                 clock=clock)
                               for name, policy in self.policies.items() if policy.connects}
        self._named_unknown: set = set()
        self._lock = threading.Lock()

    # -- per event ---------------------------------------------------------------------------

    def gate(self, namespace: str, event: str) -> Gate | None:
        """The gate of an event, or None when no control applies to it (then it costs nothing)."""
        policy = self.policies.get(namespace)
        event_policy = policy.events.get(event) if policy else None
        if event_policy is None or not event_policy.checks_anything:
            return None
        return Gate(self, namespace, event, event_policy)

    def take(self, namespace: str, sid: str, spec: BucketSpec) -> float:
        """Take a token from the client's bucket: 0.0, or the seconds until one is there."""
        with self._lock:
            now = self.clock()
            state = self._state(namespace, sid)
            bucket = state.buckets.get(spec.key)
            if bucket is None:
                bucket = state.buckets[spec.key] = TokenBucket(spec.rate.per_second, spec.capacity, now)
            return bucket.take(now)

    def refuse(self, namespace: str, sid: str, event: Any, code: str, message: str, **details) -> None:
        """Tell the sender why its message was dropped; disconnect it if it keeps at it."""
        if self.on_drop is not None:
            self.on_drop(namespace, event if event in self.declared.get(namespace, ()) else "*", code)
        self._emit_error(namespace, sid, {"message": message, "event": shown_name(event),
                                          "code": code, **details})
        policy = self.policies[namespace]
        with self._lock:
            count = self._state(namespace, sid).strikes.add(self.clock(), policy.abuse_window)
        # One line per client and window: a flood must not flood the log too.
        (log.warning if count == 1 else log.debug)(
            "refused event %r on %s from %s: %s (%s)", shown_name(event), namespace, sid, code, message)
        if policy.disconnect_after is not None and count >= policy.disconnect_after:
            self._emit_error(namespace, sid, {
                "message": f"disconnected: {count} events refused within {policy.abuse_window:g} s",
                "event": shown_name(event), "code": "abuse"})
            log.warning("disconnecting %s from %s: %d events refused within %g s", sid, namespace,
                        count, policy.abuse_window)
            self.socketio.server.disconnect(sid, namespace=namespace)

    def unknown(self, namespace: str, sid: str, event: Any) -> None:
        """An event ``namespace`` does not declare: count, rate-limit, ignore or answer."""
        policy = self.policies.get(namespace)
        if policy is None:
            return
        if policy.default.rate is not None:
            wait = self.take(namespace, sid, policy.default.rate)
            if wait:
                self.refuse(namespace, sid, event, "rate_limited",
                            f"rate limit exceeded ({policy.default.rate.rate}); this event was dropped",
                            retry_after=round(wait, 3))
                return
        if self.on_drop is not None:
            self.on_drop(namespace, "*", "unknown_event")
        key = (namespace, shown_name(event))
        if key not in self._named_unknown and len(self._named_unknown) < MAX_REMEMBERED_NAMES:
            self._named_unknown.add(key)
            log.info("unknown event %r on %s from %s (%s; logged once per name)", key[1], namespace,
                     sid, "answered with an error" if policy.unknown_events == "error" else "ignored")
        if policy.unknown_events == "error":
            self._emit_error(namespace, sid, {"message": f"unknown event {key[1]!r} on {namespace}",
                                              "event": key[1], "code": "unknown_event"})

    # -- lifecycle -----------------------------------------------------------------------------

    def is_forged(self, kind: str, namespace: str, sid: str) -> bool:
        """Whether a connect / disconnect handler call is really an EVENT packet named so.

        python-socketio routes an EVENT named "connect" to the connect handler (with
        the client's values as auth) and one named "disconnect" to the disconnect
        handler; neither may re-authenticate a client or run its on_disconnect.
        """
        if kind == "connect":
            forged = not self.hooks.is_handshake_connect()
        else:
            forged = not self.hooks.client_is_leaving(sid, namespace)
        if forged:
            log.warning("ignored an event packet named %r on %s from %s: clients cannot trigger "
                        "%s handlers", kind, namespace, sid, kind)
            self.unknown(namespace, sid, kind)
        return forged

    def admit_connect(self, namespace: str, ctx) -> None:
        """Take a token for the address of a connection attempt; raise :class:`Refused` if none."""
        table = self.connect_tables.get(namespace)
        if table is None:
            return
        address = client_address(ctx.environ, self.policies[namespace].trusted_proxies)
        wait = table.take(str(address) if address is not None else ctx.remote_addr)
        if wait:
            raise Refused(f"too many connection attempts from {address}; retry in {wait:.1f} s",
                          rule="rate", message="rate limited")

    def forget(self, namespace: str, sid: str) -> None:
        """Drop a client's state when it disconnects."""
        with self._lock:
            self.clients.pop((namespace, sid), None)

    # -- rooms ---------------------------------------------------------------------------------

    def rooms_policy(self, namespace: str, event: str | None) -> RoomsPolicy | None:
        """The rooms policy for ``event`` on ``namespace`` (the client manager asks on each join)."""
        policy = self.policies.get(namespace)
        return policy.rooms_for(event) if policy is not None else None

    # -- internals -----------------------------------------------------------------------------

    def _state(self, namespace: str, sid: str) -> ClientState:
        """The client's state (lock held). A late event of a gone client gets a throwaway one."""
        state = self.clients.get((namespace, sid))
        if state is None:
            state = ClientState()
            if self.socketio.server.manager.is_connected(sid, namespace):
                self.clients[(namespace, sid)] = state
        return state

    def _emit_error(self, namespace: str, sid: str, payload: dict) -> None:
        # The sender is connected here: no need for the message queue's round trip.
        self.socketio.server.emit(ERROR_EVENT, payload, to=sid, namespace=namespace, ignore_queue=True)
