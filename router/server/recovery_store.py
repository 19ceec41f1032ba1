"""Where connection state recovery keeps its sessions and packets: this process, or Redis.

With a Redis message queue the sessions and each namespace's packet log live in that
Redis (:class:`RedisStore`), so a client that comes back to another process of the
cluster recovers too; otherwise in this process (router/runtime/recovery.py
MemoryStore), and a client recovers only if it comes back to the process it left.

The keys start with the cluster's ``channel``, as the presence keys do:

- ``{channel}:recovery:log:/chat``: a stream per namespace, one entry per packet, whose
  entry id is the packet's offset (as Node's Redis Streams adapter numbers them). The
  emitting process adds it before it publishes the packet, so every process sends the
  same offset. ``MAXLEN ~ max_buffered_packets`` trims it as it grows; ``PEXPIRE`` drops
  it ``max_disconnection`` after its last packet.
- ``{channel}:recovery:session:<pid>``: a dropped client's session (JSON), expiring
  ``max_disconnection`` after the drop; ``GETDEL`` claims it, so it recovers once.

Every call waits at most :data:`TIMEOUT`; a Redis that does not answer costs the
packets their place in the log (logged once per outage) and recovers no session,
but never holds up a send.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
import threading
import time

from router.config.brokers import broker_of
from router.runtime.recovery import (
    MemoryStore,
    Recovery,
    Restoring,
    Session,
    NotRecovered,
    check_fits,
    packet_size,
)
from router.server.brokers import redis_client_for
from router.upstream import connection_recovery

log = logging.getLogger("socketio_router")


def install_recovery(compiled, server, dispatcher) -> Recovery | None:
    """Connection state recovery for a config that turns it on (None otherwise), put in
    python-socketio's ``server`` (whose manager ``create_manager(recovery=True)`` made)."""
    config = compiled.config.server
    settings = config.connection_state_recovery
    if settings is None:
        return None
    if config.message_queue and broker_of(config.message_queue).family == "redis":
        store = RedisStore(config.message_queue, config.channel, settings.max_disconnection,
                           settings.max_buffered_packets)
    else:
        store = MemoryStore(settings.max_disconnection, settings.max_buffered_packets,
                            settings.max_buffered_bytes)
    # The namespaces in force: a --reload swap may add or remove one.
    recovery = Recovery(store, lambda namespace: namespace in dispatcher.compiled.namespaces,
                        settings.skip_auth, dispatcher.connection_state,
                        (config.max_queued_messages_per_client, config.max_queued_bytes_per_client),
                        on_outcome=dispatcher.metrics.recovery, threads=config.async_mode == "threading")
    connection_recovery.install(server, recovery)
    dispatcher.recovery = recovery
    return recovery


def publisher_recovery(compiled) -> Recovery | None:
    """For ``python router.py emit``: the recovery that numbers and logs what it publishes, when
    the routers keep their log in the Redis of its message queue (None otherwise: a process's
    own log cannot be reached from outside it)."""
    config = compiled.config.server
    settings = config.connection_state_recovery
    if settings is None or not config.message_queue or broker_of(config.message_queue).family != "redis":
        return None
    return Recovery(RedisStore(config.message_queue, config.channel, settings.max_disconnection,
                               settings.max_buffered_packets), compiled.namespaces.__contains__,
                    settings.skip_auth)


TIMEOUT = 0.5      # seconds a call to Redis may take
RETRY_DELAY = 1.0  # while Redis is away, one call is tried per this many seconds; the others skip it
PAGE = 1_000       # log entries read per call during a claim
_OFFSET = re.compile(r"^\d+-\d+$")


