"""The command line: ``serve`` (the default), ``check``, ``schema``, ``test`` and ``emit``.

Config problems print as one message with file, line, YAML path and hint, and
exit 2 without a traceback. Only light modules are imported at the top: ``serve``
monkey-patches for eventlet or gevent before Flask, pydantic or a plugin loads.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from .errors import StartupError

EXIT_CONFIG = 2
EXIT_WARNINGS = 1  # check --strict found risky settings; test: a scenario failed
COMMANDS = ("serve", "check", "schema", "test", "emit")

# Eventlet announces its maintenance status on import; our users chose it through the config.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="router.py", description="A YAML-configured Socket.IO server on Flask-SocketIO.",
        epilog="Without a command, serve: python router.py --config configs/chat.yaml")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the config (the default command)")
    serve.add_argument("--config", required=True, metavar="FILE", help="the YAML config file")
    serve.add_argument("--host", help="listen address (overrides server.host)")
    serve.add_argument("--port", type=int, help="listen port, 0 for any free one (overrides server.port)")
    serve.add_argument("--console", action="store_true", default=None,
                       help="serve the live console at /console (sets server.console: true)")
    serve.add_argument("--reload", action="store_true",
                       help="restart when the config or a plugin changes; a broken edit keeps the "
                            "running server")
    serve.add_argument("--no-timers", dest="timers_enabled", action="store_const", const=False,
                       help="do not run the config's timers here (sets server.timers_enabled: false)")
    check = commands.add_parser("check", help="validate the config and print its routing table")
    check.add_argument("--config", required=True, metavar="FILE", help="the YAML config file")
    check.add_argument("--strict", action="store_true",
                       help=f"also warn about risky settings, and exit {EXIT_WARNINGS} if there are any")
    schema = commands.add_parser("schema", help="print the JSON Schema of the config, plugins included")
    schema.add_argument("--plugins-dir", metavar="DIR",
                        help="include the plugins of DIR (default: ./plugins if it exists)")
    schema.add_argument("--config", metavar="FILE", help="include the plugins of this config's plugins_dir")
    test = commands.add_parser("test", help="run the scenarios of .test.yaml files against their config")
    test.add_argument("files", nargs="+", metavar="FILE", help="scenario files, e.g. configs/chat.test.yaml")
    from .emit_command import add_emit_parser

    add_emit_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv = ["serve"] + argv
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check":
            return check(args)
        if args.command == "emit":
            from .emit_command import emit

            return emit(args)
        if args.command == "schema":
            from .schema import schema_command

            return schema_command(args)
        if args.command == "test":
            from .scenarios import scenarios_command

            return scenarios_command(args.files)
        if args.reload:
            from .reloader import supervise

            return supervise(args)
        return serve(args)
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 0


def check(args) -> int:
    from .config_loader import load_router
    from .security_warnings import security_warnings

    compiled = load_router(args.config)
    print(routing_table(compiled))
    from .risky_settings import report_risks

    if not args.strict:  # --strict lists these among every risky setting
        for warning in security_warnings(compiled):
            print(f"warning: {warning.render()}", file=sys.stderr)
    return report_risks(compiled, args.strict)


def routing_table(compiled) -> str:
    """The namespaces, their door and their events with the steps each runs."""
    lines = [f"{compiled.source.file}: OK"]
    for name, namespace in compiled.namespaces.items():
        if namespace.class_ref:
            lines.append(f"{name}  (class {namespace.class_ref})")
            continue
        rules = ", ".join(check.name for check in namespace.auth) or "open"
        lines.append(f"{name}  auth: {rules}")
        if namespace.policy is not None and namespace.policy.describe():
            lines.append(f"  limits: {namespace.policy.describe()}")
        rows = [("on_connect", namespace.on_connect), *namespace.events.items(),
                ("on_disconnect", namespace.on_disconnect)]
        if namespace.on_error is not None:
            rows.append(("on_error", namespace.on_error))
        width = max((len(event) for event, _ in rows), default=0)
        for event, steps in rows:
            if steps:
                lines.append(f"  {event.ljust(width)}  " + " -> ".join(s.plugin.name for s in steps))
    return "\n".join(lines)


def serve(args) -> int:
    from .yaml_source import read_config_file

    source = read_config_file(args.config)
    mode = (source.data.get("server") or {}).get("async_mode", "eventlet") \
        if isinstance(source.data, dict) and isinstance(source.data.get("server"), dict) else "eventlet"
    monkey_patch(mode)  # before the server, the plugins and any broker client are imported

    from .config_loader import load_source
    from .loader import create_app
    from .message_queue import start_message_queue
    from .security_warnings import security_warnings
    from .server import serve as serve_forever

    overrides = {"host": args.host, "port": args.port, "console": args.console,
                 "timers_enabled": args.timers_enabled}
    compiled = load_source(source, overrides)
    server = compiled.config.server
    configure_logging(server.log_level, server.log_format)
    for warning in security_warnings(compiled):
        logging.getLogger("socketio_router").warning(warning.render())
    router = create_app(compiled)

    def ready(host: str, port: int) -> None:
        print(f"socketio-router listening on http://{host}:{port} "
              f"(async_mode={router.socketio.async_mode}, config={args.config})", flush=True)

    from .reloader import inherited_socket

    start_message_queue(router.socketio.server)
    if server.timers_enabled:
        router.timers.start()
    elif compiled.timers:
        logging.getLogger("socketio_router").info("timers: off in this process (timers_enabled is false)")
    try:
        serve_forever(router, server.host, server.port, ready, sock=inherited_socket())
    finally:
        router.timers.stop()
        if router.pings is not None:
            router.pings.stop()
    return 0


def monkey_patch(mode: str) -> None:
    """Patch the standard library for ``mode`` (eventlet, gevent; threading needs nothing), as
    Flask-SocketIO's deployment docs say: first, before anything that opens sockets is imported."""
    if mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    elif mode == "gevent":
        from gevent import monkey

        monkey.patch_all()


def configure_logging(level: str, log_format: str = "text") -> None:
    from .log_format import make_formatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(log_format))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # python-socketio / engineio log every packet at INFO when their logger is on.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
