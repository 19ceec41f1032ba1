"""Server CPU per message, in process: the router's own overhead without a network's noise.

    python bench/overhead.py                       # gevent, 20,000 echoes, 5 rounds
    python bench/overhead.py --mode eventlet --messages 50000 --event fanout
    python bench/overhead.py --profile router      # where one target's time goes (cProfile)
    python bench/overhead.py --allocations         # memory blocks each message allocates
    python bench/overhead.py --event fanout --config bench/configs/bench-rooms.yaml   # presence + history

Each target (the router serving bench/configs/bench.yaml, the tuned hand-written app of
bench/handwritten.py, bare python-socketio of bench/bare_socketio.py) runs in a child process
monkey patched for the mode, with one client connected through python-socketio's own engine.io
entry points and engine.io's ``send`` captured instead of written to a socket. Everything from
the decoded engine.io message to the encoded reply runs as in a server: packet decoding,
Flask-SocketIO's request context (where the target has one), the handler, the emit and the
ack. Rounds alternate between the targets; the table shows each target's best round in
microseconds per message and the ratios router / hand-written and router / bare.

``--allocations`` counts, with tracemalloc, the memory blocks a message has allocated and
still holds when its first packet is sent (the handler is then in the middle of its work: its
context, rendered options and the packet are alive), by source line, split into the
router's own lines and the libraries'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CONFIG = BENCH / "configs" / "bench.yaml"
NAMESPACE = "/bench"
TARGETS = ("router", "tuned", "bare")


def build(target: str, mode: str, config: str = str(CONFIG)):
    """(flask app or None, python-socketio server) for ``target``, as its server process
    would build them; the router serves ``config``."""
    if target == "router":
        os.environ["BENCH_ASYNC_MODE"] = mode
        from router.compile.load import load_source
        from router.server.app import create_app
        from router.config.source import read_config_file

        router = create_app(load_source(read_config_file(config)))
        return router.app, router.socketio.server
    sys.path.insert(0, str(BENCH))
    if target == "bare":
        from bare_socketio import create_server

        return None, create_server(mode)
    from handwritten import create_app

    app, socketio = create_app(mode, None, "flask-socketio")
    return app, socketio.server


class Client:
    """One engine.io session fed straight into the Socket.IO server; what it is sent is kept."""

    def __init__(self, app, server, eio_sid: str = "bench-client"):
        from werkzeug.test import EnvironBuilder

        self.server = server
        self.sleep = server.sleep
        self.eio_sid = eio_sid
        self.sent: list = []
        self.on_sent = None  # called before a packet is kept (--allocations)
        # Acks go out through send(), emits as ready engine.io packets through send_packet().
        self.server.eio.send = lambda sid, data: self._keep(data)
        self.server.eio.send_packet = lambda sid, packet: self._keep(packet.data)
        environ = EnvironBuilder(path="/socket.io/", query_string="EIO=4&transport=websocket",
                                 environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()
        if app is not None:
            environ["flask.app"] = app  # as Flask-SocketIO's middleware sets it
        self.server._handle_eio_connect(eio_sid, environ)
        self.on_message = self.server.eio.handlers["message"]  # the router's packet guard, if any
        self.on_message(eio_sid, f"0{NAMESPACE},")
        if not any(str(packet).startswith(f"0{NAMESPACE},{{") for packet in self.sent):
            raise SystemExit(f"the namespace connect was refused: {self.sent}")

    def _keep(self, data) -> None:
        if self.on_sent is not None:
            self.on_sent()
        self.sent.append(data)

    def send(self, event: str, data, ack_id: int) -> None:
        self.on_message(self.eio_sid, f"2{NAMESPACE},{ack_id}" + json.dumps([event, data]))
        self.sleep(0)  # handlers run in their own greenlet or thread (async_handlers)

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count and time.monotonic() < deadline:
            self.sleep(0.001)


PAYLOAD = {"room": "r", "text": "hello", "n": 1}


def connected(target: str, mode: str, config: str = str(CONFIG)) -> Client:
    """A client of ``target``, in the room the fan-out goes to."""
    client = Client(*build(target, mode, config))
    client.send("join", {"room": "r"}, 1)
    client.wait_for(1)
    client.sent.clear()
    return client


def measure(target: str, mode: str, event: str, messages: int, rounds: int,
            instrument=None, config: str = str(CONFIG)) -> list[float]:
    """Microseconds of process CPU per message, one figure per round. ``instrument(on)``, if
    given, is called around each measured phase (--instructions)."""
    client = connected(target, mode, config)
    payload = PAYLOAD
    per_message = []
    warmup = min(messages // 10, 1000)  # messages that warm up caches and lazily built state
    for _ in range(rounds):
        for index in range(warmup):
            client.send(event, payload, index)
        client.wait_for(warmup * 2)
        client.sent.clear()
        if instrument:
            instrument(True)
        started = time.process_time()
        for index in range(messages):
            client.send(event, payload, index)
        expected = messages * 2  # the reply (or the room's copy) and the ack
        client.wait_for(expected)
        per_message.append((time.process_time() - started) / messages * 1e6)
        if instrument:
            instrument(False)
        if len(client.sent) != expected:
            raise SystemExit(f"{target}: {len(client.sent)} packets sent for {messages} "
                             f"{event} messages, expected {expected}: {client.sent[-3:]}")
        client.sent.clear()
    return per_message


def allocations(target: str, mode: str, event: str, samples: int, config: str = str(CONFIG)) -> dict:
    """Blocks (and bytes) a message has allocated and still holds at its first packet: the
    router's own by source line, and the total, averaged over ``samples`` messages."""
    import tracemalloc

    client = connected(target, mode, config)
    for index in range(200):  # warm up: caches and lazily built state are not per message
        client.send(event, PAYLOAD, index)
    client.wait_for(400)
    ours = str(ROOT / "router") + os.sep
    by_line: dict[str, list[int]] = {}
    total = [0, 0]
    tracemalloc.start(1)
    for index in range(samples):
        client.sent.clear()
        taken: list = []
        before = tracemalloc.take_snapshot()
        client.on_sent = lambda: taken or taken.append(tracemalloc.take_snapshot())
        client.send(event, PAYLOAD, index)
        client.wait_for(2)
        client.on_sent = None
        for stat in taken[0].compare_to(before, "lineno"):
            if stat.count_diff <= 0:
                continue
            frame = stat.traceback[0]
            if frame.filename == tracemalloc.__file__:
                continue  # the snapshot's own bookkeeping
            total[0] += stat.count_diff
            total[1] += stat.size_diff
            if frame.filename.startswith(ours):
                line = f"{os.path.relpath(frame.filename, ROOT)}:{frame.lineno}"
                counted = by_line.setdefault(line, [0, 0])
                counted[0] += stat.count_diff
                counted[1] += stat.size_diff
    tracemalloc.stop()
    return {"total": [value / samples for value in total],
            "ours": {line: [value / samples for value in counted] for line, counted in by_line.items()}}


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    from router.cli.main import monkey_patch  # router.cli imports nothing that opens sockets

    monkey_patch(args.mode)  # every target, as their servers are
    import logging

    logging.disable(logging.WARNING)  # the router logs each connect at INFO; keep the table clean
    if args.allocations:
        print(json.dumps(allocations(args.child, args.mode, args.event, args.allocations, args.config)))
        return
    if args.profile:
        # bench/profile.py would shadow the standard library's profile, which cProfile imports.
        sys.path[:] = [path for path in sys.path if Path(path or ".").resolve() != BENCH]
        import cProfile
        import pstats

        sys.path.insert(0, str(BENCH))

        profiler = cProfile.Profile()
        profiler.enable()
        measure(args.child, args.mode, args.event, args.messages, 1, config=args.config)
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
        print(f"{args.child}, {args.mode}, {args.event}: {args.messages:,} messages under cProfile")
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        return
    instrument = None
    if args.instructions:
        def instrument(on: bool) -> None:  # callgrind counts only the measured phase
            subprocess.run(["callgrind_control", "--instr=" + ("on" if on else "off"),
                            str(os.getpid())], check=True, capture_output=True)
    figures = measure(args.child, args.mode, args.event, args.messages, 1, instrument, args.config)
    print(json.dumps(figures))


