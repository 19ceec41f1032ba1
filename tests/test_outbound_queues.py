"""The outgoing queue of each client, bounded (router/upstream/outbound_queues.py), in process.

What a real router does with a client that stops reading is in tests/test_slow_consumers.py.
"""

from __future__ import annotations

import threading

import engineio
import pytest
from engineio.packet import MESSAGE, Packet

from router.config.models import ServerConfig
from router.delivery import sends_are_volatile, volatile_sends
from router.upstream.outbound_queues import OutboundLimits, install, unbounded_queue


class Reports:
    def __init__(self):
        self.slow: list[tuple] = []
        self.dropped = 0

    def on_slow(self, sid, queued_bytes, queued_messages):
        self.slow.append((sid, queued_bytes, queued_messages))

    def on_dropped(self):
        self.dropped += 1


@pytest.fixture
def server():
    eio = engineio.Server(async_mode="threading")
    eio.reports = Reports()
    start = eio.start_background_task
    eio.tasks = []  # the slow consumers' closes, to join
    eio.start_background_task = lambda target, *args: eio.tasks.append(start(target, *args))
    install(eio, OutboundLimits(100, 3, on_slow=eio.reports.on_slow,
                                on_volatile_dropped=eio.reports.on_dropped))
    return eio


def message(size: int) -> Packet:
    return Packet(MESSAGE, data="x" * size)


def drain(queue) -> list:
    taken = []
    while queue.qsize():
        taken.append(queue.get(block=False))
        queue.task_done()
    return taken


def test_the_queue_counts_what_waits_in_it(server):
    queue = server.create_queue()
    queue.put(message(30))
    queue.put(Packet(MESSAGE, data=b"\x00" * 20))
    assert (queue.queued_bytes, queue.queued_messages) == (50, 2)
    queue.get()
    assert (queue.queued_bytes, queue.queued_messages) == (20, 1)
    drain(queue)
    assert (queue.queued_bytes, queue.queued_messages) == (0, 0)


def test_a_packet_past_the_byte_cap_is_refused_and_the_client_reported_once(server):
    queue = server.create_queue()
    queue.put(message(60))
    queue.put(message(60))  # 120 > 100: refused
    queue.put(message(1))  # the client is a slow consumer now: nothing more is queued
    assert len(server.reports.slow) == 1
    sid, queued_bytes, count = server.reports.slow[0]
    assert (queued_bytes, count) == (60, 1)


def test_a_packet_past_the_message_cap_is_refused(server):
    queue = server.create_queue()
    for _ in range(3):
        queue.put(message(1))
    queue.put(message(1))
    assert len(server.reports.slow) == 1 and server.reports.slow[0][2] == 3


def test_a_slow_consumers_queue_is_emptied_and_its_writer_still_told_to_stop(server):
    queue = server.create_queue()
    queue.put(message(60))
    queue.put(None)  # Engine.IO's "stop the writer", already there
    queue.put(message(60))
    for task in server.tasks:  # the release runs as a background task
        task.join(timeout=10)
    assert len(server.tasks) == 1 and queue.queued_messages == 0 and queue.queued_bytes == 0
    assert queue.get(timeout=1) is None


def test_a_message_larger_than_the_cap_goes_when_nothing_waits(server):
    queue = server.create_queue()
    queue.put(message(500))
    assert queue.qsize() == 1 and not server.reports.slow
    assert queue.get().data == "x" * 500


def test_the_writers_stop_mark_is_never_counted_or_refused(server):
    queue = server.create_queue()
    for _ in range(3):
        queue.put(message(1))
    queue.put(None)
    assert queue.qsize() == 4 and queue.queued_messages == 3 and not server.reports.slow


def test_a_volatile_send_is_dropped_for_a_client_with_messages_waiting(server):
    queue = server.create_queue()
    with volatile_sends():
        assert sends_are_volatile()
        queue.put(message(10))  # nothing waits: it goes
        queue.put(message(10))  # one waits: dropped, and the client is not a slow consumer for it
    assert not sends_are_volatile()
    assert queue.qsize() == 1 and server.reports.dropped == 1 and not server.reports.slow
    queue.put(message(10))  # not volatile: queued
    assert queue.qsize() == 2


def test_the_volatile_mark_belongs_to_the_thread_that_set_it():
    seen = []
    with volatile_sends():
        other = threading.Thread(target=lambda: seen.append(sends_are_volatile()))
        other.start()
        other.join()
    assert seen == [False]


def test_the_routers_own_queues_are_not_bounded(server):
    outbox = unbounded_queue(server)
    for _ in range(10):
        outbox.put({"method": "emit"})
    assert outbox.qsize() == 10 and not server.reports.slow
    assert not hasattr(outbox, "queued_bytes")


def test_without_caps_nothing_is_refused():
    eio = engineio.Server(async_mode="threading")
    reports = Reports()
    install(eio, OutboundLimits(None, None, on_slow=reports.on_slow))
    queue = eio.create_queue()
    for _ in range(1000):
        queue.put(message(1000))
    assert queue.qsize() == 1000 and not reports.slow


def test_each_server_has_its_own_caps():
    first, second = engineio.Server(async_mode="threading"), engineio.Server(async_mode="threading")
    install(first, OutboundLimits(10, 1))
    assert type(second.create_queue()) is second._async["queue"]
    assert not hasattr(second.create_queue(), "queued_bytes")


def test_the_defaults_are_documented_values():
    server = ServerConfig()
    assert server.max_queued_bytes_per_client == 8_000_000
    assert server.max_queued_messages_per_client == 10_000


@pytest.mark.parametrize("step, volatile", [
    ("echo: {volatile: true}", True),
    ("emit: {to: r, volatile: true}", True),
    ("broadcast: {volatile: true}", True),
    ("room.relay: {room: r, volatile: true}", True),
    ("room.relay: {room: r}", False),
])
def test_an_emitting_step_with_volatile_marks_its_sends_and_only_them(build_router, connect, step,
                                                                      volatile):
    router = build_router(f"""
        namespaces:
          /q:
            events:
              go:
                - room.join: {{room: r}}
                - {step}
    """)
    marks = []
    emit = router.socketio.server.emit

    def recording_emit(*args, **kwargs):
        marks.append(sends_are_volatile())
        return emit(*args, **kwargs)

    router.socketio.server.emit = recording_emit
    client = connect(router, "/q")
    client.emit("go", "hi", namespace="/q")
    assert marks == [volatile] and not sends_are_volatile()
    assert [message["args"] for message in client.get_received("/q")] == [["hi"]]


def test_the_routers_own_queues_never_come_from_create_queue():
    """create_queue() builds the clients' bounded queues once the server is set up: a queue of
    the router's own work made there would count against a client cap that is not its own."""
    from pathlib import Path

    import router

    package = Path(router.__file__).parent
    callers = [str(path.relative_to(package)) for path in package.rglob("*.py")
               if "create_queue(" in path.read_text() and path.name != "outbound_queues.py"]
    assert callers == [], f"use router.upstream.outbound_queues.unbounded_queue in {callers}"
