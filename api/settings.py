"""All configuration, read in one place.

`KINERJA_DATABASE_URL` chooses the store; `library_env()` maps it onto the settings of the
`eventsourcing` library, and nothing else in the project reads the environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".kinerja")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


@dataclass(frozen=True)
class StoreLocation:
    kind: str  # "memory", "sqlite" or "postgresql"
    sqlite_path: Path | None = None
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""
    schema: str = ""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KINERJA_", extra="ignore")

    #: `sqlite:///path/file.sqlite3`, `postgresql://user:pw@host:port/db`, or `memory://`.
    database_url: str = ""
    #: Where the store file (by default), the token secret and the signing key live.
    data_dir: Path = DEFAULT_DATA_DIR
    #: PostgreSQL schema holding every table of one installation.
    postgres_schema: str = "kinerja"
    postgres_pool_size: int = Field(default=8, ge=1, le=100)
    #: Origin line of signed checkpoints (C2SP tlog-checkpoint).
    ledger_origin: str = "kinerja-ledger.jakarta.go.id/appraisals"
    #: Publish a checkpoint after this many new events, or this many seconds.
    checkpoint_every_events: int = Field(default=1000, ge=1)
    checkpoint_every_seconds: float = Field(default=60.0, gt=0)
    #: Master key for personal-data keys (base64, 32 bytes); else a file in data_dir.
    master_key: SecretStr | None = None
    #: Retention of personal data [policy] (docs/privacy.md): an employee's data key is
    #: due for shredding this many years after employment ended; a citizen pseudonym key
    #: is used for new items for `pseudonym_key_days`, then kept this many days more.
    retention_employee_years: int = Field(default=10, ge=0, le=100)
    pseudonym_key_days: int = Field(default=30, ge=1, le=3660)
    retention_pseudonym_days: int = Field(default=90, ge=0, le=36600)
    #: How long an `Idempotency-Key` is kept: a retry within this many days gets the first
    #: answer; after it, the key is forgotten and may name a new request (docs/api.md).
    idempotency_key_days: int = Field(default=30, ge=1, le=3660)
    #: How long a process trusts a data key it unwrapped before reading its row again: how
    #: long a server keeps decrypting after `kinerja forget` ran in another process.
    personal_key_cache_seconds: float = Field(default=5.0, ge=0, le=3600)
    #: HS256 key of API bearer tokens; else generated once into `<data_dir>/jwt-secret`.
    jwt_secret: SecretStr | None = None

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes")
        return value

    @field_validator("postgres_schema")
    @classmethod
    def _schema_is_a_plain_identifier(cls, value: str) -> str:
        if not _SCHEMA_NAME.match(value):
            raise ValueError("must be a lower-case SQL identifier (a-z, 0-9, _)")
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ledger.sqlite3'}"

    def store(self) -> StoreLocation:
        return parse_database_url(self.resolved_database_url, self.postgres_schema)

    def library_env(self) -> dict[str, str]:
        """The `eventsourcing` settings for this store."""
        store = self.store()
        if store.kind == "memory":
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        if store.kind == "sqlite":
            assert store.sqlite_path is not None
            store.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(store.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "30",
                # The library's rows, plus read-version guards (api/recorders.py).
                "APPLICATION_RECORDER_TOPIC": "api.recorders:GuardedSQLiteApplicationRecorder",
            }
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": store.dbname,
            "POSTGRES_HOST": store.host,
            "POSTGRES_PORT": str(store.port),
            "POSTGRES_USER": store.user,
            "POSTGRES_PASSWORD": store.password,
            "POSTGRES_SCHEMA": store.schema,
            # A full pool should fail fast, not make a save wait for minutes.
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "POSTGRES_POOL_SIZE": str(self.postgres_pool_size),
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_MAX_WAITING": "64",
            "POSTGRES_LOCK_TIMEOUT": "10",
            # Same tables and rows as the library's recorder, cheaper to insert into.
            "APPLICATION_RECORDER_TOPIC": "api.pg_recorder:BinaryInsertPostgresApplicationRecorder",
        }


def _redacted(url: str) -> str:
    """The URL as error messages may show it: any password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{hostinfo}").geturl()


def parse_database_url(url: str, default_schema: str = "kinerja") -> StoreLocation:
    """Where the events live, from `KINERJA_DATABASE_URL`. A bad URL raises SettingsError
    naming the setting and the expected form; the password is never repeated."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    shown = _redacted(url)
    if scheme == "memory":
        return StoreLocation(kind="memory")
    if scheme == "sqlite":
        # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy reads them.
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if parts.netloc or not path:
            raise SettingsError(
                f"KINERJA_DATABASE_URL {shown!r}: write sqlite:///path/to/file.sqlite3")
        return StoreLocation(kind="sqlite", sqlite_path=Path(unquote(path)))
    if scheme in ("postgresql", "postgres"):
        dbname = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not dbname:
            raise SettingsError(
                f"KINERJA_DATABASE_URL {shown!r}: write postgresql://user:pw@host:port/db")
        try:
            port = parts.port or 5432
        except ValueError:
            # urllib says "Port could not be cast ..." without naming the setting.
            raise SettingsError(f"KINERJA_DATABASE_URL {shown!r}: the port must be a "
                                f"number from 1 to 65535") from None
        schema = parse_qs(parts.query).get("schema", [default_schema])[0]
        if not _SCHEMA_NAME.match(schema):
            raise SettingsError(f"PostgreSQL schema {schema!r} is not a plain identifier")
        return StoreLocation(
            kind="postgresql", host=parts.hostname, port=port,
            user=unquote(parts.username or ""), password=unquote(parts.password or ""),
            dbname=dbname, schema=schema)
    raise SettingsError(
        f"KINERJA_DATABASE_URL {shown!r}: the scheme must be sqlite, postgresql or memory")
