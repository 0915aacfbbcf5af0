"""The ledger's signing key, kept in the data folder, and the wiring of the Merkle ledger.

The signer key is generated on first use into `<data_dir>/ledger-signer.key`, readable by
its owner only (0600). It never enters the database, the repository or a log line: whoever
can write to the database still cannot sign a checkpoint. The verifier key, derived from
it, is public: the API serves it and `kinerja checkpoint` prints it.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from api.service import AppraisalLedger, utc_now
from api.settings import Settings, SettingsError
from projections.checkpoint import CheckpointError, generate_signer, verifier_key_from_signer
from projections.db import Database, open_database
from projections.ledger import Ledger, RecorderEvents, SqlEvents

SIGNER_KEY_FILE = "ledger-signer.key"
LAST_SIGNED_FILE = "ledger-last-checkpoint"


class SignerKeyError(SettingsError):
    """The signer key file is unusable: unreadable, readable by others, or malformed."""


def signer_key_path(settings: Settings) -> Path:
    return settings.data_dir / SIGNER_KEY_FILE


def _create_signer_key(path: Path, key_name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    signer_key, _ = generate_signer(key_name)
    # Written whole under a private name, then linked into place: a second process racing
    # to create the key finds either no file or a complete one, and the first link wins.
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(signer_key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass
    finally:
        scratch.unlink(missing_ok=True)


def load_signer_key(settings: Settings, *, create: bool = True) -> str | None:
    """The signer key string; generated on first use when `create`, else None if absent."""
    path = signer_key_path(settings)
    if not path.exists():
        if not create:
            return None
        try:
            _create_signer_key(path, settings.ledger_origin)
        except CheckpointError as error:
            raise SignerKeyError(f"KINERJA_LEDGER_ORIGIN cannot name a key: {error}") from None
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SignerKeyError(
                f"{path} is accessible to other users (mode {stat.S_IMODE(mode):o}); "
                f"run `chmod 600 {path}`")
        signer_key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise SignerKeyError(f"cannot read the ledger signer key {path}: {error}") from None
    try:
        verifier_key_from_signer(signer_key)
    except CheckpointError:
        # The message must not quote the file: it is a secret.
        raise SignerKeyError(f"{path} does not hold a signer key") from None
    return signer_key


class FileSignedHead:
    """The last signed checkpoint, kept in the data folder beside the key (see
    `projections.ledger.SignedHeadMemory`). Public, but only the signer writes it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def save(self, note: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        with open(scratch, "w", encoding="utf-8") as handle:
            handle.write(note)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, self.path)


def last_signed(settings: Settings) -> FileSignedHead:
    return FileSignedHead(settings.data_dir / LAST_SIGNED_FILE)


def load_verifier_key(settings: Settings) -> str | None:
    """The public key of the existing signer key, or None if none was ever generated."""
    signer_key = load_signer_key(settings, create=False)
    return None if signer_key is None else verifier_key_from_signer(signer_key)


def events_table(settings: Settings) -> str:
    """The library's events table: eventsourcing 9.5.6 names it `stored_events` on SQLite
    and `<application name>_events` on PostgreSQL."""
    if settings.store().kind == "sqlite":
        return "stored_events"
    return f"{AppraisalLedger.name.lower()}_events"


def open_merkle_ledger(settings: Settings, app: Any, *, db: Database | None = None,
                       clock: Callable[[], datetime] = utc_now,
                       with_signer: bool = True) -> Ledger:
    """The Merkle ledger over `app`'s log. Without `db`, it opens its own (closed by
    `ledger.close()`)."""
    owns_db = db is None
    database = open_database(settings.store()) if db is None else db
    try:
        return Ledger(database, RecorderEvents(app.recorder), origin=settings.ledger_origin,
                      signer_key=load_signer_key(settings) if with_signer else None,
                      clock=clock, every_events=settings.checkpoint_every_events,
                      every_seconds=settings.checkpoint_every_seconds, owns_db=owns_db,
                      last_signed=last_signed(settings))
    except BaseException:
        if owns_db:
            database.close()
        raise


def sql_events(settings: Settings, db: Database) -> SqlEvents:
    """The events table read with plain SQL, for checks that need no application."""
    return SqlEvents(db, events_table(settings))
