"""The built-in step plugins: the same contract and registry as user plugins; they act through
``StepContext`` alone."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from router.config.models import check_data_or_args
from router.plugin_api import NoOptions, Options, StepContext, StepError, step


class Values(Options):
    """The values a step sends or answers: the incoming ones unless told otherwise."""

    data: Any = Field(None, description="one value; default: the values the client sent")
    args: list[Any] | None = Field(None, description="several values, e.g. [a, b]")

    @model_validator(mode="after")
    def _data_or_args(self):
        check_data_or_args(self)
        return self

    def values(self, ctx: StepContext) -> tuple:
        if self.args is not None:
            return tuple(self.args)
        if "data" in self.__pydantic_fields_set__:  # model_fields_set, without its property call
            return (self.data,)
        return ctx.args


class Payload(Values):
    """What an emitting step sends: the incoming event and values unless told otherwise."""

    event: str | None = Field(None, description="event name to send; default: the incoming one")
    volatile: bool = Field(False, description="drop the message for a client that has others "
                                              "waiting to be sent, instead of queueing it (as Node's "
                                              "volatile): for cursors, typing indicators, prices")


def outgoing(ctx: StepContext, options: Payload) -> tuple[str, tuple]:
    """The event name and values an emitting step sends."""
    return options.event or ctx.event, options.values(ctx)


@step("echo", Payload, needs_request_context=False)
def echo(ctx: StepContext, options: Payload) -> None:
    """Send the payload back to the sender (same event name unless `event:` is given)."""
    event, values = outgoing(ctx, options)
    ctx.emit(event, *values, volatile=options.volatile)


class EmitOptions(Payload):
    to: str | None = Field(None, description="a room or a client's sid; default: the sender")
    include_self: bool = Field(True, description="with `to:` a room, whether the sender gets it too")


@step("emit", EmitOptions, needs_request_context=False)
def emit(ctx: StepContext, options: EmitOptions) -> None:
    """Send a (templated) payload to the sender, or to a room or sid with `to:`."""
    event, values = outgoing(ctx, options)
    ctx.emit(event, *values, to=options.to, include_self=options.include_self,
             volatile=options.volatile)


class BroadcastOptions(Payload):
    include_self: bool = Field(True, description="whether the sender gets the broadcast too")


@step("broadcast", BroadcastOptions, needs_request_context=False)
def broadcast(ctx: StepContext, options: BroadcastOptions) -> None:
    """Send the payload to every client of the namespace (no callbacks)."""
    event, values = outgoing(ctx, options)
    ctx.broadcast(event, *values, include_self=options.include_self, volatile=options.volatile)


class RoomOptions(Options):
    room: Any = Field(..., description="the room's name, usually a template like {{ data.room }}")


@step("room.join", RoomOptions, needs_request_context=False)
def room_join(ctx: StepContext, options: RoomOptions) -> None:
    """Put the sender in a room."""
    ctx.join(options.room)


@step("room.leave", RoomOptions, needs_request_context=False)
def room_leave(ctx: StepContext, options: RoomOptions) -> None:
    """Take the sender out of a room."""
    ctx.leave(options.room)


class RelayOptions(Payload):
    room: Any = Field(..., description="the room (or a client's sid) to send to")
    include_self: bool = Field(True, description="whether the sender gets it too, if in the room")


@step("room.relay", RelayOptions, needs_request_context=False)
def room_relay(ctx: StepContext, options: RelayOptions) -> None:
    """Send the payload to everyone in a room."""
    event, values = outgoing(ctx, options)
    ctx.emit(event, *values, to=options.room, include_self=options.include_self,
             volatile=options.volatile)


@step("room.close", RoomOptions, needs_request_context=False)
def room_close(ctx: StepContext, options: RoomOptions) -> None:
    """Remove everyone from a room."""
    ctx.close_room(options.room)


@step("ack", Values, answers_callback=True, needs_request_context=False)
def ack(ctx: StepContext, options: Values) -> None:
    """Answer the client's callback (sent when the event's steps have all run)."""
    ctx.set_ack(*options.values(ctx))


@step("disconnect", NoOptions, needs_request_context=False)
def disconnect(ctx: StepContext, options: NoOptions) -> None:
    """Disconnect the sender from this namespace (after what earlier steps sent)."""
    ctx.disconnect()


@step("room.members", RoomOptions, answers_callback=True, needs_request_context=False)
def room_members(ctx: StepContext, options: RoomOptions) -> None:
    """Answer the client's callback with the room's members (`rooms.presence`), across the cluster."""
    ctx.set_ack(ctx.room_members(options.room))


class HistoryOptions(RoomOptions):
    limit: int | None = Field(None, ge=1, description="how many of the newest messages; default: "
                                                      "the namespace's history.size")
    replay: bool = Field(False, description="send them to the sender as the original events, before "
                                            "the steps after it run, instead of answering the callback")
    require_member: bool = Field(True, description="only for a client in the room; else the step "
                                                   "fails with 'not in room'")


@step("room.history", HistoryOptions, answers_callback=lambda options: options.replay is not True,
      needs_request_context=False)
def room_history(ctx: StepContext, options: HistoryOptions) -> None:
    """Answer the client's callback with the room's last messages (`rooms.history`), oldest first."""
    if options.require_member and not ctx.in_room(options.room):
        raise StepError("not in room")
    messages = ctx.room_history(options.room, options.limit)
    if not options.replay:
        ctx.set_ack(messages)
        return
    for message in messages:
        ctx.emit(message["event"], *message["args"])
