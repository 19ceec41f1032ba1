"""The broker goes away and comes back: routers keep serving their own clients meanwhile,
and cross-process delivery resumes. The Redis here is the test's own, on its own port."""

from __future__ import annotations

import logging
import time

import pytest

from tests.support.cluster import (API_KEY, BROKERS, cluster_config, delete_amqp_exchange, subscribed,
                                   unique_channel, wait_for_log)
from tests.support.cluster import clients  # noqa: F401  (a fixture)
from tests.support.redis_server import own_redis  # noqa: F401  (a fixture)
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def proxy():
    """``proxy(port)`` -> a TcpProxy to a shared broker on 127.0.0.1:port."""
    made = []

    def make(port):
        made.append(TcpProxy("127.0.0.1", port))
        return made[-1]

    yield make
    for each in made:
        each.close()


def start_pair(router_process, write_config, url, channel=None):
    config = write_config(cluster_config(url, channel or unique_channel("outage")))
    env = {"ROUTER_API_KEY": API_KEY}
    return router_process(config, env=env), router_process(config, env=env)


def answers_promptly(client, text, limit=2.0):
    """An event whose steps emit (a room relay) and then ack: the ack must not wait on the broker."""
    started = time.monotonic()
    assert client.call("say", {"room": "lobby", "text": text}) == "sent"
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"the ack took {elapsed:.1f}s: publishing blocked the handler"


def until_delivered(sender, receiver, timeout=20):
    """Send probes until one crosses to ``receiver`` (delivery resumes within ``timeout``)."""
    deadline = time.monotonic() + timeout
    for attempt in range(1000):
        sender.emit("shout", f"probe-{attempt}")
        try:
            receiver.wait_event("shout", timeout=0.5)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"no cross-process delivery within {timeout}s") from None


def assert_cross_process_delivery(sender, receivers, text):
    sender.emit("shout", text)
    for client in receivers:
        assert client.wait_event("shout", timeout=10) == (text,)


def test_redis_restart_keeps_local_service_and_resumes_cross_process_delivery(
        own_redis, router_process, write_config, clients):
    own_redis.start()
    a, b = start_pair(router_process, write_config, own_redis.url)
    subscribed(a), subscribed(b)
    alice, anna = clients(a), clients(a)
    bob = clients(b)
    assert_cross_process_delivery(alice, (alice, anna, bob), "before")

    own_redis.stop()
    for process in (a, b):
        wait_for_log(process, "cannot receive from channel")

    # Each process serves its own clients as before, and promptly: publishing is not inline.
    started = time.monotonic()
    assert alice.call("join", "room-during") is True
    alice.emit("shout", "during")
    assert alice.wait_event("shout") == ("during",)
    assert anna.wait_event("shout") == ("during",)
    assert time.monotonic() - started < 2.0
    assert bob.call("join", "room-during") is True
    bob.emit("shout", "b-only")
    assert bob.wait_event("shout") == ("b-only",)
    assert bob.events("shout") == [], "a message crossed processes while the broker was down"
    wait_for_log(a, "cannot publish")
    assert a.process.poll() is None and b.process.poll() is None

    own_redis.start()  # same port
    for process in (a, b):
        subscribed(process, count=2)
    assert_cross_process_delivery(alice, (alice, anna, bob), "after")
    assert_cross_process_delivery(bob, (alice, anna, bob), "after-from-b")
    for client in (alice, anna, bob):
        assert client.received == [], f"unexpected or repeated: {client.received}"
    logs = a.logs()
    assert "subscribed again to channel" in logs
    assert "publishing again after" in logs and "message(s) for other processes were dropped" in logs


