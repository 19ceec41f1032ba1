"""The command line: ``serve`` (the default), ``check``, ``schema``, ``test`` and ``emit``.

Config problems print as one message with file, line, YAML path and hint, and
exit 2 without a traceback. Only light modules are imported at the top: ``serve``
monkey-patches for eventlet or gevent before Flask, pydantic or a plugin loads.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
import warnings

from router.errors import StartupError

EXIT_CONFIG = 2
EXIT_WARNINGS = 1  # check --strict found risky settings; test: a scenario failed
COMMANDS = ("serve", "check", "schema", "test", "emit")

# Eventlet announces its maintenance status on import; our users chose it through the config.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")


def program_name() -> str:
    """The name the user typed: ``router.py`` or ``socketio-router`` (the installed script)."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name and name != "-c" else "socketio-router"  # -c: a --reload child


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("socketio-router")
    except PackageNotFoundError:  # run from a clone that was never installed
        return "(version unknown: the package is not installed)"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    prog = prog or program_name()
    command_line = f"python {prog}" if prog.endswith(".py") else prog
    parser = argparse.ArgumentParser(
        prog=prog, description="A YAML-configured Socket.IO server on Flask-SocketIO.",
        epilog=f"Without a command, serve: {command_line} --config configs/chat.yaml")
    parser.add_argument("--version", action="version", version=f"socketio-router {package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the config (the default command)")
    serve.add_argument("--config", required=True, metavar="FILE", help="the YAML config file")
    serve.add_argument("--host", help="listen address (overrides server.host)")
    serve.add_argument("--port", type=int, help="listen port, 0 for any free one (overrides server.port)")
    serve.add_argument("--console", action="store_true", default=None,
                       help="serve the live console at /console (sets server.console: true)")
    serve.add_argument("--reload", action="store_true",
                       help="reload when the config or a plugin changes, keeping connected "
                            "clients where the change allows it; a broken edit keeps the running "
                            "server")
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
    from router.cli.emit import add_emit_parser

    add_emit_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        parser.error(unknown_command(argv[0]))
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version"):
        argv = ["serve"] + argv
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            from router.cli.check import check

            return check(args)
        if args.command == "emit":
            from router.cli.emit import emit

            return emit(args)
        if args.command == "schema":
            from router.cli.schema import schema_command

            return schema_command(args)
        if args.command == "test":
            from router.cli.scenarios import scenarios_command

            return scenarios_command(args.files)
        if args.reload:
            from router.cli.reload import supervise

            return supervise(args)
        return serve(args)
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 0


def unknown_command(word: str) -> str:
    """Why ``word`` is not a command, and which commands there are."""
    if word.endswith((".yaml", ".yml")):
        advice = f"to serve a file, write --config {word}."
    else:
        close = difflib.get_close_matches(word, COMMANDS, n=1)
        advice = f"did you mean {close[0]!r}?" if close else ""
    return " ".join(filter(None, [f"unknown command {word!r};" if advice else f"unknown command {word!r}.",
                                  advice, "The commands are: " + ", ".join(COMMANDS)]))


def serve(args) -> int:
    from router.config.source import read_config_file

    source = read_config_file(args.config)
    mode = (source.raw("server") or {}).get("async_mode", "eventlet")
    monkey_patch(mode)  # before the server, the plugins and any broker client are imported

    from router.compile.load import load_source
    from router.config.lint import security_warnings
    from router.server.app import create_app
    from router.server.serve import serve as serve_forever
    from router.upstream.client_manager import start_manager

    compiled = load_source(source, serve_overrides(args))
    server = compiled.config.server
    configure_logging(server.log_level, server.log_format)
    for warning in security_warnings(compiled.config, compiled.source):
        logging.getLogger("socketio_router").warning(warning.render())
    router = create_app(compiled)

    def ready(host: str, port: int) -> None:
        from router.cli.announce import startup_lines

        lines = startup_lines(compiled, host, port, router.socketio.async_mode, args.config)
        print("\n".join(lines), flush=True)

    from router.cli.reload import ReloadInPlace, inherited_socket

    sock = inherited_socket()
    # Under a --reload supervisor (it hands down the socket), SIGHUP swaps an edited config in.
    reload = ReloadInPlace(args, router) if sock is not None else None
    start_manager(router.socketio.server)
    if server.timers_enabled:
        router.timers.start()
    elif compiled.timers:
        logging.getLogger("socketio_router").info("timers: off in this process (timers_enabled is false)")
    try:
        serve_forever(router, server.host, server.port, ready, sock=sock, reload=reload)
    finally:
        router.timers.stop()
        if router.pings is not None:
            router.pings.stop()
    return 0


def serve_overrides(args) -> dict:
    """What serve's options set in ``server:`` (None: the config's own value stands)."""
    return {"host": args.host, "port": args.port, "console": args.console,
            "timers_enabled": args.timers_enabled}


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
    from router.server.log_format import make_formatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(log_format))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # python-socketio / engineio log every packet at INFO when their logger is on.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
