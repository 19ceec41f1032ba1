"""One server-wide task sends Engine.IO's PINGs (router/ping_scheduler.py): the logic in process
with fake sockets and a fake clock, the wiring on a real Engine.IO server, and a real router
process that pings WebSocket and long-polling clients and drops a client that stops answering."""

from __future__ import annotations

import gc
import json
import re
import threading
import time
import weakref

import pytest
import socketio
import websocket
from engineio import packet as eio_packet

from router.upstream.pings import PingScheduler
from tests.support.cluster import wait_for_log

INTERVAL = 10.0


class FakeEio:
    """What the scheduler uses of an Engine.IO server; background tasks run only if asked."""

    def __init__(self, interval=INTERVAL, run_tasks=False):
        self.ping_interval = interval
        self.handlers = {}
        self.sockets = {}
        self.tasks = []
        self.run_tasks = run_tasks
        self.yields = 0

    def sleep(self, seconds):
        self.yields += 1

    def create_event(self):
        return threading.Event()

    def start_background_task(self, target, *args):
        self.tasks.append(target)
        if self.run_tasks:
            thread = threading.Thread(target=target, args=args, daemon=True)
            thread.start()
            return thread


class FakeSocket:
    def __init__(self, sid, log=None):
        self.sid = sid
        self.last_ping = time.time()  # as engineio's BaseSocket starts
        self.closing = self.closed = False
        self.sent = []
        self.log = log if log is not None else []
        self.pinged = threading.Event()

    def send(self, pkt):
        self.sent.append(pkt.packet_type)
        self.log.append(self.sid)
        self.pinged.set()


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def adopted(scheduler, *sids):
    log = []
    sockets = [FakeSocket(sid, log) for sid in sids]
    for sock in sockets:
        scheduler.adopt(sock)
    return sockets, log


def test_due_sockets_get_a_ping_in_the_order_they_were_scheduled(clock):
    scheduler = PingScheduler(FakeEio(), clock=clock)
    (a, b, c), log = adopted(scheduler, "a", "b", "c")
    for sock in (a, b, c):  # the handshake of each, one second apart
        sock.schedule_ping()
        clock.now += 1
    assert (a.last_ping, b.last_ping, c.last_ping) == (None, None, None)
    assert scheduler.waiting == 3

    assert scheduler.send_due(100 + INTERVAL - 0.5) == pytest.approx(0.5)  # nobody due yet
    assert log == []
    assert scheduler.send_due(100 + INTERVAL + 1.5) == pytest.approx(0.5)  # a and b, c in 0.5 s
    assert log == ["a", "b"] and a.sent == [eio_packet.PING]
    assert a.last_ping is not None and c.last_ping is None  # the PONG deadline starts with the PING
    assert scheduler.send_due(100 + INTERVAL + 2) == INTERVAL  # nothing left: wait a whole interval
    assert log == ["a", "b", "c"] and scheduler.waiting == 0

    b.schedule_ping()  # b's PONG: its next PING one interval from now
    a.schedule_ping()
    assert scheduler.send_due(clock.now + INTERVAL) == INTERVAL
    assert log[3:] == ["b", "a"]


def test_a_crowd_coming_due_together_is_pinged_in_turns(clock, monkeypatch):
    monkeypatch.setattr("router.upstream.pings.PINGS_PER_TURN", 2)
    eio = FakeEio()
    scheduler = PingScheduler(eio, clock=clock)
    sockets, log = adopted(scheduler, "a", "b", "c", "d", "e")
    for sock in sockets:
        sock.schedule_ping()
    scheduler.send_due(clock.now + INTERVAL)
    assert log == ["a", "b", "c", "d", "e"] and eio.yields == 2


def test_one_ping_per_pong(clock):
    scheduler = PingScheduler(FakeEio(), clock=clock)
    (a,), log = adopted(scheduler, "a")
    a.schedule_ping()
    a.schedule_ping()  # a second PONG to the same PING (or none sent yet) changes nothing
    assert scheduler.waiting == 1
    scheduler.send_due(clock.now + INTERVAL)
    assert log == ["a"]


def test_closed_and_closing_sockets_are_dropped_not_pinged(clock):
    scheduler = PingScheduler(FakeEio(), clock=clock)
    (a, b, c), log = adopted(scheduler, "a", "b", "c")
    for sock in (a, b, c):
        sock.schedule_ping()
    b.closed = True
    c.closing = True
    scheduler.send_due(clock.now + INTERVAL)
    assert log == ["a"] and scheduler.waiting == 0


def test_the_queue_keeps_no_socket_alive(clock):
    scheduler = PingScheduler(FakeEio(), clock=clock)
    (a, b), log = adopted(scheduler, "a", "b")
    a.schedule_ping()
    b.schedule_ping()
    gone = weakref.ref(a)
    del a
    gc.collect()
    assert gone() is None  # neither the queue nor the socket's own schedule_ping hold it
    scheduler.send_due(clock.now + INTERVAL)
    assert log == ["b"] and scheduler.waiting == 0


