"""``python router.py emit``: send one message to the clients of running routers, through
the config's message queue, without serving.

The message goes to the broker with a write-only manager, as Flask-SocketIO's
``SocketIO(message_queue=...)`` without an app does; every router process
subscribed to the channel delivers it to its clients. Imports stay inside the
functions: the CLI builds its parser before ``serve`` monkey-patches.

Exit status: 0 sent, 1 the broker could not be reached, 2 a problem with the config
or the arguments.
"""

from __future__ import annotations

import json
import sys

EXIT_SENT, EXIT_BROKER, EXIT_USAGE = 0, 1, 2


def add_emit_parser(commands) -> None:
    emit = commands.add_parser(
        "emit", help="send a message to the clients of running routers through the message queue",
        description="Send one event through the config's server.message_queue to every router "
                    "process on its channel, and from them to their clients.")
    emit.add_argument("--config", required=True, metavar="FILE", help="the YAML config the routers serve")
    emit.add_argument("--namespace", required=True, help="a namespace of the config, e.g. /chat")
    emit.add_argument("--event", required=True, help="the event name")
    values = emit.add_mutually_exclusive_group()
    values.add_argument("--data", metavar="JSON", help="one value, as JSON: '{\"x\": 1}', '\"text\"', 42")
    values.add_argument("--args", metavar="JSON", help="several values, as a JSON list: '[1, \"two\"]'")
    target = emit.add_mutually_exclusive_group()
    target.add_argument("--room", help="only the clients in this room")
    target.add_argument("--sid", help="only this client")
    emit.add_argument("--volatile", action="store_true",
                      help="not to a client that has other messages waiting to be sent")


def emit(args) -> int:
    from pydantic import ValidationError

    from router.compile.load import load_router
    from router.errors import StartupError
    from router.runtime.emit_request import (
        EmitRequest,
        field_problems,
        namespace_problem,
    )

    body = {"namespace": args.namespace, "event": args.event}
    for option in ("data", "args"):
        text = getattr(args, option)
        if text is not None:
            try:
                body[option] = json.loads(text)
            except ValueError as exc:
                return _usage(f"--{option} is not JSON ({exc}); quote a string as JSON too: "
                              f"--{option} '\"hello\"'")
    for option in ("room", "sid"):
        if getattr(args, option) is not None:
            body[option] = getattr(args, option)
    if args.volatile:
        body["volatile"] = True
    try:
        request = EmitRequest.model_validate(body)
    except ValidationError as exc:
        return _usage("; ".join(f"--{p['field']}: {p['message']}" for p in field_problems(exc)))

    compiled = load_router(args.config)
    server = compiled.config.server
    if not server.message_queue:
        raise StartupError(compiled.source.problem(
            ("server",), "emit sends through server.message_queue, and this config has none",
            hint="set server.message_queue to the broker the routers use, e.g. "
                 "redis://127.0.0.1:6379/0, and start them with it"))
    problem = namespace_problem(request.namespace, compiled.namespaces)
    if problem:
        return _usage(f"--namespace: {problem}")
    return _publish(request, server.message_queue, server.channel, compiled)


def _publish(request, url: str, channel: str, compiled) -> int:
    from router.config.brokers import redact
    from router.runtime.emit_request import send
    from router.server.managers import create_manager
    from router.server.recovery_store import publisher_recovery

    # With connection state recovery on Redis, the message is logged and numbered here, as the
    # routers number theirs, so a client that is away gets it when it comes back.
    recovery = publisher_recovery(compiled)
    manager = create_manager(url, channel, write_only=True, recovery=recovery is not None)
    manager.recovery = recovery
    try:
        send(manager, request)
    except Exception as exc:
        print(f"error: cannot publish to the message queue {redact(url)}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_BROKER
    finally:
        try:
            manager.close()
        except Exception:
            pass
    receivers = getattr(manager, "last_receivers", None)
    where = f"channel {channel!r} of {redact(url)}"
    if receivers is None:
        print(f"sent {request.describe()} through {where}")
    else:
        print(f"sent {request.describe()} through {where}: "
              f"{receivers} router process(es) subscribed")
        if receivers == 0:
            print(f"warning: no router process is subscribed to {where}; nobody received it",
                  file=sys.stderr)
    return EXIT_SENT


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE
