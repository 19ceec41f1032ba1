"""A ``message_queue`` URL: which broker carries it, its redacted form, and what is wrong with it
before connecting.

:data:`BROKER_SCHEMES` is the one table of URL schemes: the manager factory
(router/server/managers.py), the startup check (:func:`message_queue_problems`) and
``/readyz`` (router/server/brokers.py ``readiness_check``) all look a URL up here,
so they accept the same URL forms. Kept apart from the managers so that ``check``
validates the URL without importing python-socketio and the broker clients.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from router.errors import Problem


@dataclass(frozen=True)
class Broker:
    """What carries one kind of ``message_queue`` URL."""

    family: str          # the manager that carries it: "redis", "kafka", "zmq" or "kombu"
    module: str          # the client library the manager imports
    package: str         # what ``pip install`` calls that library
    probed: bool = True  # whether /readyz asks the broker if it answers


REDIS = Broker("redis", "redis", "redis")
VALKEY = Broker("redis", "valkey", "valkey")
KAFKA = Broker("kafka", "kafka", "kafka-python", probed=False)
ZMQ = Broker("zmq", "zmq", "pyzmq", probed=False)
KOMBU = Broker("kombu", "kombu", "kombu")

# The schemes python-socketio's RedisManager parses (a unix socket, Sentinel, Valkey) and Kafka's.
# Any zmq+... scheme is ZeroMQ's; anything else goes to kombu, which knows its transports.
BROKER_SCHEMES = {
    "redis": REDIS, "rediss": REDIS, "unix": REDIS, "redis+sentinel": REDIS,
    "valkey": VALKEY, "valkeys": VALKEY, "valkey+sentinel": VALKEY,
    "kafka": KAFKA,
}
EXAMPLE_URLS = "redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//"


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def broker_of(url: str) -> Broker:
    """The broker that carries ``url``, as Flask-SocketIO would choose it (kombu by default)."""
    scheme = scheme_of(url)
    if scheme in BROKER_SCHEMES:
        return BROKER_SCHEMES[scheme]
    return ZMQ if scheme.startswith("zmq") else KOMBU


def check_message_queue(compiled, engine=None) -> list[Problem]:
    """What is wrong with ``server.message_queue`` before any connection is tried (a feature
    check of the compiler)."""
    return message_queue_problems(compiled.config.server.message_queue, compiled.source)


def message_queue_problems(url: str | None, source) -> list[Problem]:
    """What is wrong with a message queue URL before any connection is tried: the URL's
    shape, a scheme nobody handles, a client library that is not installed."""
    if not url:
        return []
    path = ("server", "message_queue")
    scheme = scheme_of(url)
    if not scheme:
        return [source.problem(path, f"message_queue {redact(url)!r} is not a URL",
                               hint=f"write a broker URL, e.g. {EXAMPLE_URLS}")]
    broker = broker_of(url)
    if not _installed(broker.module):
        return [source.problem(path, f"message_queue {scheme}:// needs the {broker.package!r} package",
                               hint=f"pip install {broker.package}")]
    if broker is KOMBU:
        from kombu.transport import TRANSPORT_ALIASES

        if scheme not in TRANSPORT_ALIASES:
            return [source.problem(path, f"unknown message queue scheme {scheme!r}",
                                   hint=f"use a Redis or AMQP URL, e.g. {EXAMPLE_URLS}")]
    return []


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing a broker client to find out."""
    if module in sys.modules:  # kombu replaces its module object: find_spec() fails on it
        return True
    return importlib.util.find_spec(module) is not None
