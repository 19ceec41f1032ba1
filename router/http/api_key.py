"""The server's API key: who may use the HTTP endpoints that are not for everyone
(the publish API, the console).

A request presents the key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
Keys are compared in constant time, and an empty expected key never matches: a
``${ENV}`` reference that resolved to nothing must not open the door.
"""

from __future__ import annotations

from router.credentials import bearer_token, secrets_equal


def presented_api_key(flask_request) -> str | None:
    """The key a request carries in its headers, or None."""
    return (bearer_token(flask_request.headers.get("Authorization"))
            or flask_request.headers.get("X-API-Key") or None)


def keys_match(presented: str | None, expected: str | None) -> bool:
    """Whether ``presented`` is ``expected``, in constant time; False if either is empty."""
    return secrets_equal(presented, expected)


def check_api_key(flask_request, expected: str | None) -> bool:
    """Whether ``flask_request`` presents ``expected`` (Authorization: Bearer or X-API-Key)."""
    return keys_match(presented_api_key(flask_request), expected)
