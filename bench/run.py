"""The benchmark: the router against the same job hand-written with Flask-SocketIO, in one run.

    python bench/run.py            # the full table (about 10 minutes on 2 cores)
    python bench/run.py --quick    # small counts, a smoke test (CI runs it)

For each async mode it starts, on free ports, the router serving bench/configs/bench.yaml and
bench/handwritten.py doing the same job ("tuned"; in eventlet also "documented", exactly as
Flask-SocketIO's documentation runs it), drives them with Node load generators using the
official socket.io-client over WebSocket (bench/load.mjs), and prints one table with the
ratio router / hand-written. Every load generator is bounded in count and time.

Two references run beside them: bare python-socketio (bench/bare_socketio.py, the Python
stack's ceiling, in the same async mode) and Node socket.io 4 (bench/node_server.mjs, what a
user would pick instead), for echo, fan-out and the transport figures. "intake" is the MB/s one python-socketio client gets into a server, by message size
(bench/intake.py; the router's byte budget set out of reach); "flood" is another client's echo
round trip while one client sends the largest frames flat out (the router's default config).
``--json FILE`` also writes every figure. The exit status is 1 if a measurement failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import backend  # noqa: E402
from processes import BENCH, INTAKE_LOAD, ROOT, BenchError, LoadProcess, Server, run_load  # noqa: E402
from table import FIGURES, render  # noqa: E402

CONFIG = BENCH / "configs" / "bench.yaml"
RECOVERY_CONFIG = BENCH / "configs" / "bench-recovery.yaml"  # the same job, connection state recovery on
REDIS = ("127.0.0.1", 6379)
MODES = ("eventlet", "gevent", "threading")
PARTS = ("check", "echo", "fanout", "connections", "redis", "backend", "intake", "flood", "stall",
         "recovery")
# The intake figures measure the transport, not the budget: the router's is set out of reach.
UNBOUNDED_BYTES_PER_SECOND = 10**12


@dataclass
class Plan:
    """How much load each figure gets. ``--quick`` shrinks every count."""

    modes: tuple = MODES
    parts: tuple = PARTS
    echo_clients: tuple = (1, 10, 100)
    fanout_receivers: tuple = (100, 1000)
    redis_receivers: tuple = (100, 1000)
    connections: int = 10_000
    connection_processes: int = 4
    seconds: float = 3.0          # the measured phase of each echo / fan-out run
    warmup: float = 0.5
    repeat: int = 3               # best of N, servers taking turns, to see past a noisy neighbour
    check_events: int = 200
    backend_clients: tuple = (10, 100)  # bench/backend.py: echo through an http step
    # Threading runs a thread per connection: 10,000 of them measure the OS, not the router.
    connection_modes: tuple = ("eventlet", "gevent")
    intake_sizes: tuple = (1_000, 10_000, 40_000, 100_000)  # bytes per message
    intake_bytes: int = 16_000_000  # sent per intake run
    flood_size: int = 1_000_000     # the default max_http_buffer_size: the largest frame allowed
    flood_seconds: float = 3.0      # the other client's echoes measured while the flood goes on
    stall_receivers: int = 20       # room members that read, beside the one that stops
    stall_padding: int = 40_000     # bytes of each message into the room
    stall_seconds: float = 3.0
    transport_modes: tuple = MODES  # the modes of the intake, flood and stall figures


QUICK = dict(echo_clients=(1, 10), fanout_receivers=(20,), redis_receivers=(20,), connections=200,
             connection_processes=2, seconds=0.5, warmup=0.2, repeat=1, backend_clients=(10,),
             intake_sizes=(40_000,), intake_bytes=2_000_000, flood_seconds=1.0,
             stall_receivers=10, stall_seconds=2.0,  # enough to fill a stalled member's cap
             # A stock eventlet server stays behind a flood for many seconds: one mode smokes it.
             transport_modes=("gevent",))


@dataclass
class Results:
    """figure -> mode -> target ("router", "tuned", "documented") -> value, plus what failed."""

    plan: dict
    machine: dict
    figures: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)

    def put(self, figure: str, mode: str, target: str, value) -> None:
        self.figures.setdefault(figure, {}).setdefault(mode, {})[target] = value

    def best(self, figure: str, mode: str, target: str, value) -> None:
        """Keep the best of the repeats: the highest rate, the lowest latency."""
        current = self.figures.get(figure, {}).get(mode, {}).get(target)
        higher = FIGURES[figure].higher_is_better
        if current is None or (value > current if higher else value < current):
            self.put(figure, mode, target, value)

    def fail(self, what: str, mode: str, target: str, error: Exception) -> None:
        self.errors.append(f"{what} [{mode}, {target}]: {error}")
        print(f"  ! {what} [{mode}, {target}]: {error}", file=sys.stderr, flush=True)


# -- scenarios ------------------------------------------------------------------------------


def echo(results: Results, plan: Plan, mode: str, servers: dict) -> None:
    for clients in plan.echo_clients:
        for turn in range(plan.repeat):
            for target, server in _rotate(servers, turn):
                cpu = server.cpu_seconds()
                try:
                    out = run_load({"scenario": "echo", "urls": [server.url], "clients": clients,
                                    "seconds": plan.seconds, "warmup": plan.warmup,
                                    "maxCount": 200_000, "limit": 60})
                except BenchError as exc:
                    results.fail(f"echo, {clients} clients", mode, target, exc)
                    continue
                results.best(f"acks/s, {clients} clients", mode, target, out["rate"])
                if clients == max(plan.echo_clients):
                    # What a message costs the server, whoever else shares the cores: the
                    # figure that shows the router's own overhead through the noise.
                    used = server.cpu_seconds() - cpu
                    results.best(f"CPU us per echo, {clients} clients", mode, target,
                                 used / out["total"] * 1e6)
                if clients == 1:
                    results.best("echo p50 ms", mode, target, out["latency_ms"]["p50"])
                    results.best("echo p99 ms", mode, target, out["latency_ms"]["p99"])


def fanout(results: Results, plan: Plan, mode: str, servers: dict, receivers_list: tuple,
           prefix: str = "fan-out") -> None:
    for receivers in receivers_list:
        for turn in range(plan.repeat):
            for target, server in _rotate(servers, turn):
                # Redis: a list of URLs (two processes); else one server, whose CPU is measured.
                urls = server if isinstance(server, list) else [server.url]
                spec = {"scenario": "fanout", "urls": urls, "receivers": receivers,
                        # Enough messages in flight to keep the server busy, few
                        # enough that latency measures delivery, not a queue.
                        "window": max(2, 500 // receivers),
                        "seconds": plan.seconds, "maxCount": 100_000, "limit": 90}
                try:
                    out, cpu = (run_load(spec), None) if isinstance(server, list) else _fanout_with_cpu(spec, server)
                except BenchError as exc:
                    results.fail(f"{prefix}, {receivers} receivers", mode, target, exc)
                    continue
                if out["deliveries"] != out["expected"]:
                    results.fail(f"{prefix}, {receivers} receivers", mode, target,
                                 BenchError(f"{out['expected'] - out['deliveries']} of "
                                            f"{out['expected']} deliveries lost"))
                results.best(f"{prefix}/s, {receivers}", mode, target, out["rate"])
                results.best(f"{prefix} p99 ms, {receivers}", mode, target, out["latency_ms"]["p99"])
                if cpu is not None and out["deliveries"]:
                    results.best(f"CPU us per delivery, {receivers} receivers", mode, target,
                                 cpu / out["deliveries"] * 1e6)


def _fanout_with_cpu(spec: dict, server) -> tuple[dict, float]:
    """One fan-out run and the server's CPU seconds while the messages went out: counted from
    when every receiver is in the room, so 1,000 handshakes do not weigh on each delivery."""
    load = LoadProcess({**spec, "waitForGo": True})
    try:
        load.wait_for(lambda m: m.get("type") == "ready", spec["limit"])
        cpu = server.cpu_seconds()
        load.send("go")
        out = load.wait_for(lambda m: "ok" in m, spec["limit"] + 15)
        return out, server.cpu_seconds() - cpu
    finally:
        load.stop()


def intake(results: Results, plan: Plan, mode: str, servers: dict) -> None:
    """MB/s one python-socketio client gets into each server, by message size."""
    for size in plan.intake_sizes:
        # Small messages measure the cost per message: a few thousand of them are enough.
        count = min(4_000, max(20, plan.intake_bytes // size))
        for turn in range(plan.repeat):
            for target, server in _rotate(servers, turn):
                try:
                    out = run_load({"scenario": "intake", "url": server.url, "size": size,
                                    "count": count, "limit": 240}, INTAKE_LOAD)
                except BenchError as exc:
                    results.fail(f"intake, {size // 1000} KB", mode, target, exc)
                    continue
                results.best(f"intake MB/s, {size // 1000} KB", mode, target, out["mb_per_s"])


def flood(results: Results, plan: Plan, mode: str, servers: dict) -> None:
    """Another client's echo round trips while one client sends the largest frames flat out.

    The echo client connects first and every round trip counts, the first ones included: a
    server that serves nobody else during a flood shows it in the first round trip.
    """
    for target, server in servers.items():
        echoes = LoadProcess({"scenario": "echo", "urls": [server.url], "clients": 1,
                              "seconds": plan.flood_seconds, "warmup": 0, "maxCount": 100_000,
                              "waitForGo": True, "limit": 120})
        flooder = None
        try:
            echoes.wait_for(lambda m: m.get("type") == "ready", 30)
            flooder = LoadProcess({"scenario": "flood", "url": server.url, "size": plan.flood_size,
                                   "seconds": plan.flood_seconds + 0.5, "limit": 120}, INTAKE_LOAD)
            flooder.wait_for(lambda m: m.get("type") == "flooding", 30)
            echoes.send("go")
            out = echoes.wait_for(lambda m: "ok" in m, plan.flood_seconds + 110)
            flooded = flooder.wait_for(lambda m: "ok" in m, plan.flood_seconds + 110)
        except BenchError as exc:
            results.fail("echo under flood", mode, target, exc)
            continue
        finally:
            for process in (echoes, flooder):
                if process is not None:
                    process.stop()
        results.put("echo p50 ms under flood", mode, target, out["latency_ms"]["p50"])
        results.put("echo p99 ms under flood", mode, target, out["latency_ms"]["p99"])
        results.put("flood MB/s taken", mode, target, flooded["mb_per_s"])


def stall(results: Results, plan: Plan, mode: str, servers: dict) -> None:
    """A room of 40 KB messages, as it is and beside a member that stops reading (in turns, best
    of ``repeat`` each): the others' deliveries per second, the server's RSS growth (the most of
    any turn), and whether it cut the member off (in every turn)."""
    for target, server in servers.items():
        spec = {"scenario": "fanout", "urls": [server.url], "receivers": plan.stall_receivers,
                "window": max(2, 500 // plan.stall_receivers), "padding": plan.stall_padding,
                "seconds": plan.stall_seconds, "maxCount": 100_000, "limit": 90}
        alone, beside, grown, cut_off = [], [], [], []
        try:
            run_load({**spec, "seconds": plan.warmup})  # the first large messages warm caches up
            for _ in range(plan.repeat):
                alone.append(run_load(spec)["rate"])
                staller = LoadProcess({"scenario": "stall", "url": server.url, "limit": 120}, INTAKE_LOAD)
                try:
                    staller.wait_for(lambda m: m.get("type") == "stalled", 30)
                    before = server.rss_kb()
                    beside.append(run_load(spec)["rate"])
                    grown.append((server.rss_kb() - before) / 1024)
                    staller.send("stop")
                    cut_off.append(staller.wait_for(lambda m: "ok" in m, 60)["disconnected"])
                finally:
                    staller.stop()
        except BenchError as exc:
            results.fail("fan-out beside a stalled reader", mode, target, exc)
            continue
        results.put("stall fan-out/s alone", mode, target, max(alone))
        results.put("stall fan-out/s beside", mode, target, max(beside))
        results.put("stall fan-out kept", mode, target, max(beside) / max(alone))
        results.put("stall RSS growth MB", mode, target, max(grown))
        results.put("stall reader cut off", mode, target, 1.0 if all(cut_off) else 0.0)


def recovery(results: Results, plan: Plan, mode: str) -> None:
    """The router's fan-out with connection state recovery on against off, taking turns in one run:
    its log in memory, and in Redis (one process on a Redis message queue, on and off alike)."""
    where = {"": ("", "")}
    if redis_available():
        channel = f"bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        where[", Redis"] = (f"redis://{REDIS[0]}:{REDIS[1]}", channel)
    else:
        results.errors.append(f"recovery fan-out over Redis [{mode}]: skipped, nothing listens on "
                              f"{REDIS[0]}:{REDIS[1]}")
    for suffix, (queue, channel) in where.items():
        factories = {"off": partial(Server.router, CONFIG, mode, queue, f"{channel}-off"),
                     "on": partial(Server.router, RECOVERY_CONFIG, mode, queue, f"{channel}-on")}
        with started(factories) as servers:
            if len(servers) < 2:
                continue
            for receivers in plan.fanout_receivers:
                rates = {"off": 0.0, "on": 0.0}
                for turn in range(plan.repeat):
                    for label, server in _rotate(servers, turn):
                        try:
                            out = run_load({"scenario": "fanout", "urls": [server.url], "receivers": receivers,
                                            "window": max(2, 500 // receivers), "seconds": plan.seconds,
                                            "maxCount": 100_000, "limit": 90})
                        except BenchError as exc:
                            results.fail(f"recovery fan-out{suffix}, {receivers} receivers", mode, label, exc)
                            continue
                        if out["deliveries"] == out["expected"]:
                            rates[label] = max(rates[label], out["rate"])
                for label, rate in rates.items():
                    results.put(f"recovery fan-out/s {label}{suffix}, {receivers}", mode, "router", rate)
                if rates["off"] and rates["on"]:
                    results.put(f"recovery fan-out kept{suffix}, {receivers}", mode, "router",
                                rates["on"] / rates["off"])


def connections(results: Results, plan: Plan, mode: str, target: str, server: Server) -> None:
    """Open ``plan.connections`` WebSocket clients; time it and weigh them in the server's RSS."""
    # Warm up first: the first connections import the WebSocket driver and fill caches.
    run_load({"scenario": "echo", "urls": [server.url], "clients": 10, "seconds": 0.2,
              "warmup": 0.1, "limit": 30})
    before = server.rss_kb()
    share = plan.connections // plan.connection_processes
    loads = [LoadProcess({"scenario": "connections", "urls": [server.url], "count": share,
                          "concurrency": 100, "connectTimeout": 60, "limit": 240})
             for _ in range(plan.connection_processes)]
    try:
        for load in loads:
            load.wait_for(lambda m: m.get("type") == "ready", 30)
        start = time.monotonic()
        for load in loads:
            load.send("go")
        reports = [load.wait_for(lambda m: m.get("type") == "connected", 180) for load in loads]
        elapsed = time.monotonic() - start
        after = server.rss_kb()
        connected = sum(report["connected"] for report in reports)
        for load in loads:
            load.send("release")
        finals = [load.wait_for(lambda m: "ok" in m, 60) for load in loads]
    finally:
        for load in loads:
            load.stop()
    alive = sum(final.get("alive", 0) for final in finals)
    if connected < plan.connections or alive < connected:
        errors = {r["firstError"] for r in reports if r.get("firstError")}
        raise BenchError(f"{connected} of {plan.connections} connected, {alive} still up at the "
                         f"end {sorted(errors)}")
    results.put(f"connect {plan.connections:,} s", mode, target, elapsed)
    results.put("RSS KB per connection", mode, target, (after - before) / connected)


