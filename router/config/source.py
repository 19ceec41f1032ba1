"""Read a YAML config: plain data plus the line of every key, with ${ENV} references resolved."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from router.errors import Problem, StartupError
from router.text import format_path

Path = tuple  # keys (str) and list indices (int), from the document root

# ${VAR} or ${VAR:-default}; $${...} stays literal (an escape, as in docker compose).
_ENV_REF = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TEMPLATE_QUOTE_HINT = 'quote values that start with {{ or {%, e.g. room: "{{ data.room }}"'


@dataclass
class ConfigSource:
    """A parsed config file: its data, where each key stands, and which values came from ${ENV}."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    env_paths: set[Path] = field(default_factory=set)
    env_defaults: set[Path] = field(default_factory=set)  # where ${VAR:-default} used its default

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    @property
    def directory(self) -> str:
        """Where the config's relative paths start: the directory of its file (the working
        directory for text that came from no file, such as ``<string>``)."""
        if self.file.startswith("<"):
            return os.getcwd()
        return os.path.dirname(os.path.abspath(self.file))

    def resolve(self, path: str) -> str:
        """A path written in the config, made absolute from :attr:`directory`."""
        return os.path.normpath(os.path.join(self.directory, path))

    def raw(self, key: str, kind: type = dict) -> Any:
        """A top-level value as written, before validation; None unless it is a ``kind``.

        For what must be known before the file can be validated: the async mode to
        monkey-patch for, the plugins directory to load or watch, the socket to bind.
        """
        value = self.data.get(key) if isinstance(self.data, dict) else None
        return value if isinstance(value, kind) else None

    def problem(self, path: Path, message: str, hint: str | None = None) -> Problem:
        return Problem(message=message, file=self.file, line=self.line_of(path),
                       path=format_path(tuple(path)) or None, hint=hint)


