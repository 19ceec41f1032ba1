"""A real client process that floods one event at a fixed rate, for the rate-limit tests.

    python tests/support/flood_client.py URL NAMESPACE EVENT RATE SECONDS [JSON_PAYLOAD]

Connects with python-socketio over WebSocket, emits EVENT at RATE per second for
SECONDS (or until disconnected), waits for the server to answer the tail, and
prints one JSON line: what it sent and what came back, by kind.
"""

import json
import sys
import threading
import time
from collections import Counter

import socketio


def main() -> int:
    url, namespace, event, rate, seconds = sys.argv[1:6]
    payload = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
    rate, seconds = float(rate), float(seconds)
    client = socketio.Client(reconnection=False)
    errors: Counter = Counter()
    echoes = 0
    disconnected = threading.Event()
    lock = threading.Lock()

    @client.on("error", namespace=namespace)
    def on_error(data):
        with lock:
            errors[data.get("code", "?") if isinstance(data, dict) else "?"] += 1

    @client.on("*", namespace=namespace)
    def on_any(name, *args):
        nonlocal echoes
        with lock:
            echoes += 1

    @client.on("disconnect", namespace=namespace)
    def on_disconnect(*reason):
        disconnected.set()

    client.connect(url, namespaces=[namespace], transports=["websocket"], wait_timeout=10)
    sent = 0
    start = time.monotonic()
    # Paced by the clock, not by sleeps of a fixed length: the send rate holds under load.
    while not disconnected.is_set():
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            break
        due = int(elapsed * rate) + 1
        while sent < due:
            client.emit(event, {**payload, "n": sent}, namespace=namespace)
            sent += 1
        disconnected.wait(max(0.0, (sent / rate) - (time.monotonic() - start)))
    # A last round trip: everything sent before it has been handled once it is answered.
    if not disconnected.is_set():
        try:
            client.call("__flood_done__", namespace=namespace, timeout=10)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
            pass
    with lock:
        report = {"sent": sent, "seconds": round(time.monotonic() - start, 3), "echoes": echoes,
                  "errors": dict(errors), "disconnected": disconnected.is_set()}
    print(json.dumps(report), flush=True)
    if not disconnected.is_set():
        client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
