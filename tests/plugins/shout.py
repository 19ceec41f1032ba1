"""A sample step plugin: sends the text upper-cased to the sender."""

from pydantic import Field

from router import Options, StepContext, StepError, step


class ShoutOptions(Options):
    event: str = Field("shout", description="the event to send")
    text: str = Field(..., description="what to shout; may be a template")


@step("shout", ShoutOptions)
def shout(ctx: StepContext, options: ShoutOptions) -> None:
    """Send options.text upper-cased to the sender."""
    if not options.text.strip():
        raise StepError("nothing to shout")
    ctx.socketio.emit(options.event, options.text.upper(), namespace=ctx.namespace, to=ctx.sid)
