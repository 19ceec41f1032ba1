"""Config tests: YAML scenarios run in-process against a config, printed like a test runner.

A ``.test.yaml`` file names a config and lists scenarios. Each scenario gets a
fresh app built from the config (threading mode, no message queue, no Admin UI:
one process, nothing outside it) and named clients (Flask-SocketIO test clients)
that connect, emit and expect::

    config: chat.yaml                  # relative to this file
    env: {CHAT_TOKEN: s3cret}          # the only variables the config sees
    scenarios:
      - name: a member hears who joins
        steps:
          - alice: {connect: /chat, auth: {token: s3cret}}
          - alice: {emit: join, data: {room: r1, user: alice}, ack: true}
          - bob: {connect: /chat, auth: {token: nope}, refused: {rule: token}}

Actions: ``connect`` (with ``auth``, ``headers``, ``query``; ``refused`` expects a
refusal whose payload includes the given keys), ``emit`` (``data`` or ``args``;
``ack`` expects the callback's value), ``receive`` (the first unread event of that
name with the given ``data`` / ``args``), ``no_receive`` (an event name, or ``"*"``
for none at all), ``disconnect`` (the client leaves) and ``disconnected`` (the
server has closed the client). ``partial: true`` on an ``emit`` or a ``receive``
compares the ack or the data loosely: a mapping needs only the keys written, a list
the same number of items, each compared so; what changes per run (a sid, the ``at``
of a ``room.history`` message) can then be left out::

          - bob: {receive: presence, data: {room: lobby, action: join}, partial: true}
          - bob: {emit: backlog, data: {room: lobby}, ack: [{event: said, args: [hi]}], partial: true} Exit status: 0 all passed, 1 a scenario failed,
2 a file cannot be used (with file, line and YAML path).

No scenario reaches the network: the calls of ``http`` steps and rules are answered
by the scenario's ``backend:``, by URL path, whatever the host::

      - name: an order is placed
        backend:
          /orders: {status: 200, json: {room: r1}}     # status defaults to 200
          /socket/auth: {status: 401, json: {reason: revoked}}
          /stock: {fails: timeout}                     # or refused: no answer at all
        steps: ...

A call to a path the scenario does not answer fails the scenario, naming the call.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import json
import logging
import os
import sys
import time
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from router.builtins.backend_client import (
    Answer,
    Unreachable,
    json_body,
    using_transport,
)
from router.config.models import check_data_or_args
from router.config.problems import problems_from_validation
from router.config.source import ConfigSource, read_config_file
from router.config.strict import StrictModel
from router.errors import StartupError
from router.upstream.scenario_client import SentPackets, session_of, take_received

EXIT_FAILED = 1
VERBS = ("connect", "emit", "receive", "no_receive", "disconnect", "disconnected")
_OPTIONS_OF = {"connect": {"auth", "headers", "query", "refused"},
               "emit": {"data", "args", "ack", "partial"},
               "receive": {"data", "args", "partial"}}
_BARE_VERBS = ("disconnect", "disconnected")


# -- the file's shape --------------------------------------------------------------------------

class Action(StrictModel):
    """What one client does or expects in one step."""

    connect: str | None = Field(None, description="the namespace to connect to")
    auth: Any = None
    headers: dict[str, str] | None = None
    query: str | None = Field(None, description="the handshake's query string, e.g. token=abc")
    refused: dict[str, Any] | bool | None = Field(None, description="expect a refusal including these keys")
    emit: str | None = Field(None, description="the event to send")
    receive: str | None = Field(None, description="an event the client must have received")
    no_receive: str | None = Field(None, description='an event the client must not have received, or "*"')
    data: Any = None
    args: list[Any] | None = None
    ack: Any = None
    partial: bool = Field(False, description="compare the ack or the data by the keys written only")
    disconnect: bool | None = None
    disconnected: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_verb(cls, value: Any) -> Any:
        if isinstance(value, str) and value in _BARE_VERBS:
            return {value: True}
        if not isinstance(value, dict):
            raise ValueError("an action is a mapping like {emit: join, data: {...}} or a bare "
                             "disconnect / disconnected")
        return value

    @model_validator(mode="after")
    def _one_verb(self) -> "Action":
        verbs = [verb for verb in VERBS if verb in self.model_fields_set]
        if len(verbs) != 1:
            found = ", ".join(verbs) or "none"
            raise ValueError(f"an action has exactly one of {', '.join(VERBS)} (found: {found})")
        verb = verbs[0]
        allowed = _OPTIONS_OF.get(verb, set())
        extra = sorted(set(self.model_fields_set) - allowed - {verb})
        if extra:
            raise ValueError(f"{', '.join(extra)} cannot go with {verb}"
                             + (f" (it takes {', '.join(sorted(allowed))})" if allowed else ""))
        check_data_or_args(self)
        return self

    @property
    def verb(self) -> str:
        return next(verb for verb in VERBS if verb in self.model_fields_set)

    def has(self, name: str) -> bool:
        return name in self.model_fields_set


def _one_client(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        return {str(key): action for key, action in value.items()}
    raise ValueError("a step is one client name with its action, e.g. - alice: {emit: ping}")


class BackendAnswer(StrictModel):
    """What the scenario's backend answers on one URL path."""

    status: int = Field(200, ge=100, le=599, description="the HTTP status")
    json_: Any = Field(None, alias="json", description="a JSON body")
    text: str | None = Field(None, description="a text body, instead of json")
    headers: dict[str, str] = Field(default_factory=dict, description="answer headers")
    fails: Literal["timeout", "refused"] | None = Field(
        None, description="no answer at all: the call times out, or the connection is refused")

    @model_validator(mode="after")
    def _one_body(self) -> "BackendAnswer":
        if "json_" in self.model_fields_set and self.text is not None:
            raise ValueError("answer with json or with text, not both")
        return self


