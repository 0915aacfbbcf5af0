"""Bearer tokens: HS256 JWTs carrying the actor id (`sub`), roles and an expiry.

The signing secret comes from `KINERJA_JWT_SECRET` (at least 32 bytes) or is generated once
into `<data_dir>/jwt-secret`, readable by its owner only. It is never logged.

Roles gate the kind of action; the domain then checks the person (the rater in force, the
employee who filed, the appeal's named reviewers). For raters and employees the actor id
is their employee id, because that is whom the domain compares against.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt

from api.errors import Unauthenticated
from api.settings import Settings, SettingsError

ALGORITHM = "HS256"
ISSUER = "kinerja-ledger"
SECRET_FILE = "jwt-secret"
MIN_SECRET_BYTES = 32
DEFAULT_TTL = timedelta(hours=8)


class Role(StrEnum):
    ADMIN = "admin"                      # HR (BKD): runs cycles, publishes rubrics
    RATER = "rater"                      # pejabat penilai kinerja
    EMPLOYEE = "employee"                # the appraised civil servant
    PEER = "peer"                        # gives peer/subordinate feedback
    CITIZEN_CHANNEL = "citizen_channel"  # complaint channel integration (JAKI, Qlue, ...)
    INSPECTOR = "inspector"              # Inspektorat / BKN auditor: reads everything
    APPEAL_PANEL = "appeal_panel"        # decides appeals


#: Roles that may read every record.
READ_ALL = frozenset({Role.ADMIN, Role.INSPECTOR, Role.APPEAL_PANEL})


@dataclass(frozen=True)
class Principal:
    """Who is calling: the actor every event they cause records, and their roles."""

    actor: str
    roles: frozenset[Role]

    def has(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def reads_all(self) -> bool:
        return bool(self.roles & READ_ALL)


def load_secret(settings: Settings) -> bytes:
    """The configured secret, or the one in the data folder (made on first use)."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value().encode()
    path = Path(settings.data_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: of two processes starting at once, one writes and both read it.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
    secret = path.read_text().strip().encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise SettingsError(f"{path} holds a token secret shorter than "
                            f"{MIN_SECRET_BYTES} bytes; delete it to generate a new one")
    return secret


#: Tokens whose signature was checked, remembered with their expiry. A client sends the
#: same token with every request; checking it again each time cost more than the command.
VERIFIED_CACHE_SIZE = 4096


class TokenService:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise SettingsError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._verified: dict[str, tuple[Principal, int]] = {}

    def issue(self, actor: str, roles: list[str] | tuple[str, ...], *,
              ttl: timedelta = DEFAULT_TTL, now: datetime | None = None) -> str:
        actor = actor.strip()
        if not actor:
            raise ValueError("a token needs an actor id")
        checked = sorted({str(Role(r)) for r in roles})
        if not checked:
            raise ValueError("a token needs at least one role")
        issued = now or datetime.now(timezone.utc)
        claims: dict[str, Any] = {"sub": actor, "roles": checked, "iss": ISSUER,
                                  "iat": int(issued.timestamp()),
                                  "exp": int((issued + ttl).timestamp())}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        # The cache key is the whole token, signature included: only a token that was
        # verified before, byte for byte, is taken from here, and only before it expires.
        known = self._verified.get(token)
        if known is not None and known[1] > datetime.now(timezone.utc).timestamp():
            return known[0]
        principal, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, int]:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], issuer=ISSUER,
                                options={"require": ["sub", "exp", "roles", "iss"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token is not valid") from None
        roles = claims.get("roles")
        if not isinstance(roles, list) or not roles:
            raise Unauthenticated("the token names no roles")
        try:
            parsed = frozenset(Role(r) for r in roles)
        except ValueError:
            raise Unauthenticated("the token names an unknown role") from None
        actor = claims.get("sub")
        if not isinstance(actor, str) or not actor.strip():
            raise Unauthenticated("the token names no actor")
        return Principal(actor=actor, roles=parsed), int(claims["exp"])