def test_router_starts_while_redis_is_down_and_joins_when_it_comes(
        own_redis, router_process, write_config, clients):
    a, b = start_pair(router_process, write_config, own_redis.url)  # nothing listens there yet
    for process in (a, b):
        wait_for_log(process, "cannot receive from channel")
    alice, bob = clients(a), clients(b)
    alice.emit("shout", "local")
    assert alice.wait_event("shout") == ("local",)

    own_redis.start()
    for process in (a, b):
        subscribed(process)
    assert_cross_process_delivery(bob, (alice, bob), "joined")
    assert bob.events() == [] and alice.events() == []


def test_hung_redis_does_not_stall_handlers(proxy, router_process, write_config, clients):
    link = proxy(6379)  # the shared Redis, behind a link this test can freeze
    a, b = start_pair(router_process, write_config, f"redis://127.0.0.1:{link.port}/0")
    subscribed(a), subscribed(b)
    alice, bob = clients(a), clients(b)
    for client in (alice, bob):
        assert client.call("join", "lobby") is True
    assert_cross_process_delivery(alice, (alice, bob), "before")

    link.freeze()  # Redis stops answering; connections stay open
    for number in range(3):
        answers_promptly(alice, f"during-{number}")
        assert alice.wait_event("message") == (f"during-{number}",)
    wait_for_log(a, "cannot publish")  # redis-py gave up after its socket timeout, in the sender
    answers_promptly(alice, "still-during")

    link.restore()
    until_delivered(alice, bob)
    bob.received.clear()  # what the frozen link held may arrive late; once is all that matters now
    assert_cross_process_delivery(alice, (bob,), "after")
    assert bob.events("shout") == []


def test_rabbitmq_link_loss_keeps_local_service_and_resumes(proxy, router_process, write_config, clients):
    link = proxy(5672)  # the shared RabbitMQ, behind a link this test can cut
    channel = unique_channel("outage")
    a, b = start_pair(router_process, write_config, f"amqp://guest:guest@127.0.0.1:{link.port}//", channel)
    try:
        subscribed(a), subscribed(b)
        alice, bob = clients(a), clients(b)
        for client in (alice, bob):
            assert client.call("join", "lobby") is True
        assert_cross_process_delivery(alice, (alice, bob), "before")

        link.cut()  # every AMQP connection drops, new ones are refused
        for process in (a, b):
            wait_for_log(process, "cannot receive from channel")
        answers_promptly(alice, "during")
        assert alice.wait_event("message") == ("during",)
        wait_for_log(a, "cannot publish")
        answers_promptly(alice, "still-during")
        bob.emit("shout", "b-only")
        assert bob.wait_event("shout") == ("b-only",)
        assert bob.events() == [], "a message crossed processes while the link was cut"

        link.restore()
        for process in (a, b):
            subscribed(process, count=2)
        until_delivered(alice, bob)
        bob.received.clear()
        assert_cross_process_delivery(alice, (bob,), "after")
        assert bob.events("shout") == []
        assert a.process.poll() is None and b.process.poll() is None
    finally:
        delete_amqp_exchange(BROKERS["rabbitmq"], channel)


def test_a_full_outbox_drops_messages_instead_of_growing(proxy, monkeypatch, caplog):
    import socketio

    from router.server import brokers as message_queue

    monkeypatch.setattr(message_queue, "OUTBOX_LIMIT", 5)
    link = proxy(6379)
    link.freeze()  # the sender's first publish hangs; everything after it waits in the outbox
    manager = message_queue.RedisQueue(f"redis://127.0.0.1:{link.port}/0", channel=unique_channel("outbox"))
    socketio.Server(client_manager=manager, async_mode="threading")
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="socketio_router.message_queue"):
        for number in range(50):
            manager.emit("event", number, namespace="/")
    assert time.monotonic() - started < 1.0  # emitting never waited on the hung broker
    assert manager.status.dropped_total >= 50 - 1 - 5
    assert manager._outbox.qsize() == 5
    assert (f"message queue redis://127.0.0.1:{link.port}/0: 5 messages wait to be published; "
            "dropping messages for other processes (1 so far)") in caplog.text
