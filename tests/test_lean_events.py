"""Events whose steps need no Flask request context run without one; every other handler keeps
all that Flask-SocketIO gives it (router/upstream/lean_events.py)."""

from __future__ import annotations

import json
import logging

import flask
import pytest

from router.upstream.lean_events import DIRECT

PLUGINS = '''
import logging

import flask
import flask_socketio

from router import NoOptions, step
from router.server.log_format import JsonFormatter


def _request():
    event = flask.request.event
    return {"sid": flask.request.sid, "namespace": flask.request.namespace,
            "message": event["message"], "args": list(event["args"]),
            "user": flask.session.get("user"), "url": flask.url_for("socketio_router_health.healthz")}


@step("needs_context", NoOptions)
def needs_context(ctx, options):
    """Declares nothing: it gets Flask-SocketIO's request context."""
    flask_socketio.emit("told", {"sid": ctx.sid})  # no namespace, no to: the sender, here
    ctx.set_ack({**_request(), "ctx_sid": ctx.sid})


@step("needs_nothing", NoOptions, needs_request_context=False)
def needs_nothing(ctx, options):
    """Acts through its StepContext alone; says where the JSON log lines see it."""
    record = logging.LogRecord("socketio_router", logging.INFO, __file__, 1, "seen", None, None)
    ctx.set_ack({"has_request_context": flask.has_request_context(), "data": ctx.data,
                 "count": ctx.count, "log": JsonFormatter().format(record)})


@step("error_needs_context", NoOptions)
def error_needs_context(ctx, options):
    """An on_error step that reads the failed event from Flask-SocketIO's request."""
    ctx.emit("failed", {**_request(), "error": ctx.error})
'''

NAMESPACE_CLASS = '''
import flask
from flask_socketio import Namespace, emit


class Plain(Namespace):
    def on_whoami(self, data):
        emit("told", data)  # no arguments but the event: the sender, on this namespace
        return [flask.request.sid, flask.request.namespace, flask.request.event["message"],
                flask.session.get("user")]
'''

CONFIG = """
    plugins_dir: {plugins}
    namespaces:
      /chat:
        events:
          full: [needs_context]
          lean: [needs_nothing]
          mixed: [needs_nothing, needs_context]
          builtin: [echo, ack]
      /guarded:
        on_error: [error_needs_context]
        events:
          join:
            - room.join: {{room: "{{{{ data.room }}}}"}}
      /cls:
        class: "plain:Plain"
"""


@pytest.fixture
def router_app(build_router, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "context_steps.py").write_text(PLUGINS)
    (plugins / "plain.py").write_text(NAMESPACE_CLASS)
    app = build_router(CONFIG.format(plugins=plugins))

    @app.app.get("/login/<user>")
    def login(user):
        flask.session["user"] = user
        return "ok"

    return app


def signed_in(router_app, namespace: str, user: str = "alice"):
    http = router_app.app.test_client()
    assert http.get(f"/login/{user}").status_code == 200
    return router_app.socketio.test_client(router_app.app, namespace=namespace, flask_test_client=http)


def sid_of(router_app, client, namespace: str) -> str:
    return router_app.socketio.server.manager.sid_from_eio_sid(client.eio_sid, namespace)


def is_direct(router_app, namespace: str, event: str) -> bool:
    return getattr(router_app.socketio.server.handlers[namespace][event], DIRECT, None) is not None


def test_a_plugin_that_declares_nothing_gets_flask_socketios_request_context(router_app):
    client = signed_in(router_app, "/chat")
    sid = sid_of(router_app, client, "/chat")
    answer = client.emit("full", {"n": 1}, namespace="/chat", callback=True)
    assert answer == {"sid": sid, "ctx_sid": sid, "namespace": "/chat", "message": "full",
                      "args": [{"n": 1}], "user": "alice", "url": "/healthz"}
    assert [(m["name"], m["args"]) for m in client.get_received("/chat")] == [("told", [{"sid": sid}])]
    assert not is_direct(router_app, "/chat", "full")


