"""Several router processes sharing a real broker: the config they serve and how to wait for them."""

from __future__ import annotations

import re
import textwrap
import time
import uuid

import pytest

from tests.support.py_client import PyClient

API_KEY = "test-api-key-0123456789"

# The shared services of the test machine (.ci/run starts them when they are down).
BROKERS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}

# A chat namespace exercising every cross-process path: broadcast, room relay, room close,
# relay to a sid, and a disconnect that relays to a room.
CLUSTER_YAML = """
server:
  message_queue: "__URL__"
  channel: "__CHANNEL__"
  api_key: "${ROUTER_API_KEY}"
namespaces:
  /chat:
    on_connect:
      - emit: {event: welcome, data: {sid: "{{ sid }}"}}
    on_disconnect:
      - room.relay: {room: lobby, event: gone, data: "{{ sid }}"}
    events:
      join:
        - room.join: {room: "{{ data }}"}
        - ack: {data: true}
      say:
        - room.relay: {room: "{{ data.room }}", event: message, data: "{{ data.text }}"}
        - ack: {data: sent}
      close:
        - room.close: {room: "{{ data }}"}
        - ack: {data: closed}
      shout: broadcast
      whisper:
        - emit: {to: "{{ data.to }}", event: whisper, data: "{{ data.text }}"}
        - ack: {data: whispered}
"""


def unique_channel(prefix: str = "test") -> str:
    """A channel no other test (or parallel run) uses, so messages never cross."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def cluster_config(url: str, channel: str, extra: str = "") -> str:
    text = CLUSTER_YAML.replace("__URL__", url).replace("__CHANNEL__", channel)
    return textwrap.dedent(text).lstrip() + textwrap.dedent(extra)


def wait_for_log(process, pattern: str, count: int = 1, timeout: float = 20) -> str:
    """Wait (polling the process's output, bounded) until the regex ``pattern`` matches ``count`` times."""
    deadline = time.monotonic() + timeout
    while True:
        logs = process.logs()
        if len(re.findall(pattern, logs)) >= count:
            return logs
        if process.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{pattern!r} did not appear {count} time(s) in {timeout}s:\n{logs}")
        time.sleep(0.05)  # polling a log file for a condition, not synchronising on time


def subscribed(process, count: int = 1, timeout: float = 20) -> None:
    """Wait until the router has subscribed to its channel ``count`` times."""
    wait_for_log(process, r": subscribed (again )?to channel", count, timeout)


def delete_amqp_exchange(url: str, channel: str) -> None:
    """Remove the fanout exchange a test's channel created on the shared RabbitMQ."""
    import kombu

    with kombu.Connection(url, connect_timeout=5) as connection:
        kombu.Exchange(channel, type="fanout", durable=False)(connection.default_channel).delete()


@pytest.fixture
def clients():
    """``clients(router_process, namespace="/chat", transport="websocket")`` -> a connected
    PyClient whose ``sid`` is the one the cluster config's welcome told it; closed after the test."""
    made = []

    def make(process, namespace="/chat", transport="websocket"):
        client = PyClient(process.url, namespace, transports=[transport]).connect()
        made.append(client)
        client.sid = client.wait_event("welcome")[0]["sid"]
        return client

    yield make
    for client in made:
        client.close()
