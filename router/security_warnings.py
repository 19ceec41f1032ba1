"""Settings that load but weaken the server: ``check`` prints them, ``serve`` logs them."""

from __future__ import annotations

from .errors import Problem


def security_warnings(compiled) -> list[Problem]:
    """The warnings for a compiled config, located like startup errors."""
    warnings = []
    server = compiled.config.server
    origins = server.cors_allowed_origins
    if server.cors_allow_any_origin and (origins == "*" or (origins is not None and ("*" in origins
                                                                                    or not origins))):
        credentials = (" with its visitors' cookies" if server.cors_credentials else "")
        warnings.append(compiled.source.problem(
            ("server", "cors_allowed_origins"),
            f"any web page may open a Socket.IO connection to this server{credentials} "
            f"(cors_allow_any_origin is true)",
            hint="list the origins of your sites instead, or guard each namespace with an "
                 "origin or token rule"))
    return warnings