def test_a_plugin_that_needs_no_request_context_runs_without_one(router_app):
    client = signed_in(router_app, "/chat")
    sid = sid_of(router_app, client, "/chat")
    first = client.emit("lean", {"n": 1}, namespace="/chat", callback=True)
    second = client.emit("lean", {"n": 2}, namespace="/chat", callback=True)
    assert is_direct(router_app, "/chat", "lean")
    assert (first["has_request_context"], first["data"], first["count"]) == (False, {"n": 1}, 1)
    assert (second["data"], second["count"]) == ({"n": 2}, 2)
    # A log line written under it still names the client, the namespace and the event.
    line = json.loads(first["log"])
    assert (line["sid"], line["namespace"], line["event"]) == (sid, "/chat", "lean")


def test_one_step_that_needs_the_context_gives_the_whole_event_one(router_app):
    client = signed_in(router_app, "/chat")
    answer = client.emit("mixed", namespace="/chat", callback=True)
    assert not is_direct(router_app, "/chat", "mixed")
    assert answer["message"] == "mixed" and answer["user"] == "alice"


def test_built_in_steps_need_no_request_context(router_app):
    client = signed_in(router_app, "/chat")
    assert is_direct(router_app, "/chat", "builtin")
    assert client.emit("builtin", {"n": 3}, namespace="/chat", callback=True) == {"n": 3}
    assert [(m["name"], m["args"]) for m in client.get_received("/chat")] == [("builtin", [{"n": 3}])]


def test_error_steps_that_need_the_context_give_the_event_one(router_app):
    client = signed_in(router_app, "/guarded")
    sid = sid_of(router_app, client, "/guarded")
    assert not is_direct(router_app, "/guarded", "join")
    client.emit("join", {"no": "room"}, namespace="/guarded")
    [failed] = client.get_received("/guarded")
    assert failed["name"] == "failed"
    seen = failed["args"][0]
    assert (seen["sid"], seen["namespace"], seen["message"], seen["args"], seen["user"]) == \
        (sid, "/guarded", "join", [{"no": "room"}], "alice")
    assert seen["error"].startswith("room.join failed: ")


def test_a_failure_without_a_request_context_reaches_the_default_error_steps(build_router, connect):
    router_app = build_router("""
        namespaces:
          /n:
            events:
              join:
                - room.join: {room: "{{ data.room }}"}
                - ack: {data: true}
    """)
    client = connect(router_app, "/n")
    assert is_direct(router_app, "/n", "join")
    assert client.emit("join", {"no": "room"}, namespace="/n", callback=True) == []  # an empty ack
    [error] = client.get_received("/n")
    assert error["name"] == "error" and error["args"][0]["event"] == "join"
    assert error["args"][0]["message"].startswith("room.join failed: ")


def test_an_event_of_a_client_that_is_gone_is_ignored_as_flask_socketio_ignores_it(router_app, caplog):
    client = signed_in(router_app, "/chat")
    sid = sid_of(router_app, client, "/chat")
    server = router_app.socketio.server
    connections = router_app.dispatcher.connections
    record = connections.pop(("/chat", sid))  # disconnected, its event's task not run yet
    try:
        with caplog.at_level(logging.WARNING, "socketio_router"):
            assert server.handlers["/chat"]["builtin"](sid, {"n": 1}) == ("", 400)
        assert client.get_received("/chat") == [] and not caplog.records
    finally:
        connections[("/chat", sid)] = record


def test_a_class_namespace_keeps_flask_socketios_request_context(router_app):
    client = signed_in(router_app, "/cls", user="bob")
    sid = sid_of(router_app, client, "/cls")
    assert client.emit("whoami", {"x": 1}, namespace="/cls", callback=True) == [sid, "/cls", "whoami", "bob"]
    assert [(m["name"], m["args"]) for m in client.get_received("/cls")] == [("told", [{"x": 1}])]
