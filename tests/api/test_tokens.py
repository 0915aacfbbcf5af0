"""Verified tokens are remembered, but never past their expiry and never for a token that
differs in any byte from the one that was checked."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from api.auth import DEFAULT_TTL, TokenService
from api.errors import Unauthenticated

SECRET = b"s" * 40


def test_a_token_remembered_as_valid_is_refused_once_it_expires() -> None:
    tokens = TokenService(SECRET)
    # Issued so that it expires about a second and a half from now.
    issued = datetime.now(timezone.utc) - DEFAULT_TTL + timedelta(seconds=1.5)
    token = tokens.issue("hr:siti", ["admin"], now=issued)
    assert tokens.verify(token).actor == "hr:siti"
    assert tokens.verify(token).actor == "hr:siti"  # now from the cache
    time.sleep(2.1)
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.verify(token)


def test_a_token_altered_after_a_valid_one_was_remembered_is_refused() -> None:
    tokens = TokenService(SECRET)
    token = tokens.issue("hr:siti", ["admin"])
    tokens.verify(token)
    header, claims, signature = token.split(".")
    altered_signature = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for altered in (f"{header}.{claims}.{altered_signature}", token + "A",
                    TokenService(b"x" * 40).issue("hr:siti", ["admin"])):
        with pytest.raises(Unauthenticated):
            tokens.verify(altered)


def test_the_cache_stays_bounded() -> None:
    from api import auth

    tokens = TokenService(SECRET)
    for n in range(auth.VERIFIED_CACHE_SIZE + 10):
        tokens.verify(tokens.issue(f"actor-{n}", ["peer"]))
    assert len(tokens._verified) <= auth.VERIFIED_CACHE_SIZE
