"""A sample step plugin that fails the way a buggy plugin does."""

from router import NoOptions, StepContext, step


@step("explode")
def explode(ctx: StepContext, options: NoOptions) -> None:
    """Raise an unexpected exception (its text must not reach the client)."""
    raise RuntimeError("secret internal detail")