def read_config_file(filename: str, environ: Mapping[str, str] | None = None, *,
                     kind: str = "config file",
                     example: str = "pass the path of a YAML file, e.g. --config configs/chat.yaml",
                     ) -> ConfigSource:
    """Read and parse ``filename``; every failure is a :class:`StartupError`.

    ``kind`` and ``example`` word a missing file (a scenario file is not a config file).
    """
    try:
        with open(filename, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise StartupError(Problem(f"{kind} not found", file=filename, hint=example)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(Problem(f"cannot read the {kind}: {exc}", file=filename)) from None
    return parse_config_text(text, filename, environ)


def parse_config_text(text: str, filename: str = "<string>",
                      environ: Mapping[str, str] | None = None) -> ConfigSource:
    """Parse YAML text into a :class:`ConfigSource`."""
    environ = os.environ if environ is None else environ
    loader, root = _compose_fast(text)
    try:
        if loader is None:  # libyaml refused it: the pure-Python parser words the error
            loader = yaml.SafeLoader(text)
            root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise StartupError(_syntax_problem(exc, filename, text)) from None
    except yaml.YAMLError as exc:
        raise StartupError(Problem(f"YAML error: {exc}", file=filename)) from None
    finally:
        loader.dispose()
    source = ConfigSource(file=filename, data=None)
    if root is None:
        source.data = {}
        return source
    problems: list[Problem] = []
    builder = _Builder(loader, source, environ, problems)
    source.data = builder.build(root, ())
    if problems:
        raise StartupError(problems)
    return source


def _compose_fast(text: str):
    """(loader, root node) from libyaml, about ten times faster; (None, None) if it is not
    installed or finds an error, whose message our hints are not written for."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None:
        return None, None
    loader = fast(text)
    try:
        return loader, loader.get_single_node()
    except yaml.YAMLError:
        return None, None
    finally:
        loader.dispose()


# What each opening character is closed with, and how to write its content without one.
_CLOSERS = {"[": ("]", ", or write the list one item per line (- item)"),
            "{": ("}", ", or write the mapping one key per line (key: value)"),
            '"': ('"', ""), "'": ("'", "")}


def _syntax_problem(exc: yaml.MarkedYAMLError, filename: str, text: str) -> Problem:
    message = "YAML syntax error: " + " ".join(filter(None, [exc.context, exc.problem]))
    unclosed = _unclosed(exc, text)
    if unclosed:  # the line to fix is where it opened, not where the parser gave up
        opener, line, column = unclosed
        closer, otherwise = _CLOSERS[opener]
        return Problem(message=f"{message} on line {exc.problem_mark.line + 1}; the {opener!r} on "
                               f"line {line} (column {column}) is never closed",
                       file=filename, line=line, hint=f"close it with {closer!r} on line {line}{otherwise}")
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    hint = "check the indentation and quoting around this line"
    if "\t" in text and ("tab" in (exc.problem or "") or "found character" in (exc.problem or "")):
        hint = "YAML does not allow tabs for indentation; use spaces"
    elif exc.problem and "mapping values are not allowed" in exc.problem:
        hint = "a value containing ': ' must be quoted, e.g. text: \"a: b\""
    elif exc.problem and "found character '%'" in exc.problem:
        hint = _TEMPLATE_QUOTE_HINT
    return Problem(message=message, file=filename, line=line, hint=hint)


def _unclosed(exc: yaml.MarkedYAMLError, text: str) -> tuple[str, int, int] | None:
    """``("[", line, column)`` when the error is a ``[``, ``{`` or quote left open on an earlier
    line (the parser's context mark points at it), else None."""
    start, end = exc.context_mark, exc.problem_mark
    if start is None or end is None or start.line >= end.line:
        return None
    lines = text.splitlines()
    if start.line >= len(lines) or start.column >= len(lines[start.line]):
        return None
    opener = lines[start.line][start.column]
    return (opener, start.line + 1, start.column + 1) if opener in _CLOSERS else None


class _Builder:
    """Turns composed YAML nodes into Python data, recording lines and resolving ${ENV}."""

    def __init__(self, loader, source: ConfigSource, environ, problems: list[Problem]):
        self.loader = loader
        self.source = source
        self.environ = environ
        self.problems = problems

    def build(self, node, path: Path) -> Any:
        self.source.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (index,)) for index, item in enumerate(node.value)]
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, str):
            value = self._substitute(value, path)
        return value

    def _mapping(self, node, path: Path) -> dict:
        result: dict = {}
        first_seen: dict = {}
        merged: list[dict] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem(
                    "a key must be a plain value, not a mapping or a list",
                    file=self.source.file, line=key_node.start_mark.line + 1,
                    path=format_path(path) or None, hint=_TEMPLATE_QUOTE_HINT))
                continue
            # Keys stay the text the user wrote: an event named `on` or `yes` is not a boolean.
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first_seen:
                self.problems.append(Problem(
                    f"duplicate key {key!r} (first defined on line {first_seen[key]})",
                    file=self.source.file, line=line, path=format_path(path + (key,)),
                    hint="YAML keeps only the last value of a repeated key; merge the two entries"))
                continue
            first_seen[key] = line
            self.source.lines[path + (key,)] = line
            result[key] = self.build(value_node, path + (key,))
        for extra in merged:
            for key, value in extra.items():
                result.setdefault(key, value)
        return result

    def _merge_sources(self, node, path: Path) -> list[dict]:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        sources = []
        for item in nodes:
            value = self.build(item, path)
            if isinstance(value, dict):
                sources.append(value)
        return sources

    def _substitute(self, text: str, path: Path) -> str:
        if "${" not in text:
            return text

        def replace(match: re.Match) -> str:
            escaped, name, default = match.groups()
            if escaped:
                return match.group(0)[1:]
            self.source.env_paths.add(path)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                self.source.env_defaults.add(path)
                return default
            self.problems.append(self.source.problem(
                path, f"environment variable {name} is not set",
                hint=f"export {name}=... before starting, or give a default: ${{{name}:-value}}"))
            return ""

        return _ENV_REF.sub(replace, text)
