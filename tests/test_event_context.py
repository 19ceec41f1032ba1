"""A Socket.IO event's Flask context: the session and URL adapter a plugin sees are those of
Flask-SocketIO, and the cookie and URL map are read once per connection, not per event."""

from __future__ import annotations

import flask
import pytest
from flask.sessions import SecureCookieSessionInterface

CONFIG = """
    plugins_dir: {plugins}
    namespaces:
      /chat:
        events:
          whoami: [whoami]
"""

WHOAMI = '''
import flask

from router import NoOptions, step


@step("whoami", NoOptions)
def whoami(ctx, options):
    """Ack the session's user, how many events this connection sent, and a built URL."""
    flask.session["n"] = flask.session.get("n", 0) + 1
    ctx.set_ack(flask.session.get("user"), flask.session["n"],
                flask.url_for("socketio_router_health.healthz"))
'''


@pytest.fixture
def router_app(build_router, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "whoami.py").write_text(WHOAMI)
    app = build_router(CONFIG.format(plugins=plugins))

    @app.app.get("/login/<user>")
    def login(user):
        flask.session["user"] = user
        return "ok"

    return app


def signed_in_client(router_app, user: str):
    http = router_app.app.test_client()
    assert http.get(f"/login/{user}").status_code == 200
    return router_app.socketio.test_client(router_app.app, namespace="/chat", flask_test_client=http)


def test_every_event_sees_the_cookie_session_and_its_changes_stay_with_the_connection(router_app):
    alice = signed_in_client(router_app, "alice")
    answers = [alice.emit("whoami", namespace="/chat", callback=True) for _ in range(3)]
    assert answers == [["alice", 1, "/healthz"], ["alice", 2, "/healthz"], ["alice", 3, "/healthz"]]
    # Another connection starts from the cookie again, as with any Flask-SocketIO app.
    bob = signed_in_client(router_app, "bob")
    assert bob.emit("whoami", namespace="/chat", callback=True) == ["bob", 1, "/healthz"]


def test_the_cookie_and_the_url_map_are_read_once_per_connection(router_app, monkeypatch):
    reads, binds = [], []
    open_session = SecureCookieSessionInterface.open_session
    create_url_adapter = flask.Flask.create_url_adapter
    monkeypatch.setattr(SecureCookieSessionInterface, "open_session",
                        lambda self, app, request: reads.append(1) or open_session(self, app, request))
    monkeypatch.setattr(flask.Flask, "create_url_adapter",
                        lambda self, request: binds.append(request) or create_url_adapter(self, request))
    client = signed_in_client(router_app, "alice")
    reads.clear()
    binds.clear()
    for _ in range(5):
        client.emit("whoami", namespace="/chat", callback=True)
    assert reads == [] and [request for request in binds if request is not None] == []

    other = signed_in_client(router_app, "carol")
    assert other.emit("whoami", namespace="/chat", callback=True) == ["carol", 1, "/healthz"]
    assert len(reads) == 2  # the login request, then the connection's connect event


def test_the_signing_serializer_follows_a_new_secret_key(router_app):
    http = router_app.app.test_client()
    http.get("/login/alice")
    router_app.app.secret_key = "rotated-" + "x" * 40
    with router_app.app.test_request_context():
        interface = router_app.app.session_interface
        assert interface.get_signing_serializer(router_app.app).secret_keys[-1] == \
            router_app.app.secret_key.encode()
        assert interface.get_signing_serializer(router_app.app) is \
            interface.get_signing_serializer(router_app.app)
