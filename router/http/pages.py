"""The browser pages: the classic demo page at ``/`` and the live console at ``/console``.

Pages are rendered by Flask's own Jinja2 environment (``render_template``, HTML
autoescaping), never by the payload sandbox. They load the official
socket.io-client browser bundle from ``router/http/static`` (see its README there),
so they work on a machine with no internet. Nothing is mounted unless the config
turns a page on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import flask
from flask import Blueprint, render_template, request, session
from jinja2.utils import htmlsafe_json_dumps

from router.compile.pages import console_description
from router.credentials import secrets_equal
from router.http.api_key import check_api_key, keys_match

STATIC_FOLDER = Path(__file__).parent / "static"
STATIC_URL = "/_router/static"  # out of the way of an app's own /static
CLIENT_BUNDLE = "socket.io.min.js"
# The demo page pings every few seconds; the first ping goes right after connecting.
DEMO_PING_INTERVAL_MS = 2000
CONSOLE_SESSION_KEY = "socketio_router_console"


def register_pages(app: flask.Flask, socketio, live) -> bool:
    """Mount the pages ``server.demo_page`` and ``server.console`` ask for (load-time checked);
    True when there is one, which the server then lets connect from its own origin.

    ``live.compiled`` (the dispatcher's) is the config in force: the console describes it and
    asks for its API key, after a --reload swap too. Which pages are mounted is fixed for the
    process (router/config/models.py PROCESS_LEVEL_KEYS).
    """
    compiled = live.compiled
    server = compiled.config.server
    if not server.demo_page and not server.console:
        return False
    pages = Blueprint("socketio_router_pages", __name__, template_folder="web_templates",
                      static_folder="static", static_url_path=STATIC_URL)
    shared = {"async_mode": socketio.async_mode, "socketio_path": f"/{server.path}/",
              "client_version": client_version(), "config_file": compiled.source.file}

    if server.demo_page:
        @pages.route("/")
        def demo():
            return render_template("socketio_router/demo.html", namespace=server.demo_page,
                                   ping_interval_ms=DEMO_PING_INTERVAL_MS, **shared)

    if server.console:
        described: dict = {}

        def description() -> str:
            """The console's view of the config in force, built once per config."""
            compiled = live.compiled
            if described.get("of") is not compiled:
                # Flask's tojson sorts keys; the console shows options in the order they were written.
                described.update(of=compiled, text=htmlsafe_json_dumps(
                    console_description(compiled.config, compiled.source, compiled.registry)))
            return described["text"]

        def current_gate() -> "ConsoleGate":
            return ConsoleGate(live.compiled.config.server.api_key)

        @pages.route("/console", methods=["GET"])
        def console():
            gate = current_gate()
            if "key" in request.args:  # a link with ?key=: log in, then drop the key from the URL
                return gate.log_in(request.args["key"])
            if not gate.admits():
                return gate.login_page()
            return _private(render_template("socketio_router/console.html",
                                            description=description(), protected=gate.protected,
                                            **shared))

        @pages.route("/console/login", methods=["POST"])
        def console_login():
            return current_gate().log_in(request.form.get("key", ""))

        @pages.route("/console/logout", methods=["POST"])
        def console_logout():
            session.pop(CONSOLE_SESSION_KEY, None)
            return _private(flask.redirect(flask.url_for(".console"), 303))

        # A browser's login cookie is not sent by other sites' requests.
        if app.config.get("SESSION_COOKIE_SAMESITE") is None:
            app.config["SESSION_COOKIE_SAMESITE"] = "Lax"

    app.register_blueprint(pages)
    return True


class ConsoleGate:
    """Who may open the console: anyone if no ``server.api_key`` is set (the load-time check
    then insists on a loopback host), else a request presenting the key (Authorization:
    Bearer, X-API-Key) or a browser that logged in with it (``?key=`` or the login form)."""

    def __init__(self, api_key: str | None):
        self.api_key = api_key
        self.protected = api_key is not None

    def admits(self) -> bool:
        if not self.protected:
            return True
        if check_api_key(request, self.api_key):
            return True
        stamp = session.get(CONSOLE_SESSION_KEY)
        return isinstance(stamp, str) and secrets_equal(stamp, self._stamp())

    def log_in(self, presented: str):
        if not self.protected:
            return _private(flask.redirect(flask.url_for(".console"), 303))
        if not keys_match(presented, self.api_key):
            return self.login_page("That key is not the server's api_key.")
        # The session cookie is signed with the secret key; it holds a keyed digest of the
        # API key, so changing server.api_key logs every browser out.
        session[CONSOLE_SESSION_KEY] = self._stamp()
        return _private(flask.redirect(flask.url_for(".console"), 303))

    def login_page(self, error: str | None = None):
        html = render_template("socketio_router/console_login.html", error=error)
        return _private(flask.make_response(html, 401))

    def _stamp(self) -> str:
        secret = flask.current_app.secret_key
        secret = secret.encode() if isinstance(secret, str) else secret
        return hmac.new(secret, b"console\0" + self.api_key.encode(), hashlib.sha256).hexdigest()


def _private(response):
    """Console responses: never cached, and a ``?key=`` never leaks through a Referer."""
    response = flask.make_response(response)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def client_version() -> str:
    """The version of the bundled socket.io-client, from the bundle's own banner."""
    with open(STATIC_FOLDER / CLIENT_BUNDLE, encoding="utf-8") as bundle:
        banner = bundle.read(200)
    match = re.search(r"Socket\.IO v(\d+\.\d+\.\d+)", banner)
    return match.group(1) if match else "unknown"

