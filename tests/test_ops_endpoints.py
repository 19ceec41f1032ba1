"""/healthz, /readyz and /metrics: in-process for the content, against real processes with real brokers."""

from __future__ import annotations

import re
import signal
import socket as socketlib
import tempfile
from pathlib import Path

import pytest
import requests
import socketio
from prometheus_client.parser import text_string_to_metric_families

from router.config.brokers import BROKER_SCHEMES
from router.errors import StartupError
from tests.support.cluster import subscribed, unique_channel
from tests.support.py_client import PyClient
from tests.support.redis_server import OwnRedis, OwnSentinel
from tests.support.router_process import run_cli

CHAT = """
namespaces:
  /chat:
    auth:
      - token: {values: [s3cret]}
    events:
      ping: {ack: {data: pong}}
      join:
        - room.join: {room: "{{ data.room }}"}
"""


def samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} of a Prometheus exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float | None:
    return found.get((name, frozenset(labels.items())))


def free_port() -> int:
    with socketlib.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- in-process ---------------------------------------------------------------------------------

def test_metrics_count_connections_events_failures_and_refusals(build_router, connect, refusal):
    router = build_router(CHAT)
    alice = connect(router, "/chat", auth={"token": "s3cret"})
    bob = connect(router, "/chat", auth={"token": "s3cret"})
    for _ in range(3):
        assert alice.emit("ping", callback=True, namespace="/chat") == "pong"
    alice.emit("join", {"no": "room"}, namespace="/chat")
    assert refusal(router, "/chat", auth={"token": "wrong"})["rule"] == "token"
    bob.disconnect(namespace="/chat")
    router.dispatcher.metrics.event_dropped("/chat", "ping", "rate")

    response = router.app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(response.get_data(as_text=True))
    assert value(found, "socketio_router_connected_clients", namespace="/chat") == 1
    assert value(found, "socketio_router_events_received_total", namespace="/chat", event="ping") == 3
    assert value(found, "socketio_router_events_received_total", namespace="/chat", event="join") == 1
    assert value(found, "socketio_router_steps_failed_total", namespace="/chat", plugin="room.join") == 1
    assert value(found, "socketio_router_connects_refused_total", namespace="/chat", rule="token") == 1
    assert value(found, "socketio_router_events_dropped_total", namespace="/chat", event="ping",
                 reason="rate") == 1
    assert value(found, "socketio_router_handler_seconds_count", namespace="/chat", event="ping") == 3


def test_handler_histogram_buckets_are_cumulative_and_less_or_equal():
    from router.runtime.metrics import RouterMetrics

    metrics = RouterMetrics(events=[("/chat", "ping")])
    stats = metrics.event_stats("/chat", "ping")
    for seconds in (0.00005, 0.0001, 0.0003, 0.002, 60.0):
        stats.observe(seconds)
    found = samples(metrics.exposition().decode())

    def bucket(le: str) -> float | None:
        return value(found, "socketio_router_handler_seconds_bucket", namespace="/chat",
                     event="ping", le=le)

    assert (bucket("0.0001"), bucket("0.00025"), bucket("0.0005"), bucket("0.0025")) == (2, 2, 3, 4)
    assert bucket("10.0") == 4 and bucket("+Inf") == 5
    assert value(found, "socketio_router_handler_seconds_count", namespace="/chat", event="ping") == 5
    assert value(found, "socketio_router_handler_seconds_sum", namespace="/chat",
                 event="ping") == pytest.approx(60.00245)
    assert value(found, "socketio_router_events_received_total", namespace="/chat", event="ping") == 5


def test_each_app_has_its_own_registry(build_router, connect):
    first, second = build_router(CHAT), build_router(CHAT)
    connect(first, "/chat", auth={"token": "s3cret"}).emit("ping", namespace="/chat")
    found = samples(second.app.test_client().get("/metrics").get_data(as_text=True))
    assert value(found, "socketio_router_events_received_total", namespace="/chat", event="ping") == 0
    assert value(found, "socketio_router_connected_clients", namespace="/chat") == 0


def test_healthz_and_readyz_without_a_broker(build_router):
    client = build_router(CHAT, filename="chat.yaml").app.test_client()
    assert client.get("/healthz").get_json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ready", "config": "chat.yaml", "namespaces": ["/chat"]}


def test_readyz_is_503_while_shutting_down(build_router):
    from router.server.operations import operations_of

    router = build_router(CHAT)
    operations_of(router).stop._started.set()
    response = router.app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["shutdown"] == "in progress"
    # and a new Socket.IO session is turned away, so clients go to another server
    handshake = router.app.test_client().get("/socket.io/?EIO=4&transport=polling")
    assert handshake.status_code == 503


# -- real processes -----------------------------------------------------------------------------

