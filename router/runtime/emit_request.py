"""A message that starts on the server: what to send, to which namespace and which clients.

The HTTP publish API and the ``emit`` command read the same fields, validate them
the same way and send through :func:`send`.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from router.config.models import (
    check_data_or_args,
    check_event_name,
    check_namespace_name,
)
from router.config.problems import suggest
from router.config.strict import StrictModel
from router.delivery import volatile_sends


class EmitRequest(StrictModel):
    """``{"namespace", "event", "data" | "args", "room" | "sid", "volatile"}``; without room or
    sid, every client of the namespace receives it."""

    namespace: str = Field(..., description="a namespace the config declares, e.g. /chat")
    event: str = Field(..., min_length=1, description="the event name clients listen to")
    data: Any = Field(None, description="one value to send")
    args: list[Any] | None = Field(None, description="several values to send")
    room: str | None = Field(None, min_length=1, description="only the clients in this room")
    sid: str | None = Field(None, min_length=1, description="only this client")
    volatile: bool = Field(False, description="not to a client that has other messages waiting to "
                                              "be sent (router/delivery.py)")

    @field_validator("namespace")
    @classmethod
    def _namespace_shape(cls, namespace: str) -> str:
        return check_namespace_name(namespace)

    @field_validator("event")
    @classmethod
    def _not_reserved(cls, event: str) -> str:
        return check_event_name(event)

    @model_validator(mode="after")
    def _one_of_each(self) -> "EmitRequest":
        check_data_or_args(self)
        if self.room is not None and self.sid is not None:
            raise ValueError("give either room or sid, not both")
        return self

    @property
    def to(self) -> str | None:
        """The room (a client's sid is a room of its own), or None for the whole namespace."""
        return self.room if self.room is not None else self.sid

    @property
    def payload(self) -> Any:
        """What python-socketio's ``emit`` takes: a tuple is sent as several arguments."""
        if self.args is not None:
            return tuple(self.args)
        return self.data

    def describe(self) -> str:
        target = f"room {self.room!r}" if self.room is not None else \
            f"client {self.sid!r}" if self.sid is not None else "every client"
        return f"{self.event!r} to {target} of {self.namespace}"


def namespace_problem(namespace: str, served) -> str | None:
    """Why ``namespace`` cannot be sent to, or None when the config declares it."""
    served = list(served)
    if namespace in served:
        return None
    hint = suggest(namespace, served) or ""
    return f"namespace {namespace!r} is not served by this config; {hint}".rstrip("; ")


def field_problems(error: ValidationError) -> list[dict]:
    """``[{"field": "event", "message": "..."}]`` from a pydantic error, worded for a caller."""
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or None
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field; the fields are namespace, event, data, args, room, sid, volatile"
        elif item["type"] == "missing":
            message = "required"
        problems.append({"field": field, "message": message})
    return problems


def send(emitter, request: EmitRequest) -> None:
    """Emit ``request`` through a Flask-SocketIO ``SocketIO`` or a python-socketio manager."""
    if request.volatile:
        with volatile_sends():
            emitter.emit(request.event, request.payload, namespace=request.namespace, to=request.to)
    else:
        emitter.emit(request.event, request.payload, namespace=request.namespace, to=request.to)
