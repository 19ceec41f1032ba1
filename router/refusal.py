"""A connect refusal: what an auth rule raises to say no.

It is not python-socketio's ConnectionRefusedError itself, so that loading the
auth rules (``check`` does) does not import python-socketio and the broker and
HTTP clients it brings; the dispatcher raises :meth:`Refused.answer` instead.
"""

from __future__ import annotations


class Refused(Exception):
    """A connect-auth rule said no; the client gets ``connect_error`` with a reason.

    The payload is machine-readable: ``{"message": "unauthorized", "rule":
    "token", "reason": "...", "data": {"rule": ..., "reason": ...}}``.
    ``data`` repeats rule and reason because socket.io-client keeps only
    ``message`` and ``data`` of a refusal (``err.message``, ``err.data``).
    """

    def __init__(self, reason: str, rule: str | None = None, message: str = "unauthorized"):
        super().__init__(message)
        self.reason = reason
        self.rule = rule
        self.error_args = {"message": message, "reason": reason, "data": {"reason": reason}}
        if rule is not None:
            self.for_rule(rule)

    def for_rule(self, rule: str) -> "Refused":
        """The same refusal, credited to ``rule`` when the plugin did not name one."""
        if self.rule is None or "rule" not in self.error_args:
            self.rule = self.rule or rule
            self.error_args["rule"] = self.rule
            self.error_args["data"]["rule"] = self.rule
        return self

    def answer(self):
        """python-socketio's ConnectionRefusedError with this payload, for the connect handler to
        raise: python-socketio sends its ``error_args`` as the CONNECT_ERROR data."""
        from socketio.exceptions import ConnectionRefusedError

        refusal = ConnectionRefusedError(self.error_args["message"])
        refusal.error_args = self.error_args
        return refusal