def test_the_three_endpoints_of_a_running_router(write_config, router_process):
    router = router_process(write_config(CHAT))
    assert requests.get(router.url + "/healthz", timeout=5).json() == {"status": "alive"}
    ready = requests.get(router.url + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"

    client = socketio.Client(reconnection=False)
    client.connect(router.url, namespaces=["/chat"], auth={"token": "s3cret"}, wait_timeout=10)
    assert client.call("ping", namespace="/chat", timeout=10) == "pong"
    intruder = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        intruder.connect(router.url, namespaces=["/chat"], auth={"token": "nope"}, wait_timeout=10)

    metrics = requests.get(router.url + "/metrics", timeout=5)
    found = samples(metrics.text)
    assert value(found, "socketio_router_connected_clients", namespace="/chat") == 1
    assert value(found, "socketio_router_events_received_total", namespace="/chat", event="ping") == 1
    assert value(found, "socketio_router_connects_refused_total", namespace="/chat", rule="token") == 1
    client.disconnect()
    router.signal(signal.SIGTERM)
    assert router.wait(10) == 0


@pytest.mark.parametrize("broker, url", [
    ("redis", "redis://127.0.0.1:6379/0"),
    ("rabbitmq", "amqp://guest:guest@127.0.0.1:5672//"),
])
def test_readyz_reports_a_reachable_broker(write_config, router_process, broker, url):
    router = router_process(write_config(CHAT + f"server: {{message_queue: '{url}'}}\n"))
    ready = requests.get(router.url + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["broker"] == f"{url.split(':')[0]} reachable", broker


def test_readyz_is_503_when_the_broker_is_unreachable(write_config, router_process):
    port = free_port()  # nothing listens there
    router = router_process(write_config(CHAT + f"server: {{message_queue: 'redis://127.0.0.1:{port}/0'}}\n"))
    ready = requests.get(router.url + "/readyz", timeout=10)
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not ready"
    assert body["broker"].startswith("redis unreachable: ConnectionError")
    assert requests.get(router.url + "/healthz", timeout=5).status_code == 200, "alive all the same"


def unreachable_url(scheme: str) -> str:
    """A URL of ``scheme``'s form where nothing answers."""
    port = free_port()
    if scheme == "unix":
        return f"unix:///tmp/socketio-router-nothing-{port}.sock?db=0"
    if scheme.endswith("+sentinel"):
        return f"{scheme}://127.0.0.1:{port}/0/router-master"
    return f"{scheme}://127.0.0.1:{port}/0"


@pytest.mark.parametrize("scheme", sorted(BROKER_SCHEMES) + ["amqp"])
def test_one_table_of_schemes_serves_the_startup_check_the_managers_and_readyz(build_router, scheme):
    """Every URL form the table gives to Redis is checked, carried and probed as Redis: /readyz
    answers with redis-py's own error, where it once asked kombu about unix:// and Sentinel URLs."""
    from router.server.brokers import KombuQueue, RedisQueue

    url = unreachable_url(scheme)
    broker = BROKER_SCHEMES.get(scheme)
    try:
        router = build_router(CHAT + f"server: {{message_queue: '{url}'}}\n")
    except StartupError as exc:  # the startup check: the client library of this scheme is missing
        assert broker is not None and exc.problems[0].message == (
            f"message_queue {scheme}:// needs the {broker.package!r} package"), exc
        return
    manager = router.socketio.server.manager
    assert isinstance(manager, RedisQueue if broker is not None else KombuQueue), type(manager).__mro__
    ready = router.app.test_client().get("/readyz")
    assert ready.status_code == 503
    detail = ready.get_json()["broker"]
    expected = "(ConnectionError|MasterNotFoundError)" if broker is not None else "OperationalError"
    assert re.match(rf"{re.escape(scheme)} unreachable: {expected}: ", detail), detail


@pytest.fixture
def redis_url(request):
    """A message_queue URL of the form ``request.param`` ("unix" or "sentinel") to a redis-server
    of this test's own."""
    with tempfile.TemporaryDirectory(prefix="router-redis-", dir="/tmp") as folder:  # short: a socket path
        folder = Path(folder)
        redis = OwnRedis(unix_socket=folder / "redis.sock").start()
        sentinel = None
        try:
            if request.param == "unix":
                yield f"unix://{redis.unix_socket}?db=0"
            else:
                sentinel = OwnSentinel(redis, folder).start()
                yield sentinel.url
        finally:
            if sentinel is not None:
                sentinel.stop()
            redis.stop()


@pytest.mark.parametrize("redis_url", ["unix", "sentinel"], indirect=True)
def test_readyz_and_the_managers_take_the_same_redis_url_forms(write_config, router_process, redis_url):
    channel = unique_channel("url-forms")
    config = write_config(CHAT + f"server: {{message_queue: '{redis_url}', channel: {channel}}}\n")
    router = router_process(config)
    subscribed(router)
    ready = requests.get(router.url + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["broker"] == f"{redis_url.split(':')[0]} reachable"

    alice = PyClient(router.url, "/chat", auth={"token": "s3cret"}).connect()
    try:
        result = run_cli("emit", "--config", str(config), "--namespace", "/chat", "--event", "news",
                         "--data", '{"x": 1}')
        assert result.returncode == 0, result.stderr
        assert "1 router process(es) subscribed" in result.stdout
        assert alice.wait_event("news") == ({"x": 1},)
    finally:
        alice.close()
