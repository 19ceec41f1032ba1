"""A client that stops reading, against a real router in each async mode, with real clients.

In a busy room, a client that no longer reads is disconnected as a slow consumer once more than
``server.max_queued_bytes_per_client`` waits for it: logged once, counted in /metrics, its memory
released, while the room's other members get every message. Volatile messages skip it instead,
and it stays connected. One message larger than the cap still reaches a client that keeps up.
"""

from __future__ import annotations

import json
import textwrap
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cluster import BROKERS, unique_channel
from tests.support.py_client import PyClient
from tests.support.raw_websocket import RawSocketIO
from tests.support.router_process import RouterProcess

MODES = ["eventlet", "gevent", "threading"]
NAMESPACE = "/out"
QUEUE_CAP = 2_000_000  # max_queued_bytes_per_client of the test servers
MESSAGE = 20_000  # bytes of text per message into the room: a hundred fit in the cap
COUNT = 1_000  # messages: 20 MB, ten times the cap

CONFIG = """
    server:
      async_mode: {mode}
      max_http_buffer_size: 5000000
      max_client_bytes_per_second: 1000000000  # the sender is not the subject here
      max_queued_bytes_per_client: {cap}
    namespaces:
      /out:
        events:
          join:
            - room.join: {{room: r}}
            - ack: {{data: joined}}
          say:
            - room.relay: {{room: r, event: said, include_self: false}}
            - ack: {{data: true}}
          cursor:
            - room.relay: {{room: r, event: moved, include_self: false, volatile: true}}
            - ack: {{data: true}}
"""


@pytest.fixture(scope="module", params=MODES)
def router(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"slow-{request.param}") / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG.format(mode=request.param, cap=QUEUE_CAP)).lstrip())
    process = RouterProcess(path).start()
    yield process
    process.stop()


@pytest.fixture
def member(router):
    """A room member that reads everything."""
    client = PyClient(router.url, NAMESPACE, transports=["websocket"]).connect()
    assert client.call("join") == "joined"
    yield client
    client.close()


@pytest.fixture
def sender(router):
    client = PyClient(router.url, NAMESPACE, transports=["websocket"]).connect()
    yield client
    client.close()


def stalled_member(router) -> RawSocketIO:
    """A room member that will stop reading: a small receive buffer, so its TCP window fills soon."""
    raw = RawSocketIO(router.url, NAMESPACE, receive_buffer=16_384)
    raw.ws.send(raw.event_packet("join", ack=1))
    assert raw.recv_packet() == f'43{NAMESPACE},1["joined"]'
    return raw


def metric(router, name: str) -> float:
    text = requests.get(f"{router.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} is not in /metrics")


