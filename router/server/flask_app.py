"""The Flask request context of a Socket.IO event: built per event, its costly parts once per connection.

Flask-SocketIO runs every event handler inside ``app.request_context(environ)``,
where ``environ`` is the connection's own WSGI environ, the same dict for every
event of that connection. Flask then does, per event, what an HTTP request needs
once: it binds the URL map to the environ, and it opens the cookie session, which
builds an itsdangerous serializer and parses the cookie, only for Flask-SocketIO
to swap in its own per-connection copy of the session (``manage_session``, on by
default). Measured in process, the context cost about 145 us of a ~400 us echo;
with these changes about 60 us. What handlers see does not change:

* the URL adapter is bound once per environ and kept in it, so ``url_for`` and
  ``request.url_rule`` work as before;
* the session is opened from the cookie for the connection's first event (its
  connect), which Flask-SocketIO copies and keeps; later events skip the
  cookie, as Flask-SocketIO ignores what would be read;
* the signing serializer is built once per secret key, for HTTP requests too.

``get_signing_serializer``, ``open_session`` and ``create_url_adapter`` are Flask's
documented hooks for this; where Flask-SocketIO keeps its session copy is its own
internal (router/upstream/handler_calls.py).
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from router.server.middleware import direct_call
from router.upstream.handler_calls import MANAGED_SESSION

URL_ADAPTER = "socketio_router.url_adapter"


class ConnectionSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, read once per Socket.IO connection and not per event."""

    def __init__(self):
        self._serializers: dict = {}

    def get_signing_serializer(self, app: Flask):
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            if serializer is not None:
                self._serializers = {key: serializer}  # a rotated key replaces the old one
        return serializer

    def open_session(self, app: Flask, request):
        if MANAGED_SESSION in request.environ:
            return None  # a null session: Flask-SocketIO puts its managed one in its place
        return super().open_session(app, request)


class RouterFlask(Flask):
    """The router's Flask app: Socket.IO events reuse their connection's URL adapter, and a
    request enters the middleware without a C stack level."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.session_interface = ConnectionSessionInterface()  # each app its own serializers

    def __call__(self, environ, start_response):
        # Into the middleware without a C stack level, which a WebSocket keeps for its life
        # (router/server/middleware.py).
        return direct_call(self.wsgi_app)(environ, start_response)

    def create_url_adapter(self, request):
        if request is None:
            return super().create_url_adapter(request)
        # An HTTP request brings a new environ each time; a connection's events share one.
        adapter = request.environ.get(URL_ADAPTER)
        if adapter is None:
            adapter = request.environ[URL_ADAPTER] = super().create_url_adapter(request)
        return adapter
