"""Instructions per fan-out delivery over the network, counted by valgrind's callgrind.

    python bench/fanout_instructions.py --mode gevent --receivers 100 --messages 100
    python bench/fanout_instructions.py --annotate 25     # and where they go, by function

Each target (the router serving bench/configs/bench.yaml, bare python-socketio of
bench/bare_socketio.py) runs under callgrind with counting off; bench/load.mjs connects the
receivers to one room, then callgrind counts while the sender's messages go out to every
receiver through the whole server path (emit, Engine.IO's queue and writer, the WebSocket
frame, the socket write). The count divided by the deliveries is the server's cost per
recipient, steady whatever else the machine runs, where bench/run.py's rates are not.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from processes import BENCH, LoadProcess, Server  # noqa: E402

CONFIG = BENCH / "configs" / "bench.yaml"
TARGETS = ("router", "bare")
WARMUP_MESSAGES = 5  # bench/load.mjs's default: sent in the counted phase too


def server(target: str, mode: str) -> Server:
    return Server.router(CONFIG, mode) if target == "router" else Server.bare(mode)


def count(target: str, args, out: Path) -> tuple[float, Path]:
    """Instructions per delivery of ``target``, and the file callgrind dumped them in."""
    under_test = server(target, args.mode)
    under_test.args = ["--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                       under_test.program, *under_test.args]
    under_test.program = "valgrind"
    with under_test:
        load = LoadProcess({"scenario": "fanout", "urls": [under_test.url], "receivers": args.receivers,
                            "window": max(2, 500 // args.receivers), "seconds": 3600,
                            "maxCount": args.messages, "waitForGo": True, "drain": 60,
                            "limit": 3600})
        try:
            load.wait_for(lambda m: m.get("type") == "ready", 600)
            _callgrind(under_test.pid, "--instr=on")
            load.send("go")
            result = load.wait_for(lambda m: "ok" in m, 3600)
            _callgrind(under_test.pid, "--dump")  # before counting stops: a dump after it reads 0
        finally:
            load.stop()
    if result["deliveries"] != result["expected"]:
        raise SystemExit(f"{target}: {result['expected'] - result['deliveries']} deliveries lost")
    dump = out.with_name(out.name + ".1")  # the first dump: the counted phase (the exit writes ``out``)
    return _total(dump) / ((args.messages + WARMUP_MESSAGES) * args.receivers), dump


def _callgrind(pid: int, option: str) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def _total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {dump}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=("eventlet", "gevent"), default="gevent")
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--annotate", type=int, metavar="N", default=0,
                        help="also print each target's N costliest functions (self cost)")
    args = parser.parse_args(argv)
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for target in args.targets.split(","):
            counts[target], dump = count(target, args, Path(tmp) / f"{target}.out")
            if args.annotate:
                shown = subprocess.run(["callgrind_annotate", "--threshold=100", str(dump)],
                                       capture_output=True, text=True).stdout.splitlines()
                start = next((i for i, line in enumerate(shown) if "file:function" in line), 0)
                print(f"\n{target}:\n" + "\n".join(shown[start:start + args.annotate + 2]))
    print(f"\n{args.mode}, fan-out to {args.receivers} receivers, {args.messages} messages: "
          "instructions per delivery (callgrind)")
    for target, value in counts.items():
        print(f"  {target:8} {value:10,.0f}")
    if "router" in counts and "bare" in counts:
        print(f"  router / bare {counts['router'] / counts['bare']:.3f}x "
              f"({counts['router'] - counts['bare']:+,.0f} instructions per delivery)")


if __name__ == "__main__":
    main()
