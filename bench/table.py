"""The bench's figures, their targets and the one table that shows them (Markdown)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Figure:
    unit: str
    higher_is_better: bool
    # {target: value} of one row (the router's is there) -> "ok" / "MISS" / "" (no target)
    target: Callable[[dict], str] = lambda values: ""
    target_text: str = ""


def _ratio_at_least(minimum: float, reference: str = "tuned") -> Callable:
    def check(values):
        to_reference = ratio(values.get("router"), values.get(reference))
        return "" if to_reference is None else ("ok" if to_reference >= minimum else "MISS")
    return check


def _at_most(limit: float) -> Callable:
    return lambda values: "ok" if values["router"] <= limit else "MISS"


def _all_of(*checks: Callable) -> Callable:
    """"MISS" if one check misses, "ok" if one passes and none misses, else ""."""
    def check(values):
        verdicts = {one(values) for one in checks}
        return "MISS" if "MISS" in verdicts else "ok" if "ok" in verdicts else ""
    return check


THROUGHPUT = Figure("/s", True, _ratio_at_least(0.95), ">= 0.95x")
# Echo and fan-out: the hand-written app, and bare python-socketio in the same mode (issue 17).
EVENT_THROUGHPUT = Figure("/s", True, _all_of(_ratio_at_least(0.95), _ratio_at_least(0.9, "bare")),
                          ">= 0.95x tuned, 0.9x bare")
LATENCY = Figure("ms", False)
INTAKE = Figure("MB/s", True)

# Figure names are built from the plan's counts ("acks/s, 100 clients"): matched by pattern.
_PATTERNS = [
    (r"echo p50 ms", Figure("ms", False, _at_most(1.0), "<= 1 ms")),
    (r"echo p99 ms", LATENCY),
    (r"acks/s, \d+ clients", EVENT_THROUGHPUT),
    (r"fan-out/s, \d+", EVENT_THROUGHPUT),
    (r"Redis fan-out/s, \d+", THROUGHPUT),
    (r"(Redis )?fan-out p99 ms, \d+", LATENCY),
    (r"CPU us per echo, \d+ clients", Figure("us", False)),
    (r"CPU us per delivery, \d+ receivers", Figure("us", False)),
    (r"connect [\d,]+ s", Figure("s", False)),
    (r"RSS KB per connection", Figure("KB", False, _at_most(40.0), "<= 40 KB")),
    (r"check, \d+ events s", Figure("s", False, lambda values: "ok" if values["router"] < 1.0 else "MISS",
                                    "< 1 s")),
    (r"backend calls/s, \d+ clients", Figure("/s", True, _ratio_at_least(1.0), ">= 1.0x")),
    (r"CPU us per backend call, \d+ clients", Figure("us", False)),
    (r"intake MB/s, 40 KB", Figure("MB/s", True, _ratio_at_least(0.4, "node"), ">= 0.4x Node")),
    (r"intake MB/s, \d+ KB", INTAKE),
    (r"echo p50 ms under flood", LATENCY),
    (r"echo p99 ms under flood", Figure("ms", False, _at_most(50.0), "<= 50 ms")),
    (r"flood MB/s taken", INTAKE),
    (r"stall fan-out/s (alone|beside)", Figure("/s", True)),
    (r"stall fan-out kept", Figure("x", True, lambda values: "ok" if values["router"] >= 0.8 else "MISS",
                                   ">= 0.8")),
    (r"stall RSS growth MB", Figure("MB", False, _at_most(64.0), "<= 64 MB")),
    (r"recovery fan-out/s (off|on)(, Redis)?, \d+", Figure("/s", True)),
    (r"recovery fan-out kept(, Redis)?, \d+", Figure("x", True)),
    (r"stall reader cut off", Figure("yes/no", True, lambda values: "ok" if values["router"] else "MISS",
                                     "yes")),
]


class _Figures:
    """``FIGURES[name]`` -> :class:`Figure` for any name the bench produces."""

    def __getitem__(self, name: str) -> Figure:
        for pattern, figure in _PATTERNS:
            if re.fullmatch(pattern, name):
                return figure
        raise KeyError(name)


FIGURES = _Figures()

_LABELS = {
    "echo p50 ms": "echo round trip p50, 1 client (ms)",
    "echo p99 ms": "echo round trip p99, 1 client (ms)",
    "RSS KB per connection": "resident memory per connection (KB)",
    "echo p50 ms under flood": "echo p50 while another client floods 1 MB frames (ms)",
    "echo p99 ms under flood": "echo p99 while another client floods 1 MB frames (ms)",
    "flood MB/s taken": "MB/s the flooding client got in",
    "stall fan-out/s alone": "fan-out deliveries/s, 40 KB messages",
    "stall fan-out/s beside": "fan-out deliveries/s, 40 KB messages, beside a member that stops reading",
    "stall fan-out kept": "fan-out kept beside the stalled member (beside / alone)",
    "stall RSS growth MB": "server RSS growth while a member stops reading (MB)",
    "stall reader cut off": "the stalled member disconnected by the server",
}


def label(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    match = re.fullmatch(r"acks/s, (\d+) clients", name)
    if match:
        clients = int(match.group(1))
        return f"echo acks/s, {clients:,} client{'s' if clients > 1 else ''}"
    match = re.fullmatch(r"((?:Redis )?fan-out)/s, (\d+)", name)
    if match:
        return f"{match.group(1)} deliveries/s, {int(match.group(2)):,} receivers"
    match = re.fullmatch(r"((?:Redis )?fan-out) p99 ms, (\d+)", name)
    if match:
        return f"{match.group(1)} p99 delivery latency, {int(match.group(2)):,} receivers (ms)"
    match = re.fullmatch(r"CPU us per echo, (\d+) clients", name)
    if match:
        return f"server CPU per echo, {int(match.group(1)):,} clients (us)"
    match = re.fullmatch(r"CPU us per delivery, (\d+) receivers", name)
    if match:
        return f"server CPU per fan-out delivery, {int(match.group(1)):,} receivers (us)"
    match = re.fullmatch(r"connect ([\d,]+) s", name)
    if match:
        return f"time to connect {match.group(1)} WebSocket clients (s)"
    match = re.fullmatch(r"backend calls/s, (\d+) clients", name)
    if match:
        return f"echo through a backend (http step), calls/s, {int(match.group(1)):,} clients"
    match = re.fullmatch(r"CPU us per backend call, (\d+) clients", name)
    if match:
        return f"server CPU per call through a backend, {int(match.group(1)):,} clients (us)"
    match = re.fullmatch(r"recovery fan-out/s (off|on)(, Redis)?, (\d+)", name)
    if match:
        return (f"fan-out deliveries/s, {int(match.group(3)):,} receivers, connection state recovery "
                f"{match.group(1)}{' (log in Redis)' if match.group(2) else ''}")
    match = re.fullmatch(r"recovery fan-out kept(, Redis)?, (\d+)", name)
    if match:
        return (f"fan-out with recovery / without, {int(match.group(2)):,} receivers"
                f"{' (log in Redis)' if match.group(1) else ''}")
    match = re.fullmatch(r"intake MB/s, (\d+) KB", name)
    if match:
        return f"intake from 1 client, {match.group(1)} KB messages (MB/s)"
    match = re.fullmatch(r"check, (\d+) events s", name)
    if match:
        return f"`router.py check`, {match.group(1)} events (s)"
    return name


def number(value, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "yes/no":
        return "yes" if value else "no"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "/s":
        return f"{value:,.0f}"
    if unit == "MB/s":
        return f"{value:.1f}" if value < 100 else f"{value:,.0f}"
    if unit in ("ms", "s"):
        return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:.1f}"


def ratio(router, other) -> float | None:
    if router is None or other is None or other == 0:
        return None
    return router / other


REFERENCES = [("tuned", "hand-written, tuned", "router / tuned"),
              ("documented", "documented (`socketio.run`)", "router / documented"),
              ("bare", "bare python-socketio", "router / bare"),
              ("node", "Node socket.io 4", "router / Node")]


def render(results) -> str:
    """The Markdown table, preceded by the machine and followed by anything that failed."""
    header = ["mode", "figure", "router"] + [text for _, name, to in REFERENCES for text in (name, to)] + ["target"]
    lines = [f"socketio-router bench, {results.machine['summary']}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    modes = ["-"] + list(results.plan["modes"])
    for mode in modes:
        for name, by_mode in results.figures.items():
            values = by_mode.get(mode)
            if not values:
                continue
            figure = FIGURES[name]
            router = values.get("router")
            cells = [mode, label(name), number(router, figure.unit)]
            for key, _, _ in REFERENCES:
                to_reference = ratio(router, values.get(key)) if figure.unit != "yes/no" else None
                cells += [number(values.get(key), figure.unit),
                          f"{to_reference:.2f}x" if to_reference is not None else "-"]
            verdict = figure.target(values) if router is not None else ""
            cells.append(f"{figure.target_text}: {verdict}" if verdict else "")
            lines.append("| " + " | ".join(cells) + " |")
    if results.errors:
        lines += ["", "Problems:"] + [f"- {error}" for error in results.errors]
    return "\n".join(lines)
