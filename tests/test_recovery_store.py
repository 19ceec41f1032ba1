"""Connection state recovery in process: what a session gets back, the log's caps, what is logged.

The protocol against real processes and clients is tests/test_connection_recovery.py.
"""

from __future__ import annotations

import pytest

from router.runtime.recovery import MemoryStore, NotRecovered, Recovery, Restoring, Session, addressed_to


def refused(store, *args) -> str:
    """Why ``store.claim(*args)`` recovers nothing."""
    with pytest.raises(NotRecovered) as refusal:
        store.claim(*args)
    return refusal.value.outcome


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def session(store, pid="p1", sid="s1", rooms=("s1", "lobby")) -> Session:
    return Session(pid, sid, "/chat", list(rooms), {"identity": {"name": "alice"}}, store.position("/chat"))


def test_a_packet_reaches_a_session_as_it_reached_the_client():
    rooms = ["s1", "lobby"]
    assert addressed_to(rooms, None, None)               # everyone
    assert addressed_to(rooms, "lobby", None)            # its room
    assert addressed_to(rooms, "s1", None)               # its sid
    assert addressed_to(rooms, ["x", "lobby"], None)     # one of several rooms
    assert not addressed_to(rooms, "other", None)
    assert not addressed_to(rooms, None, "s1")           # everyone but itself
    assert not addressed_to(rooms, "lobby", ["s2", "s1"])
    assert addressed_to(rooms, "lobby", "s2")


def test_a_claim_returns_what_the_session_missed_once_in_order():
    store = MemoryStore(60, 100, 1_000_000)
    alice = session(store)
    seen = store.append("/chat", ["said", "before"], "lobby", None)
    store.persist(alice)
    for packet, to, skip in ((["said", "two"], "lobby", None), (["said", "elsewhere"], "other", None),
                             (["shout", "all"], None, None), (["said", "own"], "lobby", "s1"),
                             (["whisper", "psst"], "s1", None)):
        store.append("/chat", packet, to, skip)
    restoring = store.claim("/chat", "p1", seen, None, None)
    assert [data[:2] for data in restoring.missed] == [["said", "two"], ["shout", "all"], ["whisper", "psst"]]
    assert restoring.session.state == {"identity": {"name": "alice"}}
    assert refused(store, "/chat", "p1", seen, None, None) == "unknown"   # a session recovers once
    assert refused(store, "/other", "p1", seen, None, None) == "unknown"


def test_a_client_that_received_nothing_recovers_from_its_connect():
    store = MemoryStore(60, 100, 1_000_000)
    store.append("/chat", ["said", "before it came"], "lobby", None)
    alice = session(store)
    store.append("/chat", ["said", "after"], "lobby", None)
    store.persist(alice)
    assert [data[1] for data in store.claim("/chat", "p1", None, None, None).missed] == ["after"]


def test_the_log_stays_within_its_caps_under_a_fan_out_and_old_offsets_connect_as_new():
    clock = Clock()
    store = MemoryStore(60, max_packets=50, max_bytes=4_000, clock=clock)
    offsets = [store.append("/chat", ["said", "x" * 40, n], "lobby", None) for n in range(1_000)]
    entries = store._logs["/chat"]
    assert len(entries) <= 50 and store._bytes["/chat"] <= 4_000
    assert store._bytes["/chat"] == sum(entry.size for entry in entries)
    alice = session(store)
    store.persist(alice)
    assert refused(store, "/chat", "p1", offsets[10], None, None) == "too_old"  # trimmed: connects as new
    store.persist(session(store))
    assert store.claim("/chat", "p1", offsets[-1], None, None).missed == []
    # Age: nothing older than the window, no session after it.
    store.persist(session(store))
    clock.now += 61
    store.append("/chat", ["said", "late"], "lobby", None)
    assert len(store._logs["/chat"]) == 1
    assert refused(store, "/chat", "p1", offsets[-1], None, None) == "unknown"


def test_an_offset_of_another_process_or_a_forged_one_recovers_nothing():
    store = MemoryStore(60, 100, 1_000_000)
    other = MemoryStore(60, 100, 1_000_000)
    foreign = other.append("/chat", ["said", "x"], None, None)
    for offset in (foreign, "nonsense", "ffffff.zz", f"{store._epoch}.99"):
        store.persist(session(store))
        assert refused(store, "/chat", "p1", offset, None, None) == "too_old", offset


