"""`python bench/run.py --quick` runs end to end and prints a complete, sane table.

A smoke test of the benchmark: every server starts, every load generator finishes and
reports plausible figures. It asserts no timing: on a shared machine the numbers are
noise at these counts; the ratios that matter come from the full run (bench/README.md).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest

from tests.support.router_process import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from table import FIGURES  # noqa: E402


def redis_listening() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    done = subprocess.run([sys.executable, "bench/run.py", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    return done, json.loads(out.read_text()) if out.exists() else None


@pytest.mark.timeout(660)
def test_the_quick_bench_exits_cleanly_with_no_problem(quick_run):
    done, results = quick_run
    assert done.returncode == 0, done.stdout + done.stderr
    assert results is not None and results["errors"] == [], results and results["errors"]


@pytest.mark.timeout(660)
def test_the_table_has_every_figure_for_router_and_hand_written(quick_run):
    done, results = quick_run
    table = done.stdout
    assert "| mode | figure | router | hand-written, tuned | router / tuned |" in table
    expected = {("eventlet", "echo acks/s, 1 client"), ("eventlet", "echo round trip p50, 1 client (ms)"),
                ("eventlet", "fan-out deliveries/s, 20 receivers"),
                ("eventlet", "resident memory per connection (KB)"),
                ("gevent", "time to connect 200 WebSocket clients (s)"),
                ("threading", "echo acks/s, 10 clients"),
                ("gevent", "server CPU per echo, 10 clients (us)"),
                ("eventlet", "server CPU per fan-out delivery, 20 receivers (us)"),
                ("-", "`router.py check`, 200 events (s)")}
    expected |= {("gevent", "intake from 1 client, 40 KB messages (MB/s)"),  # --quick: gevent only
                 ("gevent", "echo p99 while another client floods 1 MB frames (ms)"),
                 ("gevent", "server RSS growth while a member stops reading (MB)"),
                 ("gevent", "the stalled member disconnected by the server"),
                 ("gevent", "fan-out with recovery / without, 20 receivers")}
    if redis_listening():
        expected |= {(mode, "Redis fan-out deliveries/s, 20 receivers")
                     for mode in ("eventlet", "gevent", "threading")}
        expected |= {(mode, "fan-out deliveries/s, 20 receivers, connection state recovery on (log in Redis)")
                     for mode in ("eventlet", "gevent")}
    rows = {tuple(cell.strip() for cell in line.split("|")[1:3]) for line in table.splitlines()
            if line.startswith("| ")}
    assert expected <= rows, sorted(expected - rows)
    # The documented socketio.run app runs beside the others in eventlet.
    documented = next(line for line in table.splitlines() if "| eventlet | echo acks/s, 1 client |" in line)
    assert documented.split("|")[6].strip() not in ("", "-")
    # Bare python-socketio and Node socket.io are measured beside the router for echo and fan-out.
    for mode in ("eventlet", "gevent", "threading"):
        for figure in ("echo acks/s, 10 clients", "fan-out deliveries/s, 20 receivers"):
            row = next(line for line in table.splitlines() if f"| {mode} | {figure} |" in line)
            cells = [cell.strip() for cell in row.split("|")]
            assert cells[8] not in ("", "-") and cells[10] not in ("", "-"), row
            assert cells[-2].startswith(">= 0.95x tuned, 0.9x bare: "), row
    # Bare python-socketio and Node socket.io are measured beside the router for the transport.
    intake = next(line for line in table.splitlines() if "| gevent | intake from 1 client, 40 KB" in line)
    cells = [cell.strip() for cell in intake.split("|")]
    assert cells[8] not in ("", "-") and cells[10] not in ("", "-"), intake


@pytest.mark.timeout(660)
def test_every_figure_is_plausible(quick_run):
    _, results = quick_run
    for name, by_mode in results["figures"].items():
        for mode, values in by_mode.items():
            # The recovery figures compare the router with itself (recovery on and off).
            targets = {"router"} if mode == "-" or name.startswith("recovery") else {"router", "tuned"}
            if "intake" in name or "flood" in name or name.startswith("stall"):
                targets |= {"bare", "node"}
            if re.fullmatch(r"acks/s, \d+ clients|echo p(50|99) ms|CPU us per echo, \d+ clients|"
                            r"fan-out(/s| p99 ms), \d+|CPU us per delivery, \d+ receivers",
                            name):  # echo and fan-out: the references too
                targets |= {"bare", "node"}
            assert targets <= set(values), (name, mode, values)
            for target, value in values.items():
                unit = FIGURES[name].unit
                if unit == "yes/no":
                    assert value in (0, 1), (name, mode, target, value)
                    continue
                if unit == "MB":  # RSS growth: a server may also give memory back meanwhile
                    assert -1_000 < value < 10_000, (name, mode, target, value)
                    continue
                assert value > 0, (name, mode, target, value)
                if unit == "/s":  # loopback: more than a trickle, less than the impossible
                    assert 10 < value < 10_000_000, (name, mode, target, value)
                elif unit == "MB/s":
                    assert 0.01 < value < 10_000, (name, mode, target, value)
                elif "under flood" in name:  # a server that stalls stalls for the whole flood
                    assert 0.01 < value < 120_000, (name, mode, target, value)
                elif unit == "ms":
                    assert 0.01 < value < 5_000, (name, mode, target, value)
                elif unit == "us":  # server CPU per message
                    assert 1 < value < 100_000, (name, mode, target, value)
                elif unit == "KB":
                    assert 1 < value < 1_000, (name, mode, target, value)
                elif unit == "s":
                    assert value < 120, (name, mode, target, value)


def test_the_many_events_config_passes_check(tmp_path):
    from run import many_events_config

    path = tmp_path / "many.yaml"
    path.write_text(many_events_config(200))
    done = subprocess.run([sys.executable, "router.py", "check", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n  ") == 200 + 1  # 200 events and on_connect


@pytest.mark.parametrize("mode, event", [("gevent", "echo"), ("eventlet", "fanout"), ("threading", "echo")])
def test_the_in_process_overhead_bench_measures_both_targets(mode, event):
    done = subprocess.run([sys.executable, "bench/overhead.py", "--mode", mode, "--event", event,
                           "--rounds", "1", "--messages", "300"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{mode}, {event}: server CPU per message")
    figures = {line.split()[0]: float(line.split()[1]) for line in lines[1:4]}
    assert set(figures) == {"router", "tuned", "bare"} and all(value > 0 for value in figures.values())
    assert lines[4].startswith("  ratio router / tuned: ")
    assert lines[5].startswith("  ratio router / bare: ")


def test_the_in_process_allocation_count_names_the_routers_own_lines():
    done = subprocess.run([sys.executable, "bench/overhead.py", "--mode", "gevent", "--event", "echo",
                           "--allocations", "20"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("gevent, echo: memory blocks a message holds at its first packet")
    targets = [line.split()[0] for line in lines[1:] if not line.startswith("      ")]
    assert targets == ["router", "tuned", "bare"], done.stdout
    # The router's own lines are listed under it, as files of router/ with their line numbers.
    own = [line.split()[-1] for line in lines[2:lines.index(next(l for l in lines if l.startswith("  tuned")))]]
    assert own and all(line.startswith("router/") and line.rsplit(":", 1)[1].isdigit() for line in own), own
