"""Server CPU per message, in process: the router's own overhead without a network's noise.

    python bench/overhead.py                       # gevent, 20,000 echoes, 5 rounds
    python bench/overhead.py --mode eventlet --messages 50000 --event fanout
    python bench/overhead.py --event fanout --config bench/configs/bench-rooms.yaml   # presence + history

Each target (the router serving bench/configs/bench.yaml, the tuned hand-written app of
bench/handwritten.py) runs in a child process monkey patched for the mode, with one client
connected through python-socketio's own engine.io entry points and engine.io's ``send``
captured instead of written to a socket. Everything from the decoded engine.io message to
the encoded reply runs as in a server: packet decoding, Flask-SocketIO's request context,
the handler, the emit and the ack. Rounds alternate between the targets; the table shows
each target's best round in microseconds per message and the ratio router / hand-written.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CONFIG = BENCH / "configs" / "bench.yaml"
NAMESPACE = "/bench"
TARGETS = ("router", "tuned")


def build(target: str, mode: str, config: str = str(CONFIG)):
    """(flask app, SocketIO) for ``target``, as its server process would build them; the router
    serves ``config``."""
    if target == "router":
        os.environ["BENCH_ASYNC_MODE"] = mode
        from router.compile.load import load_source
        from router.server.app import create_app
        from router.config.source import read_config_file

        router = create_app(load_source(read_config_file(config)))
        return router.app, router.socketio
    sys.path.insert(0, str(BENCH))
    from handwritten import create_app

    return create_app(mode, None, "flask-socketio")


class Client:
    """One engine.io session fed straight into the Socket.IO server; what it is sent is kept."""

    def __init__(self, app, socketio, eio_sid: str = "bench-client"):
        from werkzeug.test import EnvironBuilder

        self.server = socketio.server
        self.sleep = socketio.sleep
        self.eio_sid = eio_sid
        self.sent: list = []
        # Acks go out through send(), emits as ready engine.io packets through send_packet().
        self.server.eio.send = lambda sid, data: self.sent.append(data)
        self.server.eio.send_packet = lambda sid, packet: self.sent.append(packet.data)
        environ = EnvironBuilder(path="/socket.io/", query_string="EIO=4&transport=websocket",
                                 environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()
        environ["flask.app"] = app  # as Flask-SocketIO's middleware sets it
        self.server._handle_eio_connect(eio_sid, environ)
        self.on_message = self.server.eio.handlers["message"]  # the router's packet guard, if any
        self.on_message(eio_sid, f"0{NAMESPACE},")
        if not any(str(packet).startswith(f"0{NAMESPACE},{{") for packet in self.sent):
            raise SystemExit(f"the namespace connect was refused: {self.sent}")

    def send(self, event: str, data, ack_id: int) -> None:
        self.on_message(self.eio_sid, f"2{NAMESPACE},{ack_id}" + json.dumps([event, data]))
        self.sleep(0)  # handlers run in their own greenlet or thread (async_handlers)

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count and time.monotonic() < deadline:
            self.sleep(0.001)


def measure(target: str, mode: str, event: str, messages: int, rounds: int,
            config: str = str(CONFIG)) -> list[float]:
    """Microseconds of process CPU per message, one figure per round."""
    app, socketio = build(target, mode, config)
    client = Client(app, socketio)
    room = {"room": "r"}
    client.send("join", room, 1)
    payload = {"room": "r", "text": "hello", "n": 1}
    per_message = []
    warmup = min(messages // 10, 1000)  # messages that warm up caches and lazily built state
    for _ in range(rounds):
        for index in range(warmup):
            client.send(event, payload, index)
        client.wait_for(warmup * 2)
        client.sent.clear()
        started = time.process_time()
        for index in range(messages):
            client.send(event, payload, index)
        expected = messages * 2  # the reply (or the room's copy) and the ack
        client.wait_for(expected)
        per_message.append((time.process_time() - started) / messages * 1e6)
        if len(client.sent) != expected:
            raise SystemExit(f"{target}: {len(client.sent)} packets sent for {messages} "
                             f"{event} messages, expected {expected}: {client.sent[-3:]}")
        client.sent.clear()
    return per_message


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    from router.cli.main import monkey_patch  # router.cli imports nothing that opens sockets

    monkey_patch(args.mode)  # both targets, as their servers are
    import logging

    logging.disable(logging.WARNING)  # the router logs each connect at INFO; keep the table clean
    figures = measure(args.child, args.mode, args.event, args.messages, 1, args.config)
    print(json.dumps(figures))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=("eventlet", "gevent", "threading"), default="gevent")
    parser.add_argument("--event", choices=("echo", "fanout"), default="echo")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--config", default=str(CONFIG),
                        help="the config the router serves (default: bench/configs/bench.yaml)")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    results: dict[str, list[float]] = {target: [] for target in TARGETS}
    for _ in range(args.rounds):
        for target in TARGETS:  # alternate, so a noisy moment hits both
            done = subprocess.run(
                [sys.executable, __file__, "--child", target, "--mode", args.mode,
                 "--event", args.event, "--messages", str(args.messages),
                 "--config", os.path.abspath(args.config)],
                capture_output=True, text=True, timeout=600)
            if done.returncode:
                raise SystemExit(f"{target} failed:\n{done.stderr}{done.stdout}")
            results[target] += json.loads(done.stdout.strip().splitlines()[-1])
    best = {target: min(figures) for target, figures in results.items()}
    print(f"{args.mode}, {args.event}: server CPU per message, best of {args.rounds} rounds "
          f"of {args.messages:,}, the router serving {os.path.relpath(args.config)}")
    for target in TARGETS:
        rounds = " ".join(f"{value:.1f}" for value in results[target])
        print(f"  {target:7} {best[target]:6.1f} us   (rounds: {rounds})")
    print(f"  ratio router / tuned: {best['router'] / best['tuned']:.2f}x "
          f"({best['router'] - best['tuned']:+.1f} us per message)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