class Scenario(StrictModel):
    name: str
    backend: dict[str, BackendAnswer] = Field(default_factory=dict,
                                              description="the http steps' backend: answers by URL path")
    # `- alice: {emit: ping}`: a one-key mapping, so errors are located at alice.emit.
    steps: list[Annotated[dict[str, Action], BeforeValidator(_one_client)]] = Field(..., min_length=1)

    @field_validator("backend")
    @classmethod
    def _paths(cls, answers: dict) -> dict:
        for path in answers:
            if not path.startswith("/"):
                raise ValueError(f"backend: answers by URL path; write {'/' + path!r}, not {path!r}")
        return answers

    def actions(self) -> list[tuple[str, Action]]:
        return [next(iter(step.items())) for step in self.steps]


def _strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    return value


class ScenarioFile(StrictModel):
    config: str
    env: Annotated[dict[str, str], BeforeValidator(_strings)] = Field(default_factory=dict)
    scenarios: list[Scenario] = Field(..., min_length=1)


def load_scenarios(filename: str) -> tuple[ScenarioFile, ConfigSource]:
    """Read and validate a scenario file; every problem is a :class:`StartupError`."""
    source = read_config_file(filename, kind="scenario file",
                              example="pass the path of a .test.yaml file, e.g. configs/chat.test.yaml")
    if not isinstance(source.data, dict):
        raise StartupError(source.problem((), "a scenario file is a mapping with config: and scenarios:"))
    try:
        parsed = ScenarioFile.model_validate(source.data)
    except ValidationError as exc:
        raise StartupError(problems_from_validation(exc, source, (), ScenarioFile)) from None
    problems = []
    for index, scenario in enumerate(parsed.scenarios):
        connected: set[str] = set()
        for number, (client, action) in enumerate(scenario.actions()):
            if action.verb == "connect":
                connected.add(client)
            elif client not in connected:
                problems.append(source.problem(
                    ("scenarios", index, "steps", number, client),
                    f"client {client!r} is used before it connects",
                    hint=f"start with - {client}: {{connect: /namespace}}"))
    if problems:
        raise StartupError(problems)
    return parsed, source


