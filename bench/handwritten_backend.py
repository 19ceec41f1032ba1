"""The bench's backend scenario written by hand with Flask-SocketIO and requests: the baseline.

    python bench/handwritten_backend.py --mode eventlet --backend http://127.0.0.1:8080

It does what bench/configs/backend.yaml does, in namespace /bench: ``echo`` posts the payload
to the backend's /echo with a ``requests.Session`` (pooled keep-alive connections, as the
requests documentation advises), emits the answer back and returns it as the ack. It serves
the way bench/handwritten.py's "tuned" style does, prints ``listening on PORT`` and serves
until stdin closes.
"""

from __future__ import annotations

import argparse
import sys
import threading
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from handwritten import exit_when_stdin_closes, patch_for, serve_tuned  # noqa: E402

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")


def create_app(mode: str, backend: str):
    import requests
    from flask import Flask
    from flask_socketio import SocketIO, emit

    app = Flask(__name__)
    socketio = SocketIO(app, async_mode=mode)
    session = requests.Session()

    @socketio.on("echo", namespace="/bench")
    def echo(data):
        answer = session.post(f"{backend}/echo", json=data, timeout=5)
        answer.raise_for_status()
        body = answer.json()
        emit("echo", body)
        return body

    return app


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=("eventlet", "gevent", "threading"), default="eventlet")
    parser.add_argument("--backend", required=True, help="the backend's base URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    patch_for(args.mode)
    serve_tuned(create_app(args.mode, args.backend), args.mode, args.host, args.port)


if __name__ == "__main__":
    main()
