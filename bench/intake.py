"""Load generator for bench/run.py's intake figures: Python clients that send large messages.

    python bench/intake.py '<json spec>'

Scenarios (spec["scenario"]):
  intake  a python-socketio client emits ``count`` messages of ``size`` bytes to an event
          nobody handles, then one acked call (``echo``); reports MB/s from the first emit to
          the ack, when the server has taken every byte.
  flood   a raw WebSocket client (websocket-client) sends ``size``-byte Socket.IO events as
          fast as the server reads them for ``seconds``; prints ``{"type": "flooding"}`` once
          it sends, and reports the MB/s the server took.
  stall   a raw WebSocket client with a small receive buffer joins ``room``, prints
          ``{"type": "stalled"}`` and reads nothing until "stop" comes on stdin; then reads
          what is left and reports whether the server had hung up on it (``disconnected``).

Results are one JSON line on stdout ({"ok": true, ...} or {"ok": false, "error": ...}); every
run is bounded by spec["limit"] seconds.
"""

from __future__ import annotations

import json
import sys
import threading
import time

NAMESPACE = "/bench"


def report(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def intake(spec: dict) -> dict:
    import socketio

    client = socketio.Client(reconnection=False)
    client.connect(spec["url"], namespaces=[NAMESPACE], transports=["websocket"], wait_timeout=10)
    try:
        client.call("echo", "warm-up", namespace=NAMESPACE, timeout=30)
        payload = "x" * spec["size"]
        count = spec["count"]
        start = time.perf_counter()
        for _ in range(count):
            client.emit("nobody-listens", payload, namespace=NAMESPACE)
        client.call("echo", "done", namespace=NAMESPACE, timeout=spec.get("limit", 120))
        seconds = time.perf_counter() - start
    finally:
        client.disconnect()
    return {"size": spec["size"], "count": count, "seconds": seconds,
            "mb_per_s": spec["size"] * count / seconds / 1e6}


def flood(spec: dict) -> dict:
    """Engine.IO and Socket.IO by hand on one WebSocket, so each send waits for TCP."""
    import websocket

    url = spec["url"].replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(url, timeout=spec.get("limit", 120))
    try:
        opened = ws.recv()
        if not opened.startswith("0"):
            raise RuntimeError(f"expected an Engine.IO open packet, got {opened[:80]!r}")
        ws.send(f"40{NAMESPACE},")
        while not (answer := ws.recv()).startswith(f"40{NAMESPACE},"):
            if answer == "2":
                ws.send("3")
        head = f'42{NAMESPACE},["nobody-listens","'
        message = head + "x" * (spec["size"] - len(head) - 2) + '"]'
        stop = threading.Event()
        threading.Thread(target=_answer_pings, args=(ws, stop), daemon=True).start()
        report({"type": "flooding"})
        sent = 0
        start = time.perf_counter()
        deadline = start + spec["seconds"]
        while time.perf_counter() < deadline:
            ws.send(message)
            sent += 1
        seconds = time.perf_counter() - start
        stop.set()
    finally:
        ws.close(timeout=1)
    return {"size": len(message), "sent": sent, "seconds": seconds,
            "mb_per_s": len(message) * sent / seconds / 1e6}


def stall(spec: dict) -> dict:
    """A room member that stops reading, as a tab in the background or a phone in a tunnel."""
    import socket

    import websocket

    url = spec["url"].replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(url, timeout=spec.get("limit", 120),
                                     sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)])
    try:
        if not ws.recv().startswith("0"):
            raise RuntimeError("expected an Engine.IO open packet")
        ws.send(f"40{NAMESPACE},")
        while not ws.recv().startswith(f"40{NAMESPACE},"):
            pass  # PINGs, too early to need an answer
        ws.send(f'42{NAMESPACE},1["join",{{"room":"{spec.get("room", "bench")}"}}]')
        while not ws.recv().startswith(f"43{NAMESPACE},1"):
            pass
        report({"type": "stalled"})
        sys.stdin.readline()  # "stop", or the runner closed stdin
        # Bytes, not frames: a server may have hung up in the middle of one.
        ws.sock.settimeout(spec.get("quiet", 5))
        left = 0
        try:
            while data := ws.sock.recv(1 << 20):  # what the kernel and the server kept for it
                left += len(data)
            return {"disconnected": True, "bytes_left": left}  # then the end...
        except socket.timeout:
            return {"disconnected": False, "bytes_left": left}  # ...or silence
        except OSError:  # reset
            return {"disconnected": True, "bytes_left": left}
    finally:
        try:
            ws.close(timeout=1)
        except Exception:
            pass


def _answer_pings(ws, stop: threading.Event) -> None:
    """Engine.IO's heartbeat: a PONG for each PING, so a long flood is not timed out."""
    while not stop.is_set():
        try:
            if ws.recv() == "2":
                ws.send("3")
        except Exception:
            return


def main() -> int:
    spec = json.loads(sys.argv[1])
    # A hard stop, whatever the server does: a bench never hangs.
    timer = threading.Timer(spec.get("limit", 120) + 5, lambda: (
        report({"ok": False, "error": f"intake load hit its {spec.get('limit', 120)}s limit"}),
        __import__("os")._exit(3)))
    timer.daemon = True
    timer.start()
    try:
        result = {"intake": intake, "flood": flood, "stall": stall}[spec["scenario"]](spec)
    except Exception as exc:
        report({"ok": False, "scenario": spec.get("scenario"), "error": f"{type(exc).__name__}: {exc}"})
        return 1
    report({"ok": True, "scenario": spec["scenario"], **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
