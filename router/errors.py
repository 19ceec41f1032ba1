"""The errors a user or a client sees: one startup error type, and a step's error.

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
    forbidden room). Any other exception is reported to the client as an
    internal error and logged with its traceback.
    """
