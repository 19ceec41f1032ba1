"""How a send may be delivered, as the code that emits asks and the transport reads.

A **volatile** send (Node socket.io's ``socket.volatile.emit``) may be dropped for a client that
is behind: cursors, typing indicators, live prices, where the next value replaces this one.
The emitting code marks its sends with :func:`volatile_sends`; the outgoing queues
(router/upstream/outbound_queues.py) and the broker link (router/server/brokers.py) read the
mark with :func:`sends_are_volatile`. A context variable, so each green thread or thread has
its own mark and an emit elsewhere meanwhile is not affected.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_volatile: ContextVar[bool] = ContextVar("socketio_router_volatile", default=False)


@contextmanager
def volatile_sends() -> Iterator[None]:
    """Every send made inside the block is volatile."""
    token = _volatile.set(True)
    try:
        yield
    finally:
        _volatile.reset(token)


def sends_are_volatile() -> bool:
    return _volatile.get()
