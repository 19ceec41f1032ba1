"""The bench's backend scenario: each echo goes through a backend that answers at once.

    python bench/run.py --only backend          # this scenario alone, every mode

The router serves bench/configs/backend.yaml (an ``http`` step, then the answer as the reply
event and the ack); bench/handwritten_backend.py does the same with Flask-SocketIO and a
``requests.Session``. Both call one Node backend (bench/backend_server.mjs). The figure is
``backend calls/s, N clients``: round trips per second, each client waiting for its reply
and ack before the next call, as bench/load.mjs's echo scenario measures them; and the
server's CPU time per call, which a noisy neighbour disturbs less.
"""

from __future__ import annotations

import subprocess
import sys
import threading

from processes import BENCH, ROOT, BenchError, Server, run_load

CONFIG = BENCH / "configs" / "backend.yaml"
FIGURE = "backend calls/s, {clients} clients"
CPU_FIGURE = "CPU us per backend call, {clients} clients"


class NodeBackend:
    """``node backend_server.mjs`` on a free port; ``url`` once it listens."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> "NodeBackend":
        self.process = subprocess.Popen(["node", str(BENCH / "backend_server.mjs")], cwd=BENCH,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = [""]
        reader = threading.Thread(target=lambda: line.__setitem__(0, self.process.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(15)
        if not line[0].startswith("listening on "):
            self.__exit__()
            raise BenchError(f"the bench backend did not start (it printed {line[0]!r})")
        self.url = f"http://127.0.0.1:{int(line[0].split()[-1])}"
        return self

    def __exit__(self, *exc) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def servers(mode: str, backend_url: str) -> dict[str, Server]:
    """The router and the hand-written app, both calling ``backend_url``."""
    return {
        "router": Server("router", [str(ROOT / "router.py"), "--config", str(CONFIG), "--port", "0"],
                         env={"BENCH_ASYNC_MODE": mode, "BENCH_BACKEND_URL": backend_url}),
        "tuned": Server("tuned", [str(BENCH / "handwritten_backend.py"), "--mode", mode,
                                  "--backend", backend_url]),
    }


def measure(results, plan, mode: str) -> None:
    """Best of ``plan.repeat`` runs per client count, the servers taking turns to go first."""
    try:
        with NodeBackend() as backend:
            started = {}
            try:
                for target, server in servers(mode, backend.url).items():
                    try:
                        started[target] = server.start()
                    except BenchError as exc:
                        results.fail("backend scenario", mode, target, exc)
                for clients in plan.backend_clients:
                    for turn in range(plan.repeat):
                        order = list(started.items())
                        order = order[turn % len(order):] + order[:turn % len(order)] if order else []
                        for target, server in order:
                            cpu = server.cpu_seconds()
                            try:
                                out = run_load({"scenario": "echo", "urls": [server.url],
                                                "clients": clients, "seconds": plan.seconds,
                                                "warmup": plan.warmup, "maxCount": 200_000,
                                                "limit": 60})
                            except BenchError as exc:
                                results.fail(f"backend, {clients} clients", mode, target, exc)
                                continue
                            results.best(FIGURE.format(clients=clients), mode, target, out["rate"])
                            # What a call costs the server, whoever shares the cores.
                            results.best(CPU_FIGURE.format(clients=clients), mode, target,
                                         (server.cpu_seconds() - cpu) / out["total"] * 1e6)
            finally:
                for server in started.values():
                    server.stop()
    except BenchError as exc:
        results.fail("backend scenario", mode, "-", exc)


if __name__ == "__main__":
    sys.exit("run it through bench/run.py: python bench/run.py --only backend")
