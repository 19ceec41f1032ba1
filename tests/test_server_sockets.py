"""The server's socket defaults: TCP_NODELAY on accepted sockets, no 1,024-connection cap."""

from __future__ import annotations

import resource
import socket

from router.server.serve import listen_socket


def test_accepted_sockets_inherit_tcp_nodelay():
    listener = listen_socket("127.0.0.1", 0, nodelay=True)
    with listener, socket.create_connection(listener.getsockname()) as client:
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    plain = listen_socket("127.0.0.1", 0, nodelay=False)
    with plain, socket.create_connection(plain.getsockname()):
        accepted, _ = plain.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0


def test_eventlet_serves_more_than_1024_concurrent_connections(router_process, write_config):
    """socketio.run leaves eventlet's pool at 1,024: the 1,025th client waits. The router's does not."""
    count = 1100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 200), hard))
    server = router_process(write_config("""
        namespaces:
          /n: {}
    """))
    sockets = []
    try:
        # Each Engine.IO polling handshake on a keep-alive connection holds one server
        # green thread while the connection stays open.
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
            sockets.append(sock)
        answered = 0
        for sock in sockets:
            if sock.recv(4096).startswith(b"HTTP/1.1 200"):
                answered += 1
        assert answered == count
    finally:
        for sock in sockets:
            sock.close()
