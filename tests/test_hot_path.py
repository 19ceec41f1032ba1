"""Per-message work the router does not do: options rebuilt without templates, log text
nobody reads; and the faster binary scan of every packet sent answers as python-socketio's."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import router.runtime.dispatch

CONFIG = """
    plugins_dir: {plugins}
    namespaces:
      /chat:
        events:
          plain:
            - record: {{tag: fixed}}
          templated:
            - record: {{tag: "{{{{ data.tag }}}}"}}
          join:
            - room.join: {{room: "{{{{ data.room }}}}"}}
"""

RECORDER = '''
from router import Options, step

SEEN = []


class RecordOptions(Options):
    tag: str


@step("record", RecordOptions)
def record(ctx, options):
    SEEN.append(options)
'''


@pytest.fixture
def chat(build_router, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "record.py").write_text(RECORDER)
    router_app = build_router(CONFIG.format(plugins=plugins))
    return router_app, router_app.compiled.registry.modules["record"].SEEN


def test_options_without_templates_are_the_same_object_every_message(chat, connect):
    router_app, seen = chat
    client = connect(router_app, "/chat")
    client.emit("plain", {}, namespace="/chat")
    client.emit("plain", {}, namespace="/chat")
    assert len(seen) == 2 and seen[0] is seen[1] and seen[0].tag == "fixed"


def test_templated_options_are_rendered_per_message(chat, connect):
    router_app, seen = chat
    client = connect(router_app, "/chat")
    client.emit("templated", {"tag": "a"}, namespace="/chat")
    client.emit("templated", {"tag": "b"}, namespace="/chat")
    assert [options.tag for options in seen] == ["a", "b"]
    assert seen[0].model_fields_set == {"tag"}


def test_a_filtered_failure_log_never_formats_the_payload(chat, connect, monkeypatch, caplog):
    router_app, _ = chat
    formatted = []
    real = router.runtime.dispatch.shown
    monkeypatch.setattr(router.runtime.dispatch, "shown", lambda value, *a: formatted.append(1) or real(value, *a))
    # set_level goes through Logger.setLevel, which clears logging's cache of enabled levels
    # (setting .level directly kept what an earlier test had cached: WARNING enabled).
    caplog.set_level(logging.ERROR, logger="socketio_router")
    client = connect(router_app, "/chat")
    client.emit("join", {"user": "x" * 100_000}, namespace="/chat")  # no room: a StepError
    errors = [e for e in client.get_received("/chat") if e["name"] == "error"]
    assert errors and "room" in errors[0]["args"][0]["message"]
    assert formatted == []


def test_an_emitted_failure_log_shows_the_payload_cut_short(chat, connect, caplog):
    router_app, _ = chat
    client = connect(router_app, "/chat")
    with caplog.at_level(logging.WARNING, logger="socketio_router"):
        client.emit("join", {"user": "x" * 100_000}, namespace="/chat")
    line = next(r.getMessage() for r in caplog.records if "room.join" in r.getMessage())
    assert "args=({'user': 'xxxx" in line and line.endswith("...)")
    assert len(line) < 500


json_with_bytes = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.binary(max_size=3),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children,
                                                                      max_size=4)
    | st.tuples(children),  # python-socketio does not look inside tuples; neither may we
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(data=json_with_bytes)
def test_the_binary_scan_answers_as_python_socketio(data):
    from socketio import packet

    from router.upstream.packets import CheckedPacket, has_binary

    assert has_binary(data) == packet.Packet.data_is_binary(data)
    built = CheckedPacket(packet.EVENT, namespace="/chat", data=["event", data])
    assert built.packet_type == (packet.BINARY_EVENT if has_binary(data) else packet.EVENT)