def run_child(target: str, args, *extra: str, wrapper: tuple = ()) -> str:
    done = subprocess.run(
        [*wrapper, sys.executable, __file__, "--child", target, "--mode", args.mode,
         "--event", args.event, "--messages", str(args.messages),
         "--config", os.path.abspath(args.config), *extra],
        capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise SystemExit(f"{target} failed:\n{done.stderr}{done.stdout}")
    return done.stdout


def instructions(target: str, args) -> float:
    """Instructions per message of ``target``, counted by valgrind's callgrind over one
    measured phase: unlike CPU time, the count does not change with what else the cores run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        run_child(target, args, "--instructions", wrapper=(
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"))
        totals = [line for line in out.read_text().splitlines() if line.startswith(("summary:", "totals:"))]
        return int(totals[-1].split()[1]) / args.messages


def show_instructions(args) -> None:
    counts = {target: instructions(target, args) for target in args.targets}
    print(f"{args.mode}, {args.event}: instructions per message (callgrind), one round of "
          f"{args.messages:,}")
    for target in args.targets:
        print(f"  {target:7} {counts[target]:9,.0f}")
    for reference in ("tuned", "bare"):
        if "router" in counts and reference in counts:
            print(f"  ratio router / {reference}: {counts['router'] / counts[reference]:.2f}x "
                  f"({counts['router'] - counts[reference]:+,.0f} instructions per message)")


def show_allocations(args) -> None:
    print(f"{args.mode}, {args.event}: memory blocks a message holds at its first packet, "
          f"mean of {args.allocations}")
    for target in TARGETS:
        counted = json.loads(run_child(target, args, "--allocations", str(args.allocations))
                             .strip().splitlines()[-1])
        ours = counted["ours"]
        print(f"  {target:7} {counted['total'][0]:6.1f} blocks {counted['total'][1]:8.0f} bytes; "
              f"the router's own: {sum(v[0] for v in ours.values()):.1f} blocks "
              f"{sum(v[1] for v in ours.values()):.0f} bytes")
        for line, (count, size) in sorted(ours.items(), key=lambda item: -item[1][0])[:12]:
            print(f"      {count:5.1f} blocks {size:7.0f} bytes  {line}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=("eventlet", "gevent", "threading"), default="gevent")
    parser.add_argument("--event", choices=("echo", "fanout"), default="echo")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=TARGETS, metavar="TARGET",
                        help="run one round of TARGET (router, tuned, bare) under cProfile and "
                             "print where its time goes")
    parser.add_argument("--allocations", type=int, nargs="?", const=100, metavar="N",
                        help="count the memory blocks each message allocates, mean of N "
                             "messages (default 100)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per message with valgrind's callgrind instead "
                             "of CPU time: steady on a loaded machine, ~30x slower")
    parser.add_argument("--targets", type=lambda text: tuple(text.split(",")), default=TARGETS,
                        help="with --instructions: the targets to count (default: %(default)s)")
    parser.add_argument("--config", default=str(CONFIG),
                        help="the config the router serves (default: bench/configs/bench.yaml)")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    if args.profile:
        print(run_child(args.profile, args, "--profile", args.profile), end="")
        return 0
    if args.allocations:
        show_allocations(args)
        return 0
    if args.instructions:
        show_instructions(args)
        return 0
    results: dict[str, list[float]] = {target: [] for target in TARGETS}
    for _ in range(args.rounds):
        for target in TARGETS:  # alternate, so a noisy moment hits every target
            results[target] += json.loads(run_child(target, args).strip().splitlines()[-1])
    best = {target: min(figures) for target, figures in results.items()}
    print(f"{args.mode}, {args.event}: server CPU per message, best of {args.rounds} rounds "
          f"of {args.messages:,}, the router serving {os.path.relpath(args.config)}")
    for target in TARGETS:
        rounds = " ".join(f"{value:.1f}" for value in results[target])
        print(f"  {target:7} {best[target]:6.1f} us   (rounds: {rounds})")
    for reference in ("tuned", "bare"):
        print(f"  ratio router / {reference}: {best['router'] / best[reference]:.2f}x "
              f"({best['router'] - best[reference]:+.1f} us per message)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
