"""Plugins from installed packages (entry points), and server options reaching python-socketio."""

from __future__ import annotations

import textwrap


def test_entry_point_plugin_from_an_installed_package(tmp_path, monkeypatch, build_router, connect):
    (tmp_path / "fancy_router_steps.py").write_text(textwrap.dedent("""
        from router import Options, step

        class StampOptions(Options):
            stamp: str

        @step("stamp", StampOptions)
        def stamp(ctx, options):
            ctx.set_ack(f"{options.stamp}:{ctx.data}")
    """))
    dist = tmp_path / "fancy_router_steps-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fancy-router-steps\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[socketio_router.plugins]\nfancy = fancy_router_steps\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    router_app = build_router("""
        namespaces:
          /p:
            events:
              s:
                - stamp: {stamp: "{{ event }}"}
    """)
    assert connect(router_app, "/p").emit("s", "x", namespace="/p", callback=True) == "s:x"


def test_server_options_reach_python_socketio(build_router):
    router_app = build_router("""
        server:
          ping_interval: 7
          ping_timeout: 3
          max_http_buffer_size: 4096
          cors_allowed_origins: ["https://app.example"]
          secret_key: k
          path: /rt/
          transports: [websocket]
        namespaces:
          /a: {}
    """)
    eio = router_app.socketio.server.eio
    assert (eio.ping_interval, eio.ping_timeout, eio.max_http_buffer_size) == (7, 3, 4096)
    assert eio.cors_allowed_origins == ["https://app.example"]
    assert eio.transports == ["websocket"]
    assert router_app.app.config["SECRET_KEY"] == "k"
    assert router_app.app.wsgi_app.engineio_path == "/rt/"


def test_defaults_are_same_origin_and_eventlet(build_router):
    router_app = build_router("""
        namespaces:
          /a: {}
    """)
    assert router_app.socketio.async_mode == "eventlet"
    assert router_app.socketio.server.eio.cors_allowed_origins is None  # same origin only
