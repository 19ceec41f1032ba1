"""The Redis store of connection state recovery, against the local Redis: offsets, claims, caps.

Each test has a channel of its own, so its keys ({channel}:recovery:...) never meet another test's.
"""

from __future__ import annotations

import pytest
import redis

from router.runtime.recovery import NotRecovered, Session
from router.server.recovery_store import RedisStore
from tests.support.cluster import BROKERS, unique_channel


@pytest.fixture
def store():
    channel = unique_channel("recovery")
    made = RedisStore(BROKERS["redis"], channel, window=60, max_packets=200)
    yield made
    client = redis.Redis.from_url(BROKERS["redis"])
    for key in client.scan_iter(f"{channel}:recovery:*"):
        client.delete(key)


def alice(store, start=None) -> Session:
    return Session("pid-1", "sid-1", "/chat", ["sid-1", "lobby"], {"identity": {"name": "alice"}},
                   start if start is not None else store.position("/chat"))


def outcome(store, *args) -> str:
    with pytest.raises(NotRecovered) as refusal:
        store.claim(*args)
    return refusal.value.outcome


def test_offsets_are_stream_ids_and_a_claim_returns_what_was_missed_once(store):
    seen = store.append("/chat", ["said", "before"], "lobby", None)
    assert seen.count("-") == 1 and all(part.isdigit() for part in seen.split("-"))
    session = alice(store)
    store.persist(session)
    for packet, to, skip in ((["said", "two"], "lobby", None), (["said", "elsewhere"], "other", None),
                             (["shout", b"\x00binary"], None, None), (["said", "own"], "lobby", "sid-1")):
        store.append("/chat", packet, to, skip)
    store.append("/chat", ["blink", "volatile"], None, None, replay=False)
    restoring = store.claim("/chat", "pid-1", seen, None, None)
    assert [data[:2] for data in restoring.missed] == [["said", "two"], ["shout", b"\x00binary"]]
    assert all(data[-1] in restoring.offsets for data in restoring.missed)
    assert restoring.session.state == {"identity": {"name": "alice"}}
    assert outcome(store, "/chat", "pid-1", seen, None, None) == "unknown"  # claimed once
    # What is logged after the claim is read by more(), from where the claim stopped.
    store.append("/chat", ["said", "three"], "lobby", None)
    assert [data[1] for data in store.more(restoring)] == ["three"]
    assert store.more(restoring) == []


def test_a_client_without_an_offset_resumes_from_its_connect(store):
    store.append("/chat", ["said", "before it came"], "lobby", None)
    session = alice(store)
    store.append("/chat", ["said", "after"], "lobby", None)
    store.persist(session)
    assert [data[1] for data in store.claim("/chat", "pid-1", None, None, None).missed] == ["after"]


def test_the_stream_is_trimmed_to_its_cap_and_a_trimmed_offset_connects_as_new(store):
    first = store.append("/chat", ["said", 0], "lobby", None)
    for number in range(1, 2_000):
        store.append("/chat", ["said", number], "lobby", None)
    length = redis.Redis.from_url(BROKERS["redis"]).xlen(store._log_key("/chat"))
    assert 200 <= length < 400  # MAXLEN ~ trims whole stream nodes (100 entries each by default)
    store.persist(alice(store, start="0-0"))
    assert outcome(store, "/chat", "pid-1", first, None, None) == "too_old"
    store.persist(alice(store))
    assert outcome(store, "/chat", "pid-1", "not-an-offset", None, None) == "too_old"


def test_a_replay_beyond_the_clients_queue_caps_connects_as_new(store):
    session = alice(store)
    for number in range(10):
        store.append("/chat", ["said", number], "lobby", None)
    store.persist(session)
    assert outcome(store, "/chat", "pid-1", None, None, 9) == "too_large"
    store.persist(session)
    assert len(store.claim("/chat", "pid-1", None, None, 10).missed) == 10


def test_a_redis_that_does_not_answer_costs_the_offset_not_the_send():
    store = RedisStore("redis://127.0.0.1:1/0", unique_channel("recovery"), window=60, max_packets=10)
    packet = ["said", "x"]
    assert store.append("/chat", packet, "lobby", None) is None and packet == ["said", "x"]
    with pytest.raises(RuntimeError):
        store.claim("/chat", "pid-1", None, None, None)
