"""eventlet.wsgi.server's accept loop, parked on a graceful stop instead of ended.

When eventlet's accept loop ends it shuts down the socket of every connection it
counts as idle, and an upgraded WebSocket counts as idle there: ending the loop
first would cut every WebSocket client off before its goodbye. So a graceful stop
parks the loop instead: :class:`ParkingListener` wraps the listening socket, and
:meth:`AcceptLoop.stop_accepting` throws :class:`StopAccepting` into the greenlet
blocked in ``accept()``, which then waits there. :meth:`AcceptLoop.stop` releases
it with ``SystemExit``, which eventlet's loop takes as its order to exit; the
loop then waits for the connections of the pool we gave it, and the ones still
there after the grace period are killed.

| module | name | why |
|---|---|---|
| eventlet.wsgi | ``server(sock, custom_pool=...)`` accept loop | it only calls ``accept()`` on ``sock`` (and reads attributes), so a wrapper can park it; it exits on ``SystemExit`` |
| eventlet.greenpool | ``GreenPool.coroutines_running`` | the connections still served after the grace period, to kill |
| eventlet.hubs | ``hub.schedule_call_global`` | throw into the accepting greenlet from the stop's own green thread |

tested with: eventlet 0.41.3
"""

from __future__ import annotations

import time
from typing import Callable

from router.upstream._contract import Needs, Seam

SEAM = Seam("eventlet accept loop", {"eventlet": "0.41.3"}, requires=[
    Needs("eventlet.wsgi", "server", ("sock", "site", "log_output", "debug", "custom_pool", "protocol")),
    Needs("eventlet.greenpool", "GreenPool", attributes=("coroutines_running",)),
    Needs("eventlet.greenpool", "GreenPool.running"),
    Needs("eventlet.greenio", "GreenSocket.accept"),
    Needs("eventlet.hubs.hub", "BaseHub.schedule_call_global", ("seconds", "cb")),
    Needs("eventlet.event", "Event.send"),
    Needs("eventlet.event", "Event.ready"),
])


class StopAccepting(Exception):
    """Thrown into the greenlet blocked in accept() to park it (see ParkingListener)."""


class ParkingListener:
    """A listening green socket whose accept() can be parked, for eventlet.wsgi.server.

    Throwing :class:`StopAccepting` into the greenlet blocked in ``accept()`` parks it
    until :meth:`release`; it then raises SystemExit, which ends eventlet's accept loop.
    Everything else is the wrapped socket's.
    """

    def __init__(self, green_socket):
        self._socket = green_socket
        import eventlet.event

        self._released = eventlet.event.Event()

    def accept(self):
        try:
            return self._socket.accept()
        except StopAccepting:
            self._released.wait()
            raise SystemExit from None

    def release(self) -> None:
        if not self._released.ready():
            self._released.send(True)

    def __getattr__(self, name):
        return getattr(self._socket, name)


class AcceptLoop:
    """eventlet.wsgi.server on ``sock`` with a pool of ``pool_size`` connections, stoppable in two steps.

    Build it in the green thread that then calls :meth:`serve`: that is the one a stop
    parks, even if the signal comes before the loop has started.
    """

    def __init__(self, sock, pool_size: int):
        import eventlet
        from eventlet.greenio import GreenSocket

        self.listener = ParkingListener(GreenSocket(sock))
        # Our own pool, so a graceful stop can end the connections that outlive the goodbyes.
        self.pool = eventlet.GreenPool(pool_size)
        self._accepting = eventlet.getcurrent()

    def serve(self, app: Callable, **options) -> None:
        """Run eventlet.wsgi.server until :meth:`stop`; ``options`` go to it (protocol=, log_output=)."""
        import eventlet.wsgi

        eventlet.wsgi.server(self.listener, app, custom_pool=self.pool, **options)

    def stop_accepting(self) -> None:
        """Park the accept loop: no new connection, the others untouched."""
        from eventlet.hubs import get_hub

        get_hub().schedule_call_global(0, self._accepting.throw, StopAccepting)

    def stop(self, grace: float) -> None:
        """End the accept loop, wait up to ``grace`` seconds for its connections, kill the rest."""
        import eventlet

        # The parked accept loop raises SystemExit: eventlet.wsgi.server then waits for the pool.
        self.listener.release()
        deadline = time.monotonic() + grace
        while self.pool.running() and time.monotonic() < deadline:
            eventlet.sleep(0.02)
        for thread in list(self.pool.coroutines_running):
            thread.kill()
