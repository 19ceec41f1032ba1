"""Let the router's own pages connect when ``cors_allowed_origins`` lists other origins.

A page served by this server is same-origin, which Engine.IO's default (None)
allows; an explicit list would refuse it, e.g. configs/chat.yaml's list on any
port but 5000. :func:`allow_own_origin` turns the server's list into a callable
that also accepts the request's own origins, computed as Engine.IO computes them
for its default. Listed origins keep working; "*" and [] are left as they are.

| module | name | why |
|---|---|---|
| engineio.base_server | ``BaseServer.cors_allowed_origins`` (read, replaced after construction) | add the request's own origins to a configured list |
| engineio.base_server | ``BaseServer._cors_allowed_origins(environ)`` (mirrored) | the own origins of a request, as the default (None) allows them |
| engineio.base_server | a callable ``cors_allowed_origins(origin, environ)`` (documented since 4.12) | answer per request |

tested with: python-engineio 4.15.1
"""

from __future__ import annotations

from router.upstream._contract import Needs, Seam

SEAM = Seam("engine.io cors", {"python-engineio": "4.15.1"}, requires=[
    Needs("engineio.base_server", "BaseServer", ("cors_allowed_origins",), attributes=("cors_allowed_origins",)),
    Needs("engineio.base_server", "BaseServer._cors_allowed_origins", ("self", "environ"), exact=True),
])


def allow_own_origin(eio) -> None:
    """Make Engine.IO server ``eio`` accept the request's own origins beside the listed ones."""
    configured = eio.cors_allowed_origins
    if configured is None or configured == "*" or configured == [] or callable(configured):
        return
    listed = [configured] if isinstance(configured, str) else list(configured)
    if "*" in listed:
        return

    def allowed(origin: str, environ: dict) -> bool:
        return origin in listed or origin in own_origins(environ)

    eio.cors_allowed_origins = allowed


def own_origins(environ: dict) -> list[str]:
    """The origins of the request's own host, as Engine.IO computes them for its default."""
    if "wsgi.url_scheme" not in environ or "HTTP_HOST" not in environ:
        return []
    scheme, host = environ["wsgi.url_scheme"], environ["HTTP_HOST"]
    origins = [f"{scheme}://{host}"]
    if "HTTP_X_FORWARDED_PROTO" in environ or "HTTP_X_FORWARDED_HOST" in environ:
        forwarded_scheme = environ.get("HTTP_X_FORWARDED_PROTO", scheme).split(",")[0].strip()
        forwarded_host = environ.get("HTTP_X_FORWARDED_HOST", host).split(",")[0].strip()
        origins.append(f"{forwarded_scheme}://{forwarded_host}")
    return origins
