"""Presence and history shared by the processes of a cluster, in the Redis of its message queue.

Chosen when ``server.message_queue`` is a Redis URL and the config tracks presence or
keeps history (:func:`shared_room_store`); with another broker, or none, each process
is its own view (router/runtime/presence.py, history.py). The keys start with the
cluster's ``channel``, so two clusters on one Redis never share a room:

- ``{channel}:rooms:processes``: a sorted set, each live process scored with the time its
  members expire (now + ``presence.ttl``, the shortest of the config), renewed every
  ttl/3 seconds (5 s at most). A process that stops answering (SIGKILL, a partition)
  drops out of every member list once its score has passed, and the first live
  process to see that removes its entries and announces the members it held.
- ``{channel}:rooms:presence:["/chat","lobby"]``: a hash per room, member key -> the
  JSON map {process: {c: connections, a: announce, m: member JSON}}, so joining,
  leaving and counting a user's connections over every process is one atomic script.
- ``{channel}:rooms:process:<id>``: the rooms where a process has members, for that cleanup.
- ``{channel}:rooms:history:["/chat","lobby"]``: a list per room, one JSON message each.

History is kept in lists, not streams: a room's history is "the last ``size``", which
``RPUSH`` + ``LTRIM`` keeps exactly and ``LRANGE -limit -1`` reads, on every Redis version
and through any proxy; the messages carry their own time, so ``ttl`` is applied when
reading, and ``PEXPIRE`` drops a room's list ``ttl`` after its last message. A stream
would add IDs and consumer groups that nothing here reads, and trims by count only
approximately unless asked to trim exactly on every add.

The outbox rule of router/server/brokers.py holds here too: history and the members of
one connection are written from a queue that one task drains, so a handler never waits
on them. What a step answers with (``room.members``, ``room.history``) is read at once,
and a keyed member's join or leave is written at once, because whether it is announced
depends on the other processes (a user's first tab in the room, or its last): each waits
at most READ_TIMEOUT, and none is tried while Redis is known to be away: this process's
view answers at once. An outage is
logged once when it starts and once when it ends; then this process writes its members
back (Redis may have restarted empty), and what was sent meanwhile stays in this
process's history only.

The scripts read keys they find (a process's rooms), so this needs one Redis, not a
Redis Cluster; Sentinel and the URL forms of the message queue work.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable

from router.config.brokers import broker_of, redact
from router.config.limits import HistoryConfig
from router.runtime.presence import KEYED, Entry
from router.server.brokers import redis_client_for
from router.upstream.outbound_queues import unbounded_queue

log = logging.getLogger("socketio_router.shared_rooms")

READ_TIMEOUT = 0.5     # seconds a step's read (or a write) may wait on Redis
RETRY_DELAY = 1.0      # while Redis is away, one attempt to reach it per this many seconds
QUEUE_LIMIT = 10_000   # writes waiting for the writer; beyond that they are not shared
BEAT_AT_MOST = 5.0     # seconds between two renewals of this process's liveness
CLOSE_WITHIN = 2.0     # seconds a graceful stop waits for the writer before leaving the cluster

_ALIVE = """
local function alive(procs, proc, now, cache)
  local known = cache[proc]
  if known == nil then
    local score = redis.call('ZSCORE', procs, proc)
    known = score ~= false and tonumber(score) > now
    cache[proc] = known
  end
  return known
end
local function others(map, procs, me, now, cache)
  local count = 0
  for proc, entry in pairs(map) do
    if proc ~= me and alive(procs, proc, now, cache) then count = count + entry.c end
  end
  return count
end
local function store(room, key, map)
  if next(map) == nil then redis.call('HDEL', room, key) else redis.call('HSET', room, key, cjson.encode(map)) end
end
"""

# KEYS room, processes, my rooms; ARGV me, member key, entry, now -> others' connections
PUT = _ALIVE + """
local raw = redis.call('HGET', KEYS[1], ARGV[2])
local map = {}
if raw then map = cjson.decode(raw) end
map[ARGV[1]] = cjson.decode(ARGV[3])
store(KEYS[1], ARGV[2], map)
redis.call('SADD', KEYS[3], KEYS[1])
return others(map, KEYS[2], ARGV[1], tonumber(ARGV[4]), {})
"""

# KEYS room, processes, my rooms; ARGV me, member key, now, room left empty here -> others' connections
REMOVE = _ALIVE + """
local raw = redis.call('HGET', KEYS[1], ARGV[2])
local count = 0
if raw then
  local map = cjson.decode(raw)
  map[ARGV[1]] = nil
  store(KEYS[1], ARGV[2], map)
  count = others(map, KEYS[2], ARGV[1], tonumber(ARGV[3]), {})