def check_time(results: Results, plan: Plan) -> None:
    """Wall time of ``python router.py check`` on a generated config with many events."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "many-events.yaml"
        path.write_text(many_events_config(plan.check_events))
        for _ in range(3):
            start = time.monotonic()
            done = subprocess.run([sys.executable, str(ROOT / "router.py"), "check", "--config",
                                   str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
            elapsed = time.monotonic() - start
            if done.returncode != 0:
                raise BenchError(f"check failed: {done.stderr.strip()}")
            results.best(f"check, {plan.check_events} events s", "-", "router", elapsed)


def many_events_config(count: int) -> str:
    """A config with ``count`` events in the shapes of configs/chat.yaml, every template distinct."""
    lines = ["namespaces:", "  /app:", "    auth:", "      - token: {values: [secret]}",
             "    on_connect:", '      - emit: {event: welcome, data: {sid: "{{ sid }}"}}', "    events:"]
    for index in range(count):
        kind = index % 4
        if kind == 0:
            lines += [f"      join{index}:",
                      f'        - room.join: {{room: "{{{{ data.room }}}}-{index}"}}',
                      f'        - room.relay: {{room: "{{{{ data.room }}}}-{index}", event: status, '
                      f'data: "{{{{ data.user }}}} has entered room {index}."}}',
                      "        - ack: {data: true}"]
        elif kind == 1:
            lines += [f"      say{index}:",
                      f'        - room.relay: {{room: "{{{{ data.room }}}}", event: message{index}, '
                      f'data: {{user: "{{{{ data.user }}}}", text: "{{{{ data.text | trim }}}} #{index}"}}}}']
        elif kind == 2:
            lines += [f"      echo{index}: [echo, ack]"]
        else:
            lines += [f"      count{index}:",
                      f'        - emit: {{event: counted, data: {{n: "{{{{ data.n + {index} }}}}"}}}}',
                      "        - broadcast: {event: shout, include_self: false}"]
    return "\n".join(lines) + "\n"


# -- the run --------------------------------------------------------------------------------


def run(plan: Plan) -> Results:
    results = Results(plan=asdict(plan), machine=machine())
    print(f"bench: {results.machine['summary']}", file=sys.stderr, flush=True)
    if "check" in plan.parts:
        try:
            check_time(results, plan)
        except BenchError as exc:
            results.fail("check", "-", "router", exc)
    for mode in plan.modes:
        if "echo" in plan.parts or "fanout" in plan.parts:
            print(f"bench: {mode}: echo and fan-out", file=sys.stderr, flush=True)
            with started(targets(mode, references=True)) as servers:
                if servers and "echo" in plan.parts:
                    echo(results, plan, mode, servers)
                if servers and "fanout" in plan.parts:
                    fanout(results, plan, mode, servers, plan.fanout_receivers)
        if mode in plan.transport_modes and {"intake", "flood", "stall"} & set(plan.parts):
            transport(results, plan, mode)
        if mode in plan.connection_modes and "connections" in plan.parts:
            for target, make in targets(mode, documented=False).items():
                print(f"bench: {mode}: {plan.connections:,} connections to {target}",
                      file=sys.stderr, flush=True)
                try:
                    with make() as server:
                        connections(results, plan, mode, target, server)
                except BenchError as exc:
                    results.fail(f"{plan.connections:,} connections", mode, target, exc)
        if "recovery" in plan.parts and mode in plan.connection_modes:
            print(f"bench: {mode}: fan-out with connection state recovery on and off", file=sys.stderr,
                  flush=True)
            recovery(results, plan, mode)
        if "backend" in plan.parts:
            print(f"bench: {mode}: echo through a backend", file=sys.stderr, flush=True)
            backend.measure(results, plan, mode)
        if "redis" in plan.parts:
            if not redis_available():
                results.errors.append(f"fan-out over Redis [{mode}]: skipped, nothing listens on "
                                      f"{REDIS[0]}:{REDIS[1]}")
                continue
            print(f"bench: {mode}: fan-out over Redis, two processes each", file=sys.stderr, flush=True)
            channel = f"bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            queue = f"redis://{REDIS[0]}:{REDIS[1]}"
            # Two processes per target on one channel of their own; receivers alternate between them.
            pairs = {f"{target}#{index}": partial(make_server, target, mode, queue, f"{channel}-{target}")
                     for target in ("router", "tuned") for index in range(2)}
            with started(pairs) as servers:
                if len(servers) == len(pairs):
                    grouped = {target: [servers[f"{target}#{index}"].url for index in range(2)]
                               for target in ("router", "tuned")}
                    fanout(results, plan, mode, grouped, plan.redis_receivers, prefix="Redis fan-out")
    return results


def targets(mode: str, documented: bool = True, references: bool = False) -> dict:
    """The servers compared in ``mode``, by label, as factories; with ``references``, bare
    python-socketio and Node socket.io too (echo and fan-out)."""
    labels = ["router", "tuned"] + (["documented"] if documented and mode == "eventlet" else [])
    labels += ["bare", "node"] if references else []
    return {label: partial(make_server, label, mode) for label in labels}


def transport(results: Results, plan: Plan, mode: str) -> None:
    """The intake, flood and stall figures of ``mode``, the references started once for all."""
    factories = {"router": partial(Server.router, CONFIG, mode),  # the default budget
                 "router, budget out of reach": partial(Server.router, CONFIG, mode,
                                                        client_bytes_per_second=UNBOUNDED_BYTES_PER_SECOND),
                 "tuned": partial(Server.handwritten, mode, "tuned"),
                 "bare": partial(Server.bare, mode), "node": Server.node}
    with started(factories) as servers:
        references = {label: servers[label] for label in ("tuned", "bare", "node") if label in servers}
        if "intake" in plan.parts:
            print(f"bench: {mode}: intake, {', '.join(f'{size // 1000} KB' for size in plan.intake_sizes)}",
                  file=sys.stderr, flush=True)
            unbounded = servers.get("router, budget out of reach")
            intake(results, plan, mode, {**references, **({"router": unbounded} if unbounded else {})})
        if "flood" in plan.parts:
            print(f"bench: {mode}: echo while a client floods {plan.flood_size:,}-byte frames",
                  file=sys.stderr, flush=True)
            flood(results, plan, mode, {**references, **({"router": servers["router"]}
                                                         if "router" in servers else {})})
        if "stall" in plan.parts:
            print(f"bench: {mode}: fan-out of {plan.stall_padding // 1000} KB messages beside a reader "
                  f"that stops", file=sys.stderr, flush=True)
            # The outgoing caps are the default ones; the sender's budget is not the subject.
            unbounded = servers.get("router, budget out of reach")
            stall(results, plan, mode, {**references, **({"router": unbounded} if unbounded else {})})


def make_server(target: str, mode: str, queue: str = "", channel: str = "bench") -> Server:
    if target == "router":
        return Server.router(CONFIG, mode, queue, channel)
    if target == "bare":
        return Server.bare(mode)
    if target == "node":
        return Server.node()
    return Server.handwritten(mode, target, queue, channel)


class started:
    """Start every server of ``factories`` (skipping, with an error, those that fail); stop them all."""

    def __init__(self, factories: dict):
        self.factories = factories
        self.servers: dict[str, Server] = {}

    def __enter__(self) -> dict:
        for label, make in self.factories.items():
            server = make()
            try:
                self.servers[label] = server.start()
            except BenchError as exc:
                print(f"  ! {label} did not start: {exc}", file=sys.stderr, flush=True)
        return self.servers

    def __exit__(self, *exc) -> None:
        for server in self.servers.values():
            server.stop()


def _rotate(items: dict, turn: int) -> list:
    """The items in a different order each turn, so no server always goes first."""
    pairs = list(items.items())
    shift = turn % len(pairs) if pairs else 0
    return pairs[shift:] + pairs[:shift]


def redis_available() -> bool:
    try:
        socket.create_connection(REDIS, timeout=1).close()
        return True
    except OSError:
        return False


def machine() -> dict:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    info = {"date": time.strftime("%Y-%m-%d"), "cpu": model, "cores": os.cpu_count(),
            "python": platform.python_version(), "node": node, "loadavg": load}
    info["summary"] = (f"{info['date']}, {model} x{info['cores']}, Python {info['python']}, "
                       f"node {node}, load average {load:.2f} at start")
    return info


def ensure_node_modules() -> None:
    """``npm ci`` in bench/ once: the load generators need socket.io-client, the reference socket.io."""
    if all((BENCH / "node_modules" / name).is_dir() for name in ("socket.io-client", "socket.io")):
        return
    print("bench: installing the load generators' packages (npm ci)", file=sys.stderr, flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BENCH,
                   check=True)


def raise_file_limit(needed: int) -> None:
    """Each connection is a descriptor in the server and one in a client: lift the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted != resource.RLIM_INFINITY and wanted < needed:
        print(f"bench: warning: the open-file limit is {wanted}, below the {needed} this run needs",
              file=sys.stderr)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke test")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="comma-separated async modes (default: %(default)s)")
    parser.add_argument("--repeat", type=int, help="best of N for echo and fan-out")
    parser.add_argument("--seconds", type=float, help="measured phase of each run")
    parser.add_argument("--connections", type=int, help="concurrent connections to open")
    parser.add_argument("--only", metavar="PARTS",
                        help="comma-separated parts to run: " + ", ".join(PARTS) + " (default: all)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    plan = Plan(**QUICK) if args.quick else Plan()
    plan.modes = tuple(m for m in args.modes.split(",") if m)
    unknown = set(plan.modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown mode(s) {sorted(unknown)}; choose from {', '.join(MODES)}")
    if args.repeat:
        plan.repeat = args.repeat
    if args.seconds:
        plan.seconds = args.seconds
    if args.connections:
        plan.connections = args.connections
    if args.only:
        plan.parts = tuple(part for part in args.only.split(",") if part)
        unknown = set(plan.parts) - set(PARTS)
        if unknown:
            raise SystemExit(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")
    raise_file_limit(plan.connections + 1000)  # the server holds one descriptor per connection
    ensure_node_modules()
    results = run(plan)
    print(render(results))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(results), indent=2))
    return 1 if any("skipped" not in error for error in results.errors) else 0


if __name__ == "__main__":
    sys.exit(main())
