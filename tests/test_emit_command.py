"""``python router.py emit`` and ``server.message_queue`` checks: what a user reads when it goes wrong.

The command reaching clients of two running routers is in test_scale_out.py.
"""

from __future__ import annotations

import pytest

from router.config.brokers import redact
from tests.support.cluster import unique_channel
from tests.support.redis_server import free_port
from tests.support.router_process import run_cli

NAMESPACES = """
namespaces:
  /chat:
"""


def emit(config, *args):
    return run_cli("emit", "--config", str(config), *args)


def test_without_a_message_queue_emit_is_a_config_error(write_config):
    config = write_config("server:\n  port: 5000\n" + NAMESPACES)
    result = emit(config, "--namespace", "/chat", "--event", "news")
    assert result.returncode == 2
    assert result.stderr == (
        "error: invalid configuration:\n"
        f"{config}:1: server: emit sends through server.message_queue, and this config has none\n"
        "  Hint: set server.message_queue to the broker the routers use, e.g. redis://127.0.0.1:6379/0, "
        "and start them with it\n")


@pytest.mark.parametrize("args, message", [
    (["--data", "hello"], "error: --data is not JSON (Expecting value: line 1 column 1 (char 0)); quote a "
                          "string as JSON too: --data '\"hello\"'\n"),
    (["--args", "{\"a\": 1}"], "error: --args: Input should be a valid list\n"),
    (["--namespace", "/caht"], "error: --namespace: namespace '/caht' is not served by this config; "
                               "did you mean '/chat'?\n"),
    (["--event", "disconnect"], "error: --event: 'disconnect' is reserved by Socket.IO; pick another "
                                "event name\n"),
])
def test_bad_arguments_exit_2_with_the_reason(write_config, args, message):
    config = write_config(f"server:\n  message_queue: redis://127.0.0.1:{free_port()}/0\n" + NAMESPACES)
    base = {"--namespace": "/chat", "--event": "news"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    result = emit(config, *[part for pair in base.items() for part in pair])
    assert result.returncode == 2
    assert result.stderr == message


def test_data_and_args_together_are_refused_by_the_parser(write_config):
    config = write_config(NAMESPACES)
    result = emit(config, "--namespace", "/chat", "--event", "x", "--data", "1", "--args", "[1]")
    assert result.returncode == 2
    assert "argument --args: not allowed with argument --data" in result.stderr


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_an_unreachable_broker_exits_1_without_showing_the_password(write_config, scheme):
    port = free_port()  # nothing listens there
    url = (f"redis://:hunter2@127.0.0.1:{port}/0" if scheme == "redis"
           else f"amqp://guest:hunter2@127.0.0.1:{port}//")
    config = write_config(f"server:\n  message_queue: {url}\n" + NAMESPACES)
    result = emit(config, "--namespace", "/chat", "--event", "news", "--data", "1")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot publish to the message queue {redact(url)}: ")
    assert "Connection refused" in result.stderr or "ECONNREFUSED" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_nobody_subscribed_is_a_warning(write_config):
    channel = unique_channel("nobody")
    config = write_config(f"server:\n  message_queue: redis://127.0.0.1:6379/0\n  channel: {channel}\n"
                          + NAMESPACES)
    result = emit(config, "--namespace", "/chat", "--event", "news", "--room", "r1")
    assert result.returncode == 0
    assert result.stdout == (f"sent 'news' to room 'r1' of /chat through channel {channel!r} of "
                             f"redis://127.0.0.1:6379/0: 0 router process(es) subscribed\n")
    assert result.stderr == (f"warning: no router process is subscribed to channel {channel!r} of "
                             f"redis://127.0.0.1:6379/0; nobody received it\n")


@pytest.mark.parametrize("url, message, hint", [
    ("localhost:6379", "message_queue 'localhost:6379' is not a URL",
     "write a broker URL, e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//"),
    ("rabbit://127.0.0.1", "unknown message queue scheme 'rabbit'",
     "use a Redis or AMQP URL, e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//"),
])
def test_message_queue_urls_are_checked_at_startup(write_config, url, message, hint):
    config = write_config(f"server:\n  message_queue: {url}\n" + NAMESPACES)
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr == (f"error: invalid configuration:\n{config}:2: server.message_queue: "
                             f"{message}\n  Hint: {hint}\n")


def test_an_empty_message_queue_means_none(build_router):
    router = build_router("server:\n  message_queue: ${ROUTER_MQ:-}\n" + NAMESPACES)
    assert router.compiled.config.server.message_queue is None


@pytest.mark.parametrize("url, shown", [
    ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
    ("amqp://guest:guest@127.0.0.1:5672//", "amqp://guest:***@127.0.0.1:5672//"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
])
def test_redact_hides_passwords(url, shown):
    assert redact(url) == shown