def test_install_adopts_each_socket_before_the_handshake_schedules_its_first_ping(clock):
    eio = FakeEio()
    seen = []
    eio.handlers["connect"] = lambda sid, environ: seen.append((sid, environ)) or "accepted"
    scheduler = PingScheduler(eio, clock=clock)
    scheduler.install()
    sock = eio.sockets["s1"] = FakeSocket("s1")
    assert eio.handlers["connect"]("s1", {"k": "v"}) == "accepted"  # the wrapped handler's answer
    assert seen == [("s1", {"k": "v"})]
    sock.schedule_ping()  # what engineio's _handle_connect does next
    assert scheduler.waiting == 1 and eio.tasks, "the first socket starts the task"


def test_the_task_pings_on_time_and_stops_with_the_server():
    eio = FakeEio(interval=0.05, run_tasks=True)
    scheduler = PingScheduler(eio)
    (a,), log = adopted(scheduler, "a")
    a.schedule_ping()
    assert a.pinged.wait(5), "no PING from the background task"
    assert scheduler.running
    assert scheduler.stop(timeout=5) is True
    assert not scheduler.running and len(eio.tasks) == 1
    a.schedule_ping()  # after the stop nothing is queued, nothing started
    assert scheduler.waiting == 0 and len(eio.tasks) == 1


def test_a_scheduler_stopped_before_any_connection_starts_nothing():
    eio = FakeEio(run_tasks=True)
    scheduler = PingScheduler(eio)
    assert scheduler.stop() is True
    (a,), _ = adopted(scheduler, "a")
    a.schedule_ping()
    assert eio.tasks == [] and scheduler.waiting == 0


# -- wiring on a real Engine.IO server ---------------------------------------------------------

CONFIG = """
    server:
      async_mode: threading
      ping_interval: 7
      {admin}
    namespaces:
      /pings:
        events:
          echo: [echo, ack]
"""


def test_a_polling_handshake_queues_the_socket_with_the_scheduler(build_router):
    router = build_router(CONFIG.format(admin=""))
    try:
        response = router.app.test_client().get("/socket.io/?EIO=4&transport=polling")
        assert response.status_code == 200 and response.get_data(as_text=True).startswith("0{")
        (sock,) = router.socketio.server.eio.sockets.values()
        assert sock.last_ping is None  # scheduled, by the scheduler: no ping task of its own
        assert router.pings.waiting == 1 and router.pings.interval == 7
    finally:
        router.pings.stop()


def test_the_admin_ui_in_development_mode_keeps_engineios_ping_tasks(build_router):
    admin = "admin_ui: {password: secret, mode: development}"
    assert build_router(CONFIG.format(admin=admin)).pings is None
    router = build_router(CONFIG.format(admin=admin.replace("development", "production")))
    assert router.pings is not None


# -- a real router process ---------------------------------------------------------------------

PROCESS_CONFIG = """
    server:
      async_mode: {mode}
      ping_interval: 1
      ping_timeout: 1
    namespaces:
      /pings:
        events:
          echo: [echo, ack]
"""
PINGS = 4  # answered PINGs: each client would have given up after ping_interval + ping_timeout


def python_client(url, transport, dropped):
    client = socketio.Client(reconnection=False)
    client.on("disconnect", lambda *reason: dropped.set(), namespace="/pings")
    client.connect(url, namespaces=["/pings"], transports=[transport], wait_timeout=10)
    return client


@pytest.mark.parametrize("mode", ["eventlet", "gevent", "threading"])
def test_a_router_pings_its_clients_and_drops_one_that_stops_answering(mode, write_config,
                                                                     router_process):
    router = router_process(write_config(PROCESS_CONFIG.format(mode=mode)))
    dropped = threading.Event()
    clients = [python_client(router.url, transport, dropped) for transport in ("websocket", "polling")]
    ws = websocket.create_connection(f"ws://127.0.0.1:{router.port}/socket.io/?EIO=4&transport=websocket",
                                     timeout=10)
    try:
        assert '"pingInterval":1000' in ws.recv()  # the Engine.IO open packet
        ws.send("40/pings,")
        connected = ws.recv()
        assert connected.startswith("40/pings,{")
        sid = json.loads(connected[len("40/pings,"):])["sid"]
        for _ in range(PINGS):
            assert ws.recv() == "2"  # a PING; the timeout above bounds the wait
            ws.send("3")
        assert not dropped.is_set(), router.logs()
        for client in clients:
            assert client.call("echo", "still here", namespace="/pings", timeout=10) == "still here"

        assert ws.recv() == "2"  # this one goes unanswered
        unanswered = time.monotonic()
        frames = []
        with pytest.raises((websocket.WebSocketConnectionClosedException, OSError)):
            while True:
                frames.append(ws.recv())
                if frames[-1] == "":  # the server's close frame
                    raise OSError("closed")
        waited = time.monotonic() - unanswered
        # Whichever comes first: the service task's check of the PONG deadline (ping_timeout,
        # each socket checked once per ping_timeout), or the server's read timeout on the
        # WebSocket (ping_interval + ping_timeout).
        assert "2" not in frames and waited < 1 + 1 + 2, (frames, waited)
        wait_for_log(router, rf"disconnect {re.escape(sid)} from /pings \((ping timeout|transport close)\)",
                     timeout=5)
        assert not dropped.is_set(), router.logs()  # the answering clients stay
    finally:
        ws.close()
        for client in clients:
            client.disconnect()
