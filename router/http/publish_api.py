"""The publish API: a backend pushes messages to Socket.IO clients over HTTP.

``POST /api/emit`` sends an event to a namespace, a room or one client;
``POST /api/disconnect`` disconnects one client; ``GET /api/rooms/<room>/members?namespace=/chat``
answers a room's members (``rooms.presence``), across the cluster. With a message queue, what one
process receives reaches the clients of every process. Both need the API key of
``server.api_key`` (see router/api_key.py) and are off while it is unset.
Every answer is JSON; an error is ``{"error": "...", "problems": [...]}`` with a 4xx status.
"""

from __future__ import annotations

import json
import logging

import flask
from pydantic import BaseModel, Field, ValidationError, field_validator
from werkzeug.exceptions import RequestEntityTooLarge

from router.config.models import check_namespace_name
from router.config.strict import StrictModel
from router.http.api_key import check_api_key, presented_api_key
from router.runtime.emit_request import (
    EmitRequest,
    field_problems,
    namespace_problem,
    send,
)

log = logging.getLogger("socketio_router.publish_api")

HOW_TO_SEND = "send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
EMIT_PATH = "/api/emit"
DISCONNECT_PATH = "/api/disconnect"
MEMBERS_PATH = "/api/rooms/<path:room>/members"
# Every method reaches the view, so a GET gets a JSON 405 rather than Flask's HTML page.
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class DisconnectRequest(StrictModel):
    """``{"namespace", "sid"}``: the client to disconnect, on whichever process holds it."""


    namespace: str = Field(..., description="the namespace the client is connected to")
    sid: str = Field(..., min_length=1, description="the client's sid")

    @field_validator("namespace")
    @classmethod
    def _namespace_shape(cls, namespace: str) -> str:
        return check_namespace_name(namespace)


class ApiError(Exception):
    """An answer other than 200: its status, its message and, for a bad body, the fields."""

    def __init__(self, status: int, message: str, problems: list | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems
        self.headers = headers or {}

    def response(self) -> flask.Response:
        body = {"error": self.message}
        if self.problems:
            body["problems"] = self.problems
        response = flask.jsonify(body)
        response.status_code = self.status
        response.headers.update(self.headers)
        return response


def publish_api(socketio, live) -> flask.Blueprint:
    """The blueprint the loader registers; ``socketio`` emits. ``live`` (the dispatcher) holds the
    config in force, read per request: ``live.compiled`` gives the key, the namespaces served and
    the largest body accepted, ``live.presence`` (router/runtime/presence.py) the members of rooms,
    when the config tracks any. A --reload swap replaces both there."""
    blueprint = flask.Blueprint("publish_api", __name__)
    if live.compiled.config.server.api_key:
        log.info("publish API on: POST %s and POST %s with the API key", EMIT_PATH, DISCONNECT_PATH)

    def guarded(handler):
        def view():
            compiled = live.compiled
            try:
                _authorize(compiled.config.server.api_key)
                return handler(_read_body(compiled.config.server.max_http_buffer_size), compiled)
            except ApiError as error:
                return error.response()

        view.__name__ = handler.__name__
        return view

    def members(room: str):
        compiled, presence = live.compiled, live.presence
        try:
            _authorize(compiled.config.server.api_key, method="GET")
            namespace = flask.request.args.get("namespace")
            if not namespace:
                raise ApiError(400, "give the namespace: ?namespace=/chat",
                               [{"field": "namespace", "message": "required"}])
            served = namespace_problem(namespace, compiled.namespaces)
            if served:
                raise ApiError(400, served, [{"field": "namespace", "message": served}])
            tracked = compiled.namespaces[namespace].policy
            if presence is None or tracked is None or not tracked.presence_anywhere:
                raise ApiError(404, f"namespace {namespace} tracks no presence; set rooms.presence on it")
            return flask.jsonify({"namespace": namespace, "room": room,
                                  "members": presence.members(namespace, room)})
        except ApiError as error:
            return error.response()

    @guarded
    def emit(body: dict, compiled):
        request = _validate(EmitRequest, body, compiled.namespaces)
        try:
            send(socketio, request)
        except (TypeError, ValueError) as exc:  # the JSON encoder; JSON in, so only a custom json module
            raise ApiError(400, f"the payload cannot be sent: {exc}") from None
        log.info("publish API: emitted %s", request.describe())
        return flask.jsonify({"ok": True, "namespace": request.namespace, "event": request.event,
                              "to": request.to})

    @guarded
    def disconnect(body: dict, compiled):
        request = _validate(DisconnectRequest, body, compiled.namespaces)
        # Disconnects here, or asks the other processes through the message queue.
        socketio.server.disconnect(request.sid, namespace=request.namespace)
        log.info("publish API: disconnect %s from %s", request.sid, request.namespace)
        return flask.jsonify({"ok": True, "namespace": request.namespace, "sid": request.sid})

    blueprint.add_url_rule(EMIT_PATH, "emit", emit, methods=ALL_METHODS)
    blueprint.add_url_rule(DISCONNECT_PATH, "disconnect", disconnect, methods=ALL_METHODS)
    blueprint.add_url_rule(MEMBERS_PATH, "members", members, methods=ALL_METHODS)
    return blueprint


def _authorize(api_key: str | None, method: str = "POST") -> None:
    request = flask.request
    if not api_key:
        raise ApiError(404, "the publish API is off; set server.api_key (e.g. \"${ROUTER_API_KEY}\") "
                            "to turn it on")
    if not check_api_key(request, api_key):
        missing = presented_api_key(request) is None
        log.warning("publish API: %s API key from %s", "no" if missing else "wrong", request.remote_addr)
        raise ApiError(401, f"missing API key: {HOW_TO_SEND}" if missing else "invalid API key",
                       headers={"WWW-Authenticate": 'Bearer realm="socketio-router"'})
    if request.method != method:
        raise ApiError(405, f"use {method}, not {request.method}", headers={"Allow": method})


def _read_body(limit: int) -> dict:
    request = flask.request
    if not request.is_json:
        raise ApiError(415, "send a JSON object with 'Content-Type: application/json'")
    request.max_content_length = limit
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise ApiError(413, f"the body is larger than {limit} bytes (server.max_http_buffer_size)") from None
    try:
        body = json.loads(raw, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object, got {type(body).__name__}")
    return body


def _no_constants(name: str):
    # NaN and Infinity parse in Python but are not JSON: a JavaScript client could not read them.
    raise ValueError(f"{name} is not a JSON value")


def _validate(model: type[BaseModel], body: dict, namespaces):
    """The request, or one 400 listing every problem of the body, the namespace served included."""
    try:
        request, problems = model.model_validate(body), []
    except ValidationError as exc:
        request, problems = None, field_problems(exc)
    namespace = body.get("namespace")
    served = None  # why the namespace is not served, when it is well formed
    if isinstance(namespace, str) and not any(p["field"] == "namespace" for p in problems):
        served = namespace_problem(namespace, namespaces)
    if served and not problems:
        raise ApiError(400, served, [{"field": "namespace", "message": served}])
    if problems:
        summary = [f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems]
        if served:
            problems.insert(0, {"field": "namespace", "message": served})
            summary.insert(0, served)  # it names the namespace itself
        raise ApiError(400, "invalid request: " + "; ".join(summary), problems)
    return request
