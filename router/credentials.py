"""Comparing secrets a client presents: in constant time, hiding their length, never raising.

One place for the token rule, the API key of the HTTP endpoints and the Admin UI login,
so each compares the same way.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Iterable


def _digest(text: str) -> bytes:
    # surrogatepass: JSON may carry lone surrogates ("\ud800"); they must compare, not raise.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def secrets_equal(presented: str | None, expected: str | None) -> bool:
    """Whether ``presented`` is ``expected``, in constant time; False if either is empty.

    The digests are compared, not the texts: compare_digest on texts of different
    lengths returns early, which would tell an attacker the secret's length.
    """
    if not presented or not expected:
        return False
    return hmac.compare_digest(_digest(presented), _digest(expected))


def secret_in(presented: str, accepted: Iterable[str]) -> bool:
    """Whether ``presented`` is one of ``accepted``, comparing with every candidate, always."""
    found = False
    for value in accepted:
        found |= secrets_equal(presented, value)
    return found


def bearer_token(header: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer <token>`` value (any case); None without one."""
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None
