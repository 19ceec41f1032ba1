"""Profile a server under one load with py-spy: where its time goes, by function.

    python bench/profile.py                                  # the router, eventlet, fan-out to 100
    python bench/profile.py --target tuned --scenario echo --clients 10 --mode gevent

It starts the server as bench/run.py does, samples it with ``py-spy record`` while
the load generator runs, and prints the functions with the most samples (own time,
then including callees). ``--raw FILE`` keeps py-spy's collapsed stacks for a
flame graph. Needs py-spy (``pip install -e '.[bench]'``) and permission to trace.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from processes import BenchError, run_load  # noqa: E402
from run import MODES, ensure_node_modules, make_server  # noqa: E402


def summarize(raw: str, top: int) -> str:
    """Own and inclusive sample shares per function from py-spy's collapsed stacks."""
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        count = int(count)
        total += count
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "including callees:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--target", choices=("router", "tuned", "documented", "bare"), default="router")
    parser.add_argument("--mode", choices=MODES, default="eventlet")
    parser.add_argument("--scenario", choices=("echo", "fanout"), default="fanout")
    parser.add_argument("--clients", type=int, default=1, help="echo clients")
    parser.add_argument("--receivers", type=int, default=100, help="fan-out receivers")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--raw", metavar="FILE", help="keep py-spy's collapsed stacks here")
    args = parser.parse_args(argv)
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    ensure_node_modules()
    raw = Path(args.raw) if args.raw else Path(tempfile.mkstemp(suffix=".txt")[1])
    spec = {"scenario": args.scenario, "seconds": args.seconds, "warmup": 0.5, "limit": 120}
    if args.scenario == "echo":
        spec["clients"] = args.clients
    else:
        spec.update(receivers=args.receivers, window=max(2, 500 // args.receivers))
    with make_server(args.target, args.mode) as server:
        spec["urls"] = [server.url]
        # Sample a little longer than the measured phase; connecting is outside it anyway.
        spy = subprocess.Popen(["py-spy", "record", "-p", str(server.pid), "-r", str(args.rate),
                                "-d", str(int(args.seconds + 2)), "-f", "raw", "-o", str(raw)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            result = run_load(spec)
        except BenchError as exc:
            spy.kill()
            raise SystemExit(str(exc))
        _, error = spy.communicate(timeout=args.seconds + 30)
    if spy.returncode != 0:
        raise SystemExit(f"py-spy failed: {error.strip()}")
    print(f"{args.target}, {args.mode}, {args.scenario}: {result['rate']:,.0f}/s, "
          f"p50 {result['latency_ms']['p50']:.2f} ms, p99 {result['latency_ms']['p99']:.2f} ms")
    print(summarize(raw.read_text(), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