class RedisStore:
    """Sessions and packet logs shared by the processes of a cluster (see the module's doc)."""

    shared = True  # a client recovers on whichever process it comes back to

    def __init__(self, url: str, channel: str, window: float, max_packets: int, client=None):
        self.redis = client if client is not None else redis_client_for(url, TIMEOUT)
        self.prefix = f"{channel}:recovery"
        self.window_ms = int(window * 1000)
        self.max_packets = max_packets
        self._failing = threading.Event()  # an outage is logged when it starts and when it ends
        self._retry_at = 0.0

    def _log_key(self, namespace: str) -> str:
        return f"{self.prefix}:log:{namespace}"

    def _session_key(self, pid: str) -> str:
        return f"{self.prefix}:session:{pid}"

    def _call(self, what: str, call, default=None):
        if self._failing.is_set() and time.monotonic() < self._retry_at:
            return default  # known to be away: a send does not wait on it
        try:
            result = call()
        except Exception as exc:
            self._retry_at = time.monotonic() + RETRY_DELAY
            if not self._failing.is_set():
                self._failing.set()
                log.warning("connection state recovery: Redis failed (%s: %s); until it answers, "
                            "packets are not kept for clients that drop and none recovers", what, exc)
            return default
        if self._failing.is_set():
            self._failing.clear()
            log.info("connection state recovery: Redis answers again")
        return result

    # -- the log --------------------------------------------------------------------------

    def append(self, namespace: str, data: list, to, skip, replay: bool = True) -> str | None:
        key = self._log_key(namespace)
        # A volatile packet keeps only its place (its offset), not its data.
        entry = pickle.dumps((data, to, skip) if replay else (None, None, None), protocol=pickle.HIGHEST_PROTOCOL)

        def add():
            pipe = self.redis.pipeline(transaction=False)
            pipe.xadd(key, {"p": entry}, maxlen=self.max_packets, approximate=True)
            pipe.pexpire(key, self.window_ms)
            return pipe.execute()[0]

        offset = self._call("adding a packet to the log", add)
        if offset is None:
            return None  # sent without an offset: a client resumes from the one before
        offset = _text(offset)
        data.append(offset)
        return offset

    def position(self, namespace: str) -> str:
        newest = self._call("reading the log's end",
                            lambda: self.redis.xrevrange(self._log_key(namespace), count=1))
        if not newest:
            return "0-0"
        return _text(newest[0][0])

    # -- sessions -------------------------------------------------------------------------

    def persist(self, session: Session) -> None:
        session.disconnected_at = time.time()
        value = json.dumps({"pid": session.pid, "sid": session.sid, "namespace": session.namespace,
                            "rooms": session.rooms, "state": session.state, "start": session.start,
                            "at": session.disconnected_at}, default=str)
        self._call("keeping a session",
                   lambda: self.redis.set(self._session_key(session.pid), value, px=self.window_ms))

    def claim(self, namespace: str, pid: str, offset: str | None, max_bytes: int | None,
              max_packets: int | None) -> Restoring | None:
        raw = self._call("claiming a session", lambda: self.redis.getdel(self._session_key(pid)),
                         default=False)
        if raw is False:
            raise RuntimeError("Redis did not answer")  # counted as failed: Redis is away
        if raw is None:
            raise NotRecovered("unknown")
        value = json.loads(raw)
        if value["namespace"] != namespace:
            raise NotRecovered("unknown")
        session = Session(value["pid"], value["sid"], namespace, value["rooms"], value["state"],
                          value["start"], value["at"])
        start = offset if offset is not None else session.start
        if not _OFFSET.match(start):
            raise NotRecovered("too_old")  # no offset this log gave
        restoring = Restoring(session, last=start)  # where the reads below start
        key, size = self._log_key(namespace), 0
        if start != "0-0":
            # The packet at the offset must still be in the log, or some after it may be gone.
            found = self._call("reading the log", lambda: self.redis.xrange(key, start, start, count=1))
            if not found:
                log.info("recovery of %s on %s: offset %s is no longer in the log; it connects as new",
                         session.sid, namespace, start)
                raise NotRecovered("too_old")
        while True:
            entries = self._read_after(key, restoring.last)
            if entries is None:
                raise RuntimeError("Redis did not answer")
            for entry in entries:
                if restoring.take(*entry):
                    restoring.missed.append(entry[1])
                    size += packet_size(entry[1])
            check_fits(len(restoring.missed), size, max_packets, max_bytes, session, namespace)
            if len(entries) < PAGE:
                return restoring

    def more(self, restoring: Restoring) -> list[list]:
        """What was logged for ``restoring`` since its claim read the log, every page of it."""
        key, more = self._log_key(restoring.session.namespace), []
        while True:
            entries = self._read_after(key, restoring.last) or []
            more += [entry[1] for entry in entries if restoring.take(*entry)]
            if len(entries) < PAGE:
                return more

    def _read_after(self, key: str, after: str) -> list[tuple] | None:
        """Up to PAGE entries after ``after``: (offset, data with its offset last, to, skip)."""
        entries = self._call("reading the log", lambda: self.redis.xrange(key, f"({after}", "+", count=PAGE))
        if entries is None:
            return None
        read = []
        for offset, fields in entries:
            offset = _text(offset)
            data, to, skip = pickle.loads(fields[b"p"] if b"p" in fields else fields["p"])
            if data is not None:
                data.append(offset)
            read.append((offset, data, to, skip))
        return read


def _text(offset) -> str:
    """A stream id as redis-py returns it (bytes, unless the client decodes responses)."""
    return offset.decode() if isinstance(offset, bytes) else offset