# -- running ------------------------------------------------------------------------------------

class ScenarioFailure(Exception):
    """A step's expectation did not hold; ``detail`` is the readable explanation (a diff)."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


@dataclasses.dataclass
class Outcome:
    name: str
    passed: bool
    message: str = ""
    detail: str = ""
    logs: str = ""


class _Client:
    """A named test client, its namespace and what it has received but not yet expected."""

    def __init__(self, test_client, namespace: str):
        self.test_client = test_client
        self.namespace = namespace
        self.inbox: list[tuple[str, list]] = []

    def collect(self) -> None:
        for message in take_received(self.test_client, self.namespace):
            args = message["args"]
            # The test client keeps send() messages as the value itself, events as a list.
            if message["name"] in ("message", "json"):
                args = [args]
            self.inbox.append((message["name"], list(args)))


class StubBackend:
    """The transport of the http steps and rules during a scenario: its ``backend:`` answers."""

    def __init__(self, answers: dict[str, BackendAnswer]):
        self.answers = answers
        self.unanswered: list[str] = []

    def send(self, method: str, url: str, headers: dict, body: bytes, timeout: float) -> Answer:
        path = urlsplit(url).path
        answer = self.answers.get(path)
        if answer is None:
            self.unanswered.append(f"{method} {url}")
            raise Unreachable("connection_error", "the scenario's backend: does not answer this path")
        if answer.fails == "timeout":
            raise Unreachable("timeout", f"no answer (the scenario's backend: times out {path})")
        if answer.fails == "refused":
            raise Unreachable("connection_error", f"cannot connect (the scenario's backend: refuses {path})")
        headers = {name.lower(): value for name, value in answer.headers.items()}
        if answer.text is not None:
            headers.setdefault("content-type", "text/plain; charset=utf-8")
            return Answer(answer.status, headers, answer.text.encode())
        if "json_" in answer.model_fields_set:
            headers.setdefault("content-type", "application/json")
            return Answer(answer.status, headers, json_body(answer.json_))
        return Answer(answer.status, headers, b"")


class ScenarioRun:
    """One scenario against a fresh app."""

    PROBE_NAMESPACE = "/__scenario_probe__"  # never declared: the probe connect is refused

    def __init__(self, router_app, scenario: Scenario, source: ConfigSource, index: int):
        self.router = router_app
        self.scenario = scenario
        self.source = source
        self.index = index
        self.clients: dict[str, _Client] = {}
        self.packets = SentPackets(router_app.socketio.server)
        self.backend = StubBackend(scenario.backend)

    def run(self) -> None:
        with using_transport(self.backend):
            for number, (client, action) in enumerate(self.scenario.actions()):
                where = self.source.line_of(("scenarios", self.index, "steps", number))
                label = f"step {number + 1} (line {where}): {client} {action.verb}"
                target = getattr(action, action.verb)
                if isinstance(target, str):
                    label += f" {target}"
                try:
                    try:
                        getattr(self, "_" + action.verb)(client, action)
                    finally:  # an unanswered call explains any failure it caused
                        self._all_calls_answered()
                except ScenarioFailure as failure:
                    raise ScenarioFailure(f"{label}: {failure}", failure.detail) from None

    def _all_calls_answered(self) -> None:
        if self.backend.unanswered:
            call = self.backend.unanswered[0]
            known = ", ".join(self.scenario.backend) or "none"
            raise ScenarioFailure(f"the config called {call}, which the scenario's backend: does "
                                  f"not answer",
                                  f"paths answered: {known}\nhint: add backend: {{{urlsplit(call.split()[1]).path}: "
                                  f"{{status: 200, json: ...}}}} to the scenario")

    # -- actions --

    def _connect(self, name: str, action: Action) -> None:
        socketio = self.router.socketio
        if name in self.clients and self.clients[name].test_client.is_connected(self.clients[name].namespace):
            raise ScenarioFailure(f"{name} is already connected")
        # The test client connects when created; create it on a namespace nobody declares,
        # then watch the real attempt.
        test_client = socketio.test_client(self.router.app, namespace=self.PROBE_NAMESPACE)
        self.packets.install()
        self.packets.refusals.pop(session_of(test_client), None)
        test_client.connect(namespace=action.connect, auth=action.auth, headers=action.headers,
                            query_string=action.query)
        refusal = self.packets.refusals.get(session_of(test_client))
        accepted = test_client.is_connected(action.connect)
        self.clients[name] = _Client(test_client, action.connect)
        expected = action.refused
        if expected is None or expected is False:
            if not accepted:
                raise ScenarioFailure(f"{name} was refused on {action.connect}",
                                      "refusal: " + _dump(refusal))
            return
        if accepted:
            raise ScenarioFailure(f"{name} was accepted on {action.connect}, expected a refusal")
        if isinstance(expected, dict) and not _matches(refusal, expected, partial=True):
            raise ScenarioFailure("the refusal differs", _diff(expected, _projection(refusal, expected)))

    def _emit(self, name: str, action: Action) -> None:
        client = self._connected(name)
        args = action.args if action.args is not None else ([action.data] if action.has("data") else [])
        wants_ack = action.has("ack")
        self.packets.acks.pop(session_of(client.test_client), None)
        client.test_client.emit(action.emit, *args, namespace=client.namespace, callback=wants_ack)
        if not wants_ack:
            return
        received = self.packets.acks.get(session_of(client.test_client))
        if received is None:
            raise ScenarioFailure("no ack: the server did not answer the callback",
                                  "hint: an event answers callbacks with an ack step")
        if not received:  # e.g. on_error steps ran and none of them was an ack
            raise ScenarioFailure("the server answered the callback with no value",
                                  "expected: " + _dump(action.ack))
        value = received[0] if len(received) == 1 else received
        if not _matches(value, action.ack, action.partial):
            shown = _projection(value, action.ack) if action.partial else value
            raise ScenarioFailure("the ack differs", _diff(action.ack, shown))

    def _receive(self, name: str, action: Action) -> None:
        client = self._client(name)
        client.collect()
        named = [(index, args) for index, (event, args) in enumerate(client.inbox) if event == action.receive]
        expected = None
        if action.args is not None:
            expected = action.args
        elif action.has("data"):
            expected = [action.data]
        for index, args in named:
            if expected is None or _matches(args, expected, action.partial):
                del client.inbox[index]
                return
        if not named:
            got = ", ".join(event for event, _ in client.inbox) or "nothing"
            raise ScenarioFailure(f"{name} did not receive {action.receive!r}", f"unread events: {got}")
        shown_expected = expected[0] if action.args is None else expected
        closest = named[0][1]
        if action.partial:
            closest = _projection(closest, expected)
        shown = closest[0] if action.args is None and len(closest) == 1 else closest
        raise ScenarioFailure(f"{name} received {action.receive!r}, but not with the expected "
                              f"{'args' if action.args is not None else 'data'}",
                              _diff(shown_expected, shown))

    def _no_receive(self, name: str, action: Action) -> None:
        client = self._client(name)
        client.collect()
        unwanted = [(event, args) for event, args in client.inbox
                    if action.no_receive == "*" or event == action.no_receive]
        if unwanted:
            event, args = unwanted[0]
            raise ScenarioFailure(f"{name} received {event!r}", "with: " + _dump(args))

    def _disconnect(self, name: str, action: Action) -> None:
        client = self._connected(name)
        client.test_client.disconnect(namespace=client.namespace)

    def _disconnected(self, name: str, action: Action) -> None:
        client = self._client(name)
        if client.test_client.is_connected(client.namespace):
            raise ScenarioFailure(f"{name} is still connected to {client.namespace}")

    def _client(self, name: str) -> _Client:
        return self.clients[name]

    def _connected(self, name: str) -> _Client:
        client = self.clients[name]
        if not client.test_client.is_connected(client.namespace):
            raise ScenarioFailure(f"{name} is not connected to {client.namespace}")
        return client


def _matches(actual: Any, expected: Any, partial: bool) -> bool:
    """``actual == expected``, or with ``partial`` the keys ``expected`` writes, at every depth."""
    if not partial:
        return actual == expected
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and _matches(actual[key], value, True) for key, value in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, (list, tuple)) and len(actual) == len(expected) and all(
            _matches(item, wanted, True) for item, wanted in zip(actual, expected))
    return actual == expected


def _projection(actual: Any, expected: Any) -> Any:
    """The part of ``actual`` that ``expected`` talks about, so the diff shows only that."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        return {key: _projection(actual[key], expected[key]) for key in expected if key in actual}
    if isinstance(actual, (list, tuple)) and isinstance(expected, list) and len(actual) == len(expected):
        return [_projection(item, wanted) for item, wanted in zip(actual, expected)]
    return actual


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=repr, ensure_ascii=False)


