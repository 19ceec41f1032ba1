"""Plain-lookup templates give exactly what Jinja gives: the same value or the same error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.errors import StepError
from router.compile.template_paths import PathExpression, PathText
from router.compile.templates import ERROR_NAMES, EVENT_NAMES, TemplateEngine
from router.plugin_api import StepContext

KEYS = ["room", "user", "a", "0", "items", "keys", "get", "__class__", "mro", "fn", "obj"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS), children, max_size=4),
    max_leaves=12)

steps = st.one_of(
    st.sampled_from(KEYS).map(lambda key: f".{key}" if not key[0].isdigit() else f"[{key!r}]"),
    st.sampled_from(KEYS).map(lambda key: f"[{key!r}]"),
    st.integers(-2, 4).map(lambda index: f"[{index}]"),
)
paths = st.tuples(st.sampled_from(sorted(EVENT_NAMES)), st.lists(steps, max_size=3)).map(
    lambda parts: parts[0] + "".join(parts[1]))


class Opaque:
    """Not JSON: only Jinja knows how to read it."""

    room = "from an attribute"

    def __str__(self):
        return "opaque"


def context_for(data, args, auth):
    return {"data": data, "args": args, "event": "say", "namespace": "/chat", "sid": "abc",
            "auth": auth, "identity": {"sub": "ann", "obj": Opaque(), "roles": ["a", "b"], "fn": len},
            "error": None}


def outcome(value, context):
    try:
        result = value.render(context)
    except StepError as exc:
        return ("error", str(exc))
    return ("ok", type(result), repr(result) if not callable(result) else "callable")


ENGINE = TemplateEngine()


@settings(max_examples=400, deadline=None)
@given(path=paths, data=json_values, args=st.lists(json_values, max_size=3), auth=json_values)
def test_an_expression_renders_as_jinja_renders_it(path, data, args, auth):
    compiled = ENGINE.compile("{{ " + path + " }}")
    context = context_for(data, args, auth)
    jinja = compiled.jinja if isinstance(compiled, PathExpression) else compiled
    assert outcome(compiled, context) == outcome(jinja, context)


@settings(max_examples=300, deadline=None)
@given(first=paths, second=paths, data=json_values, args=st.lists(json_values, max_size=3))
def test_a_text_template_renders_as_jinja_renders_it(first, second, data, args):
    compiled = ENGINE.compile("{{ " + first + " }} said: {{- " + second + " }}!\n")
    context = context_for(data, args, None)
    jinja = compiled.jinja if isinstance(compiled, PathText) else compiled
    assert outcome(compiled, context) == outcome(jinja, context)


class Forbidden:
    """Stands in for Jinja to prove that the common case never reaches it."""

    source = "forbidden"

    def render(self, context):
        raise AssertionError("rendered through Jinja")


@pytest.mark.parametrize("text, expected", [
    ("{{ data.room }}", "lobby"),
    ("{{ data['user'] }}", {"name": "ann"}),
    ("{{ args[1] }}", 2),
    ("{{ data }}", {"room": "lobby", "user": {"name": "ann"}, "items": [1]}),
    ("{{ data.items }}", [1]),  # a key named like a dict method is the key
    ("{{ identity.sub }}", "ann"),
    ("{{ data.user.name }} joined {{ data.room }}", "ann joined lobby"),
    ("{{ args[1] }} + {{ data.items }} = {{ sid }}", "2 + [1] = abc"),
])
def test_the_common_templates_skip_jinja(text, expected):
    compiled = TemplateEngine().compile(text)
    assert isinstance(compiled, (PathExpression, PathText))
    compiled.jinja = Forbidden()
    context = context_for({"room": "lobby", "user": {"name": "ann"}, "items": [1]}, [1, 2], None)
    assert compiled.render(context) == expected


@pytest.mark.parametrize("text", ["{{ data.room | upper }}", "{{ args[data.i] }}", "{{ 'x' }}",
                                  "{% if data %}yes{% endif %}", "{{ data.room ~ '!' }}"])
def test_anything_else_is_left_to_jinja(text):
    assert not isinstance(TemplateEngine().compile(text), (PathExpression, PathText))


def test_a_missing_field_is_still_jinjas_error():
    compiled = TemplateEngine().compile("{{ data.room }}")
    with pytest.raises(StepError, match=r"template '\{\{ data.room \}\}': 'dict object' has no attribute 'room'"):
        compiled.render(context_for({"user": "ann"}, [], None))


def test_a_repeated_template_is_compiled_once():
    engine = TemplateEngine()
    first = engine.compile({"room": "{{ data.room }}", "text": "{{ data.user }} joined"})
    again = engine.compile(["{{ data.room }}", "{{ data.user }} joined"])
    assert first.items["room"] is again.items[0] and first.items["text"] is again.items[1]


@pytest.mark.parametrize("text", ["{{ identity.fn }}", "{{ identity.obj }}", "{{ identity.obj.room }}",
                                  "{{ data.items }}", "{{ args[5] }}", "{{ args[-1] }}",
                                  "<{{ identity.obj }}> {{ data.keys }}"])
def test_values_that_are_not_plain_json_are_left_to_jinja(text):
    compiled = TemplateEngine().compile(text)
    context = context_for({"room": "lobby"}, [1, 2], None)
    assert outcome(compiled, context) == outcome(compiled.jinja, context)


def test_a_path_template_compiles_its_jinja_fallback_only_when_needed():
    compiled = TemplateEngine().compile("{{ data.room }}")
    context = context_for({"room": "lobby"}, [], None)
    assert compiled.render(context) == "lobby" and compiled._jinja is None
    with pytest.raises(StepError):
        compiled.render(context_for({}, [], None))
    assert compiled._jinja is not None


IDENTITY = {"sub": "ann", "obj": Opaque(), "roles": ["a", "b"], "fn": len}


def step_context(data, args, auth, variables=None):
    ctx = StepContext(None, "/chat", "abc", "say", (data, *args), auth, IDENTITY, count=3)
    for name, value in (variables or {}).items():
        ctx.set_variable(name, value)
    return ctx


def outcome_in(value, ctx):
    try:
        result = value.render_in(ctx)
    except StepError as exc:
        return ("error", str(exc))
    return ("ok", type(result), repr(result) if not callable(result) else "callable")


@settings(max_examples=300, deadline=None)
@given(first=paths, second=paths, data=json_values, args=st.lists(json_values, max_size=2),
       auth=json_values)
def test_a_template_reads_from_a_step_context_what_it_renders_from_its_variables(first, second, data,
                                                                                 args, auth):
    for text in ("{{ " + first + " }}", "{{ " + first + " }} said: {{- " + second + " }}!"):
        compiled = ENGINE.compile(text)
        expected = outcome(compiled, step_context(data, args, auth).template_context())
        assert outcome_in(compiled, step_context(data, args, auth)) == expected


@pytest.mark.parametrize("text, expected", [
    ("{{ data.room }}", "lobby"), ("{{ args[1] }}", 2), ("{{ count }}", 3),
    ("{{ identity.roles[1] }} in {{ namespace }}", "b in /chat"),
    ("{{ response.status }}", 200),  # a variable an earlier step set (provides=)
    ("{{ data }}", {"room": "the variable's"}),  # a variable named like a built-in one wins, as in template_context
])
def test_a_plain_lookup_in_a_step_context_builds_no_template_context(text, expected):
    compiled = TemplateEngine().compile(text, EVENT_NAMES | {"response"})
    compiled.jinja = Forbidden()
    variables = {"response": {"status": 200}}
    if "the variable's" in str(expected):
        variables["data"] = {"room": "the variable's"}
    ctx = step_context({"room": "lobby"}, [2], None, variables)
    assert compiled.render_in(ctx) == expected
    assert ctx._template_context is None


def test_a_step_context_gives_each_template_variable_as_its_template_context_does():
    ctx = StepContext(None, "/chat", "abc", "say", ({"room": "lobby"}, 2), {"token": "t"},
                      {"sub": "ann"}, error="boom", count=4, failure={"message": "boom"})
    ctx.set_variable("response", {"status": 200})
    values = {name: ctx.template_value(name, "missing") for name in ERROR_NAMES | {"response", "other"}}
    assert ctx._template_context is None
    assert values == {**ctx.template_context(), "other": "missing"}
    assert set(ctx.template_context()) == ERROR_NAMES | {"response"}
    ctx.set_variable("later", 1)  # once built, the context is what it reads
    assert ctx.template_value("later") == 1 and ctx.template_value("sid") == "abc"
