"""A ``message_queue`` URL: its scheme, its redacted form, and what is wrong with it before connecting.

Kept apart from the managers (router/message_queue.py) so that ``check`` validates
the URL without importing python-socketio and the broker clients.
"""

from __future__ import annotations

import importlib.util
import sys
from urllib.parse import urlsplit, urlunsplit

from router.errors import Problem

REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "valkey", "valkeys", "valkey+sentinel")
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
    if scheme in REDIS_SCHEMES:
        module, package = ("valkey", "valkey") if scheme.startswith("valkey") else ("redis", "redis")
    elif scheme == "kafka":
        module, package = "kafka", "kafka-python"
    elif scheme.startswith("zmq"):
        module, package = "zmq", "pyzmq"
    else:
        module, package = "kombu", "kombu"
    if not _installed(module):
        return [source.problem(path, f"message_queue {scheme}:// needs the {package!r} package",
                               hint=f"pip install {package}")]
    if module == "kombu":
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
