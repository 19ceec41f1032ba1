"""The startup lines: where the server listens, and what it serves there.

The first line keeps its ``socketio-router listening on http://HOST:PORT`` prefix: the
--reload supervisor waits for it, and scripts read the port from it.
"""

from __future__ import annotations

_LABEL_WIDTH = len("publish API")  # the longest label: the URLs line up whatever is on


def startup_lines(compiled, host: str, port: int, async_mode: str, config_file: str) -> list[str]:
    """The line that says the server listens, then one indented line per thing it serves."""
    from router.http.publish_api import DISCONNECT_PATH, EMIT_PATH, MEMBERS_PATH

    server = compiled.config.server
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    lines = [f"socketio-router listening on {base} (async_mode={async_mode}, config={config_file})"]
    rows = [("Socket.IO", f"{base}/{server.path}/  namespaces: {', '.join(compiled.namespaces)}")]
    if server.console:
        rows.append(("console", f"{base}/console"))
    if server.demo_page:
        rows.append(("demo page", f"{base}/  (talks to {server.demo_page})"))
    if server.api_key:
        members = ""
        if any(namespace.policy is not None and namespace.policy.presence_anywhere
               for namespace in compiled.namespaces.values()):
            members = f", GET {base}{MEMBERS_PATH.replace('<path:room>', '{room}')}"
        rows.append(("publish API", f"POST {base}{EMIT_PATH}, POST {base}{DISCONNECT_PATH}{members}  "
                                    f"(with the API key)"))
    if server.admin_ui is not None:
        rows.append(("Admin UI", f"namespace {server.admin_ui.namespace}: connect https://admin.socket.io to {base}"))
    return lines + [f"  {name.ljust(_LABEL_WIDTH)}  {text}" for name, text in rows]
