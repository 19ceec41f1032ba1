"""The errors a user or a client sees: one startup error type, a step's error, a connect refusal.

Kept free of heavy imports: the CLI loads it before choosing how to monkey-patch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file, located as precisely as we can."""

    message: str
    file: str | None = None
    line: int | None = None
    path: str | None = None  # the YAML path, e.g. namespaces./chat.events.join[0]
    hint: str | None = None

    def render(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: "
        if self.path:
            text += f"{self.path}: "
        text += self.message
        if self.hint:
            text += f"\n  Hint: {self.hint}"
        return text


class StartupError(Exception):
    """The config, or a plugin it names, cannot be served.

    Carries every problem found, so a user fixes them all in one edit. The CLI
    prints ``str(error)`` and exits 2, never a traceback.
    """

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = "invalid configuration" if count == 1 else f"invalid configuration ({count} problems)"
        return head + ":\n" + "\n".join(p.render() for p in self.problems)


class StepError(Exception):
    """A step cannot do its job for this message; the message is shown to the client.

    Raise it from a plugin for a problem the client caused (a missing field, a
    forbidden room) or one the client should know the kind of. Any other
    exception is reported to the client as an internal error and logged with its
    traceback.

    ``code`` (e.g. ``"backend_rejected"``) makes the failure machine-readable: the
    default error event then carries ``code`` and the ``details`` (``status=409``)
    next to ``message``, as the abuse controls' refusals do, and the message is the
    plugin's own, without the ``"<plugin> failed: "`` prefix. ``logged=True``: the
    plugin has logged this failure itself (say once per burst), so the dispatcher
    logs it at debug level only.
    """

    def __init__(self, message: str, code: str | None = None, logged: bool = False, **details):
        super().__init__(message)
        self.code = code
        self.details = details
        self.logged = logged


class RoomRefused(StepError):
    """A client may not enter (or close) this room; the message reaches that client."""


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