def _diff(expected: Any, received: Any) -> str:
    lines = difflib.unified_diff(_dump(expected).splitlines(), _dump(received).splitlines(),
                                 "expected", "received", lineterm="", n=3)
    return "\n".join(lines)


# -- the command --------------------------------------------------------------------------------

def scenario_source(config_source: ConfigSource) -> ConfigSource:
    """The config as a scenario runs it: one process, threading mode, nothing outside it."""
    data = dict(config_source.data) if isinstance(config_source.data, dict) else config_source.data
    if isinstance(data, dict):
        server = dict(config_source.raw("server") or {})
        server["async_mode"] = "threading"
        server.pop("message_queue", None)
        server.pop("admin_ui", None)
        data["server"] = server
    return dataclasses.replace(config_source, data=data)


def run_file(filename: str, out=sys.stdout) -> tuple[int, int]:
    """Run every scenario of ``filename``; print a line each; return (passed, failed)."""
    from router.compile.load import load_source
    from router.server.app import create_app

    parsed, source = load_scenarios(filename)
    config_path = os.path.normpath(os.path.join(os.path.dirname(filename), parsed.config))
    try:
        config_source = scenario_source(read_config_file(config_path, parsed.env))
    except StartupError as exc:
        if any(p.message == "config file not found" for p in exc.problems):
            raise StartupError(source.problem(("config",), f"config file {config_path} not found",
                                              hint="config: is relative to the scenario file")) from None
        raise
    print(f"{filename}  (config {config_path})", file=out)
    passed = failed = 0
    for index, scenario in enumerate(parsed.scenarios):
        outcome = _run_one(load_source, create_app, config_source, scenario, source, index)
        if outcome.passed:
            passed += 1
            print(f"  PASS  {scenario.name}", file=out)
            continue
        failed += 1
        print(f"  FAIL  {scenario.name}", file=out)
        print(f"        {outcome.message}", file=out)
        for line in outcome.detail.splitlines():
            print(f"          {line}", file=out)
        if outcome.logs.strip():
            print("        router log:", file=out)
            for line in outcome.logs.rstrip().splitlines():
                print(f"          {line}", file=out)
    return passed, failed


def _run_one(load_source, create_app, config_source, scenario, source, index) -> Outcome:
    logger = logging.getLogger("socketio_router")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        router_app = create_app(load_source(config_source))
        ScenarioRun(router_app, scenario, source, index).run()
        return Outcome(scenario.name, True)
    except ScenarioFailure as failure:
        return Outcome(scenario.name, False, str(failure), failure.detail, buffer.getvalue())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def scenarios_command(files: list[str]) -> int:
    """``python router.py test FILE...``: exit 0 if every scenario passed, 1 if one failed."""
    started = time.monotonic()
    passed = failed = 0
    for filename in files:
        file_passed, file_failed = run_file(filename)
        passed += file_passed
        failed += file_failed
    elapsed = time.monotonic() - started
    summary = f"{passed} passed" + (f", {failed} failed" if failed else "") + f" in {elapsed:.2f}s"
    print(summary)
    return EXIT_FAILED if failed else 0