def rss_kb(router) -> int:
    with open(f"/proc/{router.process.pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def wait_for_events(client: PyClient, event: str, count: int, timeout: float = 60) -> list:
    with client._cond:
        client._cond.wait_for(lambda: len([e for e, _ in client.received if e == event]) >= count,
                              timeout)
    return client.events(event)


def wait_for_log(router, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while text not in router.logs() and time.monotonic() < deadline:
        time.sleep(0.05)  # the log is another process's output: poll it
    return router.logs()


def test_a_member_that_stops_reading_is_cut_off_and_the_others_get_everything(router, member, sender):
    before = metric(router, "socketio_router_slow_consumers_disconnected_total")
    stalled = stalled_member(router)
    rss_before = rss_kb(router)
    try:
        payload = "x" * MESSAGE
        for number in range(COUNT):
            assert sender.call("say", {"n": number, "text": payload}, timeout=30) is True
            if number % 40 == 39:  # the member that reads stays well within its cap, however loaded
                wait_for_events(member, "said", number + 1)
        received = wait_for_events(member, "said", COUNT)
        rss_growth = rss_kb(router) - rss_before
        logs = wait_for_log(router, "(slow consumer)")
    finally:
        stalled.close()
    cut = [line for line in logs.splitlines() if "disconnecting a slow consumer" in line]
    assert len(cut) == 1, cut
    assert "server.max_queued_bytes_per_client: 2000000" in cut[0]
    assert [args[0]["n"] for args in received] == list(range(COUNT))
    assert all(args[0]["text"] == payload for args in received)
    assert "(slow consumer)" in logs.split(cut[0], 1)[1]  # its disconnect line, with the reason
    assert metric(router, "socketio_router_slow_consumers_disconnected_total") == before + 1
    # 20 MB went to the room: what the server kept for the stalled member is about twice the cap.
    assert rss_growth < 12_000, f"the server grew by {rss_growth} KB"


def test_the_stalled_members_connection_is_ended_by_the_server(router, member, sender):
    stalled = stalled_member(router)
    try:
        for number in range(COUNT // 3):
            sender.call("say", {"n": number, "text": "x" * MESSAGE}, timeout=30)
            if number % 40 == 39:
                wait_for_events(member, "said", number + 1)
        wait_for_events(member, "said", COUNT // 3)
        stalled.ws.settimeout(20)
        ended = False
        try:
            while True:  # what the kernel still buffers, then the end
                if not stalled.ws.recv():
                    ended = True
                    break
        except Exception:  # closed or reset by the server: the end as well
            ended = True
    finally:
        stalled.close()
    assert ended


def test_volatile_messages_skip_a_member_that_is_behind_and_it_stays(router, member, sender):
    slow_before = metric(router, "socketio_router_slow_consumers_disconnected_total")
    dropped_before = metric(router, "socketio_router_volatile_dropped_total")
    stalled = stalled_member(router)
    try:
        for number in range(COUNT):
            assert sender.call("cursor", {"n": number, "text": "x" * MESSAGE}, timeout=30) is True
        assert metric(router, "socketio_router_volatile_dropped_total") > dropped_before
        assert metric(router, "socketio_router_slow_consumers_disconnected_total") == slow_before
        # It reads again: what was kept for it arrives, in order, then the answer to a new call.
        stalled.ws.send(stalled.event_packet("join", ack=2))
        moved = []
        while (packet := stalled.recv_packet()) != f'43{NAMESPACE},2["joined"]':
            event, data = json.loads(packet.removeprefix(f"42{NAMESPACE},"))
            assert event == "moved", packet[:80]
            moved.append(data["n"])
    finally:
        stalled.close()
    assert 0 < len(moved) < COUNT and moved == sorted(moved)


def test_one_message_larger_than_the_cap_reaches_a_member_that_keeps_up(router, member, sender):
    payload = "y" * (QUEUE_CAP * 3 // 2)
    assert sender.call("say", {"n": -1, "text": payload}, timeout=30) is True
    (data,) = wait_for_events(member, "said", 1)[-1]
    assert data == {"n": -1, "text": payload}


def test_a_volatile_message_from_another_process_skips_a_member_that_is_behind(router_process,
                                                                             tmp_path):
    """Behind a message queue, the mark travels with the message: the process of the stalled
    member drops it there too, and does not cut the member off."""
    channel = unique_channel("volatile")
    path = tmp_path / "cluster.yaml"
    path.write_text(textwrap.dedent(CONFIG.format(mode="eventlet", cap=QUEUE_CAP)).lstrip()
                    .replace("server:\n", f"server:\n  message_queue: {BROKERS['redis']}\n"
                                          f"  channel: {channel}\n", 1))
    first, second = router_process(path), router_process(path)
    stalled = stalled_member(second)
    sender = PyClient(first.url, NAMESPACE, transports=["websocket"]).connect()
    try:
        assert sender.call("join") == "joined"  # a member on the first process: the room spans both
        for number in range(COUNT):
            sender.call("cursor", {"n": number, "text": "x" * MESSAGE}, timeout=30)
        stalled.ws.send(stalled.event_packet("join", ack=2))
        moved = 0
        while stalled.recv_packet() != f'43{NAMESPACE},2["joined"]':
            moved += 1
    finally:
        sender.close()
        stalled.close()
    assert 0 < moved < COUNT
    assert metric(second, "socketio_router_volatile_dropped_total") > 0
    assert metric(second, "socketio_router_slow_consumers_disconnected_total") == 0
