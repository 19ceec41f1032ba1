"""A connect refusal: what an auth rule raises to say no."""

from __future__ import annotations

from socketio.exceptions import ConnectionRefusedError as _SocketIORefusal


class Refused(_SocketIORefusal):
    """A connect-auth rule said no; the client gets ``connect_error`` with a reason.

    The payload is machine-readable: ``{"message": "unauthorized", "rule":
    "token", "reason": "..."}``. python-socketio sends ``error_args`` as the
    CONNECT_ERROR data, so setting it directly keeps our shape.
    """

    def __init__(self, reason: str, rule: str | None = None, message: str = "unauthorized"):
        super().__init__(message)
        self.reason = reason
        self.rule = rule
        self.error_args = {"message": message, "reason": reason}
        if rule is not None:
            self.error_args["rule"] = rule

    def for_rule(self, rule: str) -> "Refused":
        """The same refusal, credited to ``rule`` when the plugin did not name one."""
        if self.rule is None:
            self.rule = rule
            self.error_args["rule"] = rule
        return self