end
if ARGV[4] == '1' then redis.call('SREM', KEYS[3], KEYS[1]) end
return count
"""

# KEYS room, processes; ARGV me, now -> [key, entry, key, entry, ...] of the other live processes
MEMBERS = _ALIVE + """
local out, cache = {}, {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  for proc, entry in pairs(cjson.decode(all[i + 1])) do
    if proc ~= ARGV[1] and alive(KEYS[2], proc, tonumber(ARGV[2]), cache) then
      out[#out + 1] = all[i]
      out[#out + 1] = cjson.encode(entry)
    end
  end
end
return out
"""

# KEYS processes; ARGV me, expiry, now -> {was known, [processes past their expiry]}
BEAT = """
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
return {known and 1 or 0, dead}
"""

# KEYS processes, the dead one's rooms; ARGV dead process, now
#   -> [room, key, entry, ...] of the members it held that no live process holds
COLLECT = _ALIVE + """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return {} end
local gone, cache = {}, {}
for _, room in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local all = redis.call('HGETALL', room)
  for i = 1, #all, 2 do
    local map = cjson.decode(all[i + 1])
    local entry = map[ARGV[1]]
    if entry then
      map[ARGV[1]] = nil
      store(room, all[i], map)
      if others(map, KEYS[1], ARGV[1], tonumber(ARGV[2]), cache) == 0 then
        gone[#gone + 1] = room
        gone[#gone + 1] = all[i]
        gone[#gone + 1] = cjson.encode(entry)
      end
    end
  end
end
redis.call('DEL', KEYS[2])
return gone
"""

# KEYS room, my rooms; ARGV me, {key: entry} -> this process's entries in the room are exactly those
SYNC = _ALIVE + """
local mine = cjson.decode(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local map = cjson.decode(all[i + 1])
  if map[ARGV[1]] and mine[all[i]] == nil then
    map[ARGV[1]] = nil
    store(KEYS[1], all[i], map)
  end
end
for key, entry in pairs(mine) do
  local raw = redis.call('HGET', KEYS[1], key)
  local map = {}
  if raw then map = cjson.decode(raw) end
  map[ARGV[1]] = entry
  store(KEYS[1], key, map)
end
if next(mine) == nil then redis.call('SREM', KEYS[2], KEYS[1]) else redis.call('SADD', KEYS[2], KEYS[1]) end
return 1
"""


def to_redis(entry: Entry) -> str:
    """A presence entry as the scripts keep it: the member stays JSON text, untouched by Lua."""
    return json.dumps({"c": entry["connections"], "a": 1 if entry["announce"] else 0,
                       "m": json.dumps(entry["member"], separators=(",", ":"), ensure_ascii=False)},
                      separators=(",", ":"))


def from_redis(text: str | bytes) -> Entry:
    stored = json.loads(text)
    return {"member": json.loads(stored["m"]), "connections": int(stored["c"]),
            "announce": bool(stored["a"])}


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def shares_rooms(compiled) -> bool:
    """Whether ``compiled`` keeps presence or history in the Redis of its message queue."""
    config = compiled.config.server
    if not config.message_queue or broker_of(config.message_queue).family != "redis":
        return False
    return bool(_presence_ttls(compiled)) or any(
        namespace.policy is not None and namespace.policy.history is not None
        for namespace in compiled.namespaces.values())


def _presence_ttls(compiled) -> list[float]:
    return [policy.presence.ttl for namespace in compiled.namespaces.values() if namespace.policy
            for policy in (namespace.policy.rooms, *namespace.policy.event_rooms.values())
            if policy is not None and policy.presence is not None]


def shared_room_store(compiled, manager, server) -> "RedisRooms | None":
    """The Redis store of a config that tracks presence or keeps history on a Redis message
    queue; None otherwise (each process is then its own view)."""
    if not shares_rooms(compiled):
        return None
    config = compiled.config.server
    store = RedisRooms(config.message_queue, config.channel, manager.host_id,
                       min(_presence_ttls(compiled), default=30.0), server)
    manager.shared_rooms = store
    return store


class RedisRooms:
    """One process's link to the cluster's presence and history in Redis (see the module's doc).

    ``presence`` (set by the loader) is this process's tracker: what is written back
    after an outage, and who hears of the members of a process that died.
    """

    def __init__(self, url: str, channel: str, process: str, ttl: float, server,
                 client_factory: Callable[[], Any] | None = None):
        self.url = redact(url)
        self.process = process
        self.ttl = ttl
        self.server = server
        self.presence = None
        self.prefix = f"{channel}:rooms"
        self.processes_key = f"{self.prefix}:processes"
        self.interval = min(ttl / 3, BEAT_AT_MOST)
        self._client_factory = client_factory or (lambda: redis_client_for(url, READ_TIMEOUT))
        self._client = None
        self._scripts: dict[str, Any] = {}
        self._queue = None
        self._start_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._now = threading.Lock()  # the writes made at once, and a write-back
        self.down = False
        self._down_since = 0.0
        self.unshared = 0  # writes not made while Redis was away, in the current outage

    # -- keys ---------------------------------------------------------------------------------

    def _room_key(self, kind: str, namespace: str, room: str) -> str:
        return f"{self.prefix}:{kind}:" + json.dumps([namespace, room], separators=(",", ":"),
                                                     ensure_ascii=False)

    def _process_key(self, process: str) -> str:
        return f"{self.prefix}:process:{process}"

    # -- presence (router/runtime/presence.py PresenceStore) ----------------------------------

    def put(self, namespace: str, room: str, key: str, entry: Entry, then=None) -> None:
        keys = [self._room_key("presence", namespace, room), self.processes_key,
                self._process_key(self.process)]
        args = [self.process, key, to_redis(entry)]
        self._write(key, lambda client: self._run(PUT, client, keys, args + [time.time()]), then)

    def remove(self, namespace: str, room: str, key: str, room_empty: bool, then=None) -> None:
        keys = [self._room_key("presence", namespace, room), self.processes_key,
                self._process_key(self.process)]
        args = [self.process, key]
        empty = "1" if room_empty else "0"
        self._write(key, lambda client: self._run(REMOVE, client, keys, args + [time.time(), empty]), then)

    def _write(self, key: str, write: Callable[[Any], Any], then) -> None:
        """A keyed member's write at once (its announcement depends on the answer), others queued."""
        if not key.startswith(KEYED):
            self._enqueue(write, then)
            return
        if self.down:
            self._not_shared(then)
            return
        try:
            with self._now:  # not between a write-back's snapshot and its writes
                others = int(write(self._connection()) or 0)
        except Exception as exc:
            self._failed(exc)
            self._not_shared(then)
            return
        if then is not None:
            self._answer(then, others)

    def members(self, namespace: str, room: str) -> list[tuple[str, Entry]]:
        keys = [self._room_key("presence", namespace, room), self.processes_key]
        flat = self._read(lambda client: self._run(MEMBERS, client, keys, [self.process, time.time()]))
        if not flat:
            return []
        return [(_text(flat[i]), from_redis(flat[i + 1])) for i in range(0, len(flat), 2)]

    # -- history (router/runtime/history.py HistoryStore) -------------------------------------

    def append(self, namespace: str, room: str, text: str, config: HistoryConfig) -> None:
        key = self._room_key("history", namespace, room)

        def write(client):
            pipe = client.pipeline(transaction=False)
            pipe.rpush(key, text)
            pipe.ltrim(key, -config.size, -1)
            pipe.pexpire(key, max(1, int(config.ttl * 1000)))
            pipe.execute()

        self._enqueue(write)

    def last(self, namespace: str, room: str, limit: int) -> list[str] | None:
        key = self._room_key("history", namespace, room)
        texts = self._read(lambda client: client.lrange(key, -limit, -1))
        return None if texts is None else [_text(text) for text in texts]

    # -- the writer, the liveness beat, reads -------------------------------------------------

    def start(self, server=None) -> None:
        """Start the writer and the beat (with the manager, or at the first write)."""
        if self._queue is not None:
            return
        with self._start_lock:
            if self._queue is None:
                self.server = server or self.server
                queue = unbounded_queue(self.server.eio)  # not a client's: no cap applies
                self.server.start_background_task(self._write_loop, queue)
                self.server.start_background_task(self._beat_loop)
                self._queue = queue

    def _enqueue(self, write: Callable[[Any], Any], then: Callable[[int], None] | None = None) -> None:
        self.start()
        if self.down or self._queue.qsize() >= QUEUE_LIMIT:
            self._not_shared(then)
            return
        self._queue.put((write, then))

    def _write_loop(self, queue) -> None:
        while True:
            write, then = queue.get()
            if self.down:
                self._not_shared(then)
                continue
            try:
                result = write(self._connection())
            except Exception as exc:
                self._failed(exc)
                self._not_shared(then)
                continue
            self._ok()
            if then is not None:
                self._answer(then, int(result or 0))

    def _not_shared(self, then) -> None:
        self.unshared += 1
        if then is not None:
            self._answer(then, 0)  # nobody else is known: this process's view

    @staticmethod
    def _answer(then, others: int) -> None:
        try:
            then(others)
        except Exception:  # a notice that failed must not stop the writer
            log.exception("presence: a notice failed")

    def _read(self, read: Callable[[Any], Any]) -> Any:
        """What ``read(client)`` answers, or None at once while Redis is away."""
        if self.down:
            return None
        try:
            result = read(self._connection())
        except Exception as exc:
            self._failed(exc)
            return None
        return result

    def _beat_loop(self) -> None:
        while True:
            try:
                self.beat()
            except Exception:
                log.exception("shared rooms %s: the liveness beat failed", self.url)
            self.server.sleep(RETRY_DELAY if self.down else self.interval)

    def beat(self) -> None:
        """Renew this process's liveness; write its members back when Redis did not know it (a
        restart, an outage); clean up after the processes that died."""
        now = time.time()
        try:
            known, dead = self._run(BEAT, self._connection(), [self.processes_key],
                                    [self.process, now + self.ttl, now])
        except Exception as exc:
            self._failed(exc)
            return
        recovered = self._ok()
        if recovered or not known:
            self._queue.put((self._sync, None))
        for process in dead or ():
            self._collect(_text(process), now)

    def _sync(self, client) -> int:
        """Make this process's entries in Redis exactly its members (after a restart or an outage)."""
        with self._now:
            return self._write_back(client)

    def _write_back(self, client) -> int:
        rooms: dict[str, dict[str, str]] = {}
        for namespace, room, key, entry in (self.presence.local_entries() if self.presence else ()):
            rooms.setdefault(self._room_key("presence", namespace, room), {})[key] = to_redis(entry)
        mine = self._process_key(self.process)
        for room in client.smembers(mine):
            rooms.setdefault(_text(room), {})
        pipe = client.pipeline(transaction=False)
        for room, entries in rooms.items():
            body = "{" + ",".join(f"{json.dumps(key)}:{entry}" for key, entry in entries.items()) + "}"
            self._run(SYNC, pipe, [room, mine], [self.process, body])
        pipe.execute()
        if rooms:
            log.info("shared rooms %s: this process's members of %d room(s) written", self.url, len(rooms))
        return 0

    def _collect(self, process: str, now: float) -> None:
        try:
            gone = self._run(COLLECT, self._connection(), [self.processes_key, self._process_key(process)],
                             [process, now])
        except Exception as exc:
            self._failed(exc)
            return
        if gone:
            log.warning("shared rooms %s: process %s stopped answering; its %d member(s) left",
                        self.url, process, len(gone) // 3)
        for i in range(0, len(gone or ()), 3):
            kind_and_room = _text(gone[i])[len(self.prefix) + len(":presence:"):]
            namespace, room = json.loads(kind_and_room)
            if self.presence is not None:
                self.presence.gone(namespace, room, _text(gone[i + 1]), from_redis(gone[i + 2]))

    def close(self, within: float = CLOSE_WITHIN) -> None:
        """On a graceful stop, once the clients are gone: let the writer finish (their leaves),
        then take this process out of the cluster, so nobody collects and announces it again."""
        if self._queue is None or self.down:
            return
        deadline = time.monotonic() + min(within, CLOSE_WITHIN)
        while self._queue.qsize() and time.monotonic() < deadline:
            self.server.sleep(0.02)
        try:
            self._run(COLLECT, self._connection(), [self.processes_key, self._process_key(self.process)],
                      [self.process, time.time()])
        except Exception as exc:
            self._failed(exc)

    # -- connection and outage state ----------------------------------------------------------

    def _connection(self):
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _run(self, body: str, client, keys: list, args: list):
        """Run a script by its SHA (redis-py loads it again after a Redis restart) on ``client``,
        a connection or a pipeline."""
        script = self._scripts.get(body)
        if script is None:
            script = self._scripts[body] = client.register_script(body)
        return script(keys=keys, args=args, client=client)

    def _failed(self, exc: BaseException) -> None:
        with self._state_lock:
            if self.down:
                return
            self.down = True
            self._down_since = time.monotonic()
            self.unshared = 0
        client, self._client = self._client, None  # the next attempt connects afresh
        if client is not None:
            try:
                client.close()
            except Exception:
                pass
        log.error("shared rooms %s: unreachable (%s: %s); presence and history answer from this "
                  "process's view until it is back", self.url, type(exc).__name__, exc)

    def _ok(self) -> bool:
        """Note that Redis answered; True when that ends an outage."""
        if not self.down:
            return False
        with self._state_lock:
            if not self.down:
                return False
            self.down = False
            down = time.monotonic() - self._down_since
        log.warning("shared rooms %s: reachable again after %.1f s; this process's members are "
                    "written back, %d update(s) made meanwhile were not shared", self.url, down,
                    self.unshared)
        return True

