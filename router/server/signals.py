"""The signals a serving process answers, wired once per async mode: SIGTERM and SIGINT stop it
gracefully (router/server/shutdown.py), SIGHUP asks it to reload its config (the --reload
supervisor sends it, router/cli/reload.py).

Each callback runs in a new green thread or thread, never inside the signal handler itself:
under eventlet a handler runs in whatever greenlet the signal interrupted, where blocking is
not allowed.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Callable, Mapping

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RELOAD_SIGNAL = signal.SIGHUP

Handlers = Mapping[int, Callable[[int], None]]  # signal number -> callback(signum)


def on_signals_eventlet(handlers: Handlers) -> None:
    """Run ``handlers[signum](signum)`` in a new green thread when one of their signals arrives.

    ``signal.set_wakeup_fd`` wakes the hub from its poll at once; a Python handler alone
    would run only when the hub next woke up, up to a ping interval later.
    """
    import eventlet
    from eventlet.hubs import trampoline

    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd)
    for signum in handlers:
        signal.signal(signum, _noop)

    def watch() -> None:
        while True:
            trampoline(read_fd, read=True)
            try:
                received = os.read(read_fd, 64)
            except BlockingIOError:
                continue
            for signum in received:
                if signum in handlers:
                    eventlet.spawn_n(handlers[signum], signum)

    eventlet.spawn_n(watch)


def on_signals_gevent(handlers: Handlers) -> None:
    import gevent

    for signum, callback in handlers.items():
        gevent.signal_handler(signum, callback, signum)


def on_signals_threading(handlers: Handlers) -> None:
    def handler(signum, frame) -> None:
        threading.Thread(target=handlers[signum], args=(signum,), name=f"on-{signal.Signals(signum).name}",
                         daemon=True).start()

    for signum in handlers:
        signal.signal(signum, handler)


def _noop(signum, frame) -> None:
    """Replaces the default action (exit at once); the wakeup fd does the work."""