def test_a_replay_beyond_a_clients_queue_caps_is_refused():
    store = MemoryStore(60, 100, 1_000_000)
    alice = session(store)
    for n in range(10):
        store.append("/chat", ["said", n], "lobby", None)
    store.persist(alice)
    assert refused(store, "/chat", "p1", None, None, 9) == "too_large"
    store.persist(alice)
    assert len(store.claim("/chat", "p1", None, None, 10).missed) == 10


def test_only_drops_the_client_did_not_ask_for_keep_a_session():
    store = MemoryStore(60, 100, 1_000_000)
    recovery = Recovery(store, {"/chat"}.__contains__, skip_auth=True)
    for number, reason in enumerate(("client disconnect", "server disconnect", "slow consumer",
                                     "transport close", "ping timeout")):
        sid = f"s{number}"
        pid = recovery.connected("/chat", sid)
        recovery.disconnected("/chat", sid, [sid], reason)
        recovery.forget("/chat", sid)
        try:
            kept = store.claim("/chat", pid, None, None, None) is not None
        except NotRecovered:
            kept = False
        assert kept == (reason in ("transport close", "ping timeout")), reason


def test_emits_with_a_callback_are_not_logged_volatile_ones_only_hold_a_place_and_off_costs_nothing(
        build_router):
    from router.delivery import volatile_sends
    from router.upstream.connection_recovery import RecoveringManager

    yaml = """
    server:
      connection_state_recovery: {}
    namespaces:
      /chat:
        events:
          ping: echo
    """
    router = build_router(yaml)
    server = router.socketio.server
    store = router.dispatcher.recovery.store
    server.emit("news", {"n": 1}, namespace="/chat")
    server.emit("news", {"n": 2}, namespace="/chat", to="lobby", callback=lambda *args: None)
    with volatile_sends():
        server.emit("news", {"n": 3}, namespace="/chat")
    server.emit("admin-only", 1, namespace="/admin")  # a namespace the config does not declare
    assert [entry.data and entry.data[:2] for entry in store._logs["/chat"]] == [["news", {"n": 1}], None]
    assert "/admin" not in store._logs

    plain = build_router(yaml.replace("connection_state_recovery: {}", "port: 0"))
    assert not isinstance(plain.socketio.server.manager, RecoveringManager)
    assert plain.dispatcher.recovery is None
    assert "_send_packet" not in vars(plain.socketio.server)


def test_check_strict_warns_where_a_cluster_cannot_share_sessions_and_of_a_shutdown_it_overrides():
    import textwrap

    from router.compile.load import load_source
    from router.config.lint import find_risks
    from router.config.source import parse_config_text

    def risks(server):
        text = f"""
            server: {server}
            namespaces:
              /chat:
                auth: [{{token: {{values: ["${{T}}"]}}}}]
                rate: 5/s
        """
        compiled = load_source(parse_config_text(textwrap.dedent(text).lstrip(), "c.yaml", {"T": "x"}))
        return [p.message for p in find_risks(compiled.config, compiled.source)]

    assert risks('{message_queue: "amqp://127.0.0.1:5672//", connection_state_recovery: {}}') == [
        "connection state recovery keeps its sessions in each process with this message_queue: a client "
        "that comes back to another process connects as new"]
    assert risks("{shutdown_reconnect: false, connection_state_recovery: {}}") == [
        "shutdown_reconnect: false has no effect with connection_state_recovery: a stop tells clients to "
        "come back"]
    assert risks('{message_queue: "redis://127.0.0.1:6379/0", connection_state_recovery: {}}') == []
    assert risks("{shutdown_reconnect: false}") == []


def test_packets_held_during_a_replay_come_after_it_none_twice():
    store = MemoryStore(60, 100, 1_000_000)
    store.shared = True  # as a Redis store: the replay is read over the network
    recovery = Recovery(store, {"/chat"}.__contains__, skip_auth=True)
    restoring = Restoring(session(store), offsets={"e.2"})
    recovery.start_holding("/chat", "s1")
    assert recovery.holding

    def rooms_of(sid, namespace):
        return ["s1", "lobby"]

    assert recovery.hold("/chat", "said", ("replayed already", "e.2"), "lobby", None, rooms_of) == ["s1"]
    assert recovery.hold("/chat", "said", ("new", "e.3"), "lobby", None, rooms_of) == ["s1"]
    assert recovery.hold("/chat", "said", ("elsewhere", "e.4"), "other", None, rooms_of) == []
    assert recovery.hold("/other", "said", ("other namespace", "e.5"), None, None, rooms_of) == []
    assert recovery.stop_holding("/chat", "s1", restoring) == [["said", "new", "e.3"]]
    assert not recovery.holding
