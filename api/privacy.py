"""Personal data at rest: per-person field encryption, crypto-shredding, pseudonyms.

Key hierarchy (docs/privacy.md):

* the **master key** (32 bytes) lives outside the database: `KINERJA_MASTER_KEY` (base64)
  or the file `<data_dir>/master.key` (mode 0600, generated on first run). A `memory://`
  store, whose keys die with the process anyway, gets a fresh key per process.
* **data keys** (AES-256-GCM), one per person and one per complaint channel and epoch
  (pseudonym keys), live in the table `kinerja_personal_keys` beside the events, each
  wrapped (AES-GCM) under the master key with its id, kind and subject as associated data.

`PersonalDataMapper` replaces each personal field (domain/personal_data.py) with an
envelope `{"enc": "aesgcm", "key": KEY_ID, "nonce": B64, "ct": B64}` before the event is
transcoded, and opens it again on read. Destroying a person's data key (`forget`) turns
those fields into `SHREDDED` on every later read while the stored bytes (and so the Merkle
leaves that hash them) never change. A malformed, tampered or misplaced envelope, or an
unknown key, raises `PersonalDataUnreadable`: never a silent wrong value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import stat
import threading
import time
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.application import Cache, LRUCache
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    ApplicationRecorder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    find_id_convertor,
)
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import SecretStr

from api.service import AppraisalLedger, Written, require_io_allowed
from api.settings import Settings, SettingsError, StoreLocation
from domain.employee import Employee
from domain.errors import InvalidValue, NotAuthorised
from domain.personal_data import (
    REGISTRY,
    SHREDDED,
    STREAM_SUBJECTS,
    PersonalDataAlreadyShredded,
    PersonalDataForgotten,
    PersonalFields,
    SubjectSource,
)
from domain.values import FeedbackSource
from projections.db import Database, open_database

KEYS_TABLE = "kinerja_personal_keys"
MASTER_KEY_FILE = "master.key"
#: Written before a rotation re-wraps the data keys, renamed over MASTER_KEY_FILE after.
NEXT_MASTER_KEY_FILE = "master.key.next"
#: The role that may shred personal data (HR administrators; see issue 4's roles).
ADMIN_ROLE = "admin"
PERSON = "person"
PSEUDONYM = "pseudonym"
ENVELOPE_KEYS = frozenset({"enc", "key", "nonce", "ct"})
#: How long an unwrapped data key is trusted before its row is read again: bounds how
#: long another process (a server) keeps decrypting after `kinerja forget` elsewhere.
KEY_CACHE_SECONDS = 5.0
#: Plaintexts are padded to a multiple of this, so a ciphertext's length shows a name's
#: length only to within this many bytes (JSON ignores the trailing spaces).
PAD_TO = 32
_NONCE_SIZE = 12
_TAG_SIZE = 16


class PersonalDataUnreadable(MapperDeserialisationError):
    """A personal field could not be opened: tampered or malformed ciphertext, a key that
    the key table does not know, or a key that the master key does not unwrap."""


class MasterKeyError(SettingsError):
    """The master key is missing, malformed, or not the one the data keys are under."""


# --- master key --------------------------------------------------------------------------


@dataclass(frozen=True)
class MasterKey:
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise MasterKeyError("a master key is 32 bytes")

    @property
    def key_id(self) -> str:
        """A public fingerprint, stored with each wrapped key to name its master."""
        return hashlib.sha256(b"kinerja master key id\x00" + self.secret).hexdigest()[:16]

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(32))

    @classmethod
    def from_base64(cls, text: str, what: str = "KINERJA_MASTER_KEY") -> MasterKey:
        try:
            secret = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyError(f"{what} is not valid base64") from None
        if len(secret) != 32:
            raise MasterKeyError(f"{what} must encode exactly 32 bytes, not {len(secret)}")
        return cls(secret)

    def to_base64(self) -> str:
        return base64.b64encode(self.secret).decode("ascii")

    def __repr__(self) -> str:  # never print the secret
        return f"MasterKey(key_id={self.key_id!r})"


def write_secret_file(path: Path, text: str) -> None:
    """Create `path` with mode 0600 (refusing to overwrite) and make it durable."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, text.encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_master_key_file(path: Path) -> MasterKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise MasterKeyError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    return MasterKey.from_base64(path.read_text(encoding="ascii"), str(path))


def resolve_master_key(settings: Settings, store: StoreLocation,
                       wrapped_under: set[str]) -> MasterKey:
    """The configured master key, checked against the ids the data keys are wrapped under.
    Generates the key file on first run; finishes or discards an interrupted rotation."""
    configured: Any = settings.master_key
    if isinstance(configured, SecretStr):  # a plain str only where a copy skipped validation
        configured = configured.get_secret_value()
    if configured:
        master = MasterKey.from_base64(configured)
    elif store.kind == "memory":
        # The key table is in this process's memory too: nothing to keep across runs.
        master = MasterKey.generate()
    else:
        master = _master_key_from_files(settings.data_dir, wrapped_under)
    if wrapped_under and wrapped_under != {master.key_id}:
        raise MasterKeyError(
            f"the data keys are wrapped under master key {', '.join(sorted(wrapped_under))} "
            f"but the configured master key is {master.key_id}; configure the right one")
    return master


def _master_key_from_files(data_dir: Path, wrapped_under: set[str]) -> MasterKey:
    path, pending = data_dir / MASTER_KEY_FILE, data_dir / NEXT_MASTER_KEY_FILE
    if pending.exists():
        candidate = read_master_key_file(pending)
        if wrapped_under and wrapped_under == {candidate.key_id}:
            # The rotation committed but did not get to rename its key into place.
            os.replace(pending, path)
            _fsync_directory(data_dir)
        # Otherwise it is left alone: a rotation may be under way in another process (or
        # crashed before its commit, and the next rotation replaces it).
    if path.exists():
        return read_master_key_file(path)
    if wrapped_under:
        raise MasterKeyError(
            f"{path} is missing but data keys are wrapped under master key "
            f"{', '.join(sorted(wrapped_under))}: restore it or set KINERJA_MASTER_KEY "
            f"(a new key would make every personal field unreadable)")
    master = MasterKey.generate()
    try:
        write_secret_file(path, master.to_base64() + "\n")
    except FileExistsError:
        return read_master_key_file(path)  # another process won the first run
    return master


# --- data keys -----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError(f"{what} is not valid base64") from None


def _wrap_ad(key_id: str, kind: str, subject: str) -> bytes:
    # Binds a wrapped key to its row: a wrapped key copied into another row won't open.
    return json.dumps(["kinerja/data-key/v1", key_id, kind, subject],
                      separators=(",", ":")).encode()


@dataclass(frozen=True)
class KeyRecord:
    """One row of the key table, without its secret."""

    key_id: str
    kind: str
    subject: str
    created_at: str
    active_until: str | None
    shredded_at: str | None
    shred_reason: str | None

    @property
    def live(self) -> bool:
        return self.shredded_at is None


class KeyStore:
    """The data keys of one store. Thread-safe; caches unwrapped keys for
    `cache_seconds` (a shredding in this process takes effect at once)."""

    def __init__(self, db: Database, *, cache_seconds: float = KEY_CACHE_SECONDS,
                 sqlite_path: Path | None = None) -> None:
        self._db = db
        self._master: MasterKey | None = None
        self._cache_seconds = cache_seconds
        self._sqlite_path = sqlite_path
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[AESGCM | None, bytes | None, float]] = {}
        self._by_subject: dict[tuple[str, str], tuple[str, float]] = {}
        with db.transaction() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} ("
                " key_id TEXT PRIMARY KEY,"
                " kind TEXT NOT NULL,"
                " subject TEXT NOT NULL,"
                " created_at TEXT NOT NULL,"
                " active_until TEXT,"
                " master_id TEXT,"
                " wrapped TEXT,"
                " shredded_at TEXT,"
                " shred_reason TEXT,"
                " UNIQUE (kind, subject))")

    def unlock(self, master: MasterKey) -> None:
        self._master = master

    @property
    def master_id(self) -> str:
        return self._require_master().key_id

    def _require_master(self) -> MasterKey:
        if self._master is None:
            raise MasterKeyError("the key store is not unlocked with a master key")
        return self._master

    def wrapped_under(self) -> set[str]:
        """The ids of the master keys that live data keys are wrapped under."""
        with self._db.transaction() as cursor:
            cursor.execute(f"SELECT DISTINCT master_id FROM {KEYS_TABLE} "
                           "WHERE wrapped IS NOT NULL")
            return {row[0] for row in cursor.fetchall()}

    # -- reading ---------------------------------------------------------------------

    def cipher_for_reading(self, key_id: str) -> AESGCM | None:
        """The data key named in an envelope; None once shredded."""
        return self._key(key_id)[0]

    def _key(self, key_id: str) -> tuple[AESGCM | None, bytes | None]:
        now = time.monotonic()
        # Cache reads take no lock: a dict lookup is atomic, and a lock taken on every
        # command makes concurrent callers queue behind whichever holds the interpreter.
        cached = self._by_id.get(key_id)
        if cached is not None and now - cached[2] < self._cache_seconds:
            return cached[0], cached[1]
        require_io_allowed()
        with self._db.transaction() as cursor:
            cursor.execute(f"SELECT kind, subject, master_id, wrapped FROM {KEYS_TABLE} "
                           "WHERE key_id = ?", (key_id,))
            row = cursor.fetchone()
        if row is None:
            raise LookupError(f"data key {key_id} is not in {KEYS_TABLE}: wrong database, "
                              f"or a forged envelope")
        aead, raw = self._unwrap(key_id, *row)
        with self._lock:
            self._by_id[key_id] = (aead, raw, now)
        return aead, raw

    def _unwrap(self, key_id: str, kind: str, subject: str, master_id: str | None,
                wrapped: str | None) -> tuple[AESGCM | None, bytes | None]:
        if wrapped is None:
            return None, None
        master = self._require_master()
        if master_id != master.key_id:
            raise MasterKeyError(f"data key {key_id} is wrapped under master key "
                                 f"{master_id}, not the configured {master.key_id}")
        blob = base64.b64decode(wrapped)
        try:
            raw = AESGCM(master.secret).decrypt(blob[:_NONCE_SIZE], blob[_NONCE_SIZE:],
                                                _wrap_ad(key_id, kind, subject))
        except InvalidTag:
            raise MasterKeyError(f"data key {key_id} does not unwrap under master key "
                                 f"{master.key_id}: the key row was altered") from None
        return AESGCM(raw), raw

    # -- writing ---------------------------------------------------------------------

    def key_for_writing(self, kind: str, subject: str, *,
                        active_until: date | None = None) -> tuple[str, AESGCM, bytes]:
        """The live data key of `subject`, created on first need. Raises
        PersonalDataForgotten when that key was shredded."""
        now = time.monotonic()
        cached = self._by_subject.get((kind, subject))  # lock-free read, as in _key
        if cached is not None and now - cached[1] < self._cache_seconds:
            aead, raw = self._key(cached[0])
            if aead is not None and raw is not None:
                return cached[0], aead, raw
        require_io_allowed()
        row = self._select_subject(kind, subject)
        if row is None:
            self._create(kind, subject, active_until)
            row = self._select_subject(kind, subject)
            assert row is not None
        key_id, master_id, wrapped = row
        aead, raw = self._unwrap(key_id, kind, subject, master_id, wrapped)
        if aead is None or raw is None:
            what = "person" if kind == PERSON else "pseudonym key"
            raise PersonalDataForgotten(
                f"the data key of {what} {subject} was shredded; no new personal data "
                f"about them can be recorded", subject=subject)
        with self._lock:
            self._by_id[key_id] = (aead, raw, now)
            self._by_subject[(kind, subject)] = (key_id, now)
        return key_id, aead, raw

    def _select_subject(self, kind: str, subject: str) -> tuple[str, str | None,
                                                                 str | None] | None:
        with self._db.transaction() as cursor:
            cursor.execute(f"SELECT key_id, master_id, wrapped FROM {KEYS_TABLE} "
                           "WHERE kind = ? AND subject = ?", (kind, subject))
            row = cursor.fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def _create(self, kind: str, subject: str, active_until: date | None) -> None:
        master = self._require_master()
        key_id = secrets.token_hex(8)
        raw = AESGCM.generate_key(bit_length=256)
        nonce = secrets.token_bytes(_NONCE_SIZE)
        wrapped = nonce + AESGCM(master.secret).encrypt(nonce, raw,
                                                        _wrap_ad(key_id, kind, subject))
        with self._db.transaction() as cursor:
            # A server left running through a rotation still holds the old master key; a
            # key wrapped under it would be lost with that key.
            # All live keys share one master (a rotation re-wraps them in one transaction),
            # so any one row tells.
            cursor.execute(f"SELECT master_id FROM {KEYS_TABLE} WHERE wrapped IS NOT NULL "
                           "LIMIT 1")
            other = cursor.fetchone()
            if other is not None and other[0] != master.key_id:
                raise MasterKeyError(
                    f"the data keys are now wrapped under master key {other[0]}, not "
                    f"{master.key_id}: the master key was rotated; restart this process")
            # A concurrent first need for the same subject: the first insert wins.
            cursor.execute(
                f"INSERT INTO {KEYS_TABLE} (key_id, kind, subject, created_at, active_until,"
                " master_id, wrapped) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (kind, subject) DO NOTHING",
                (key_id, kind, subject, _utc_text(),
                 None if active_until is None else active_until.isoformat(),
                 master.key_id, _b64(wrapped)))

    def shred(self, kind: str, subject: str, *, reason: str) -> bool:
        """Destroy the data key of `subject`: its row keeps the id and gains the time
        and reason, but the wrapped key is overwritten. A subject without a key gets a
        shredded row, so no key is ever made for it. True if this call changed anything
        (False: it was shredded already)."""
        with self._db.transaction() as cursor:
            if self._db.kind == "sqlite":
                # Overwritten bytes are zeroed in the file, not left in free space.
                cursor.execute("PRAGMA secure_delete = ON")
            cursor.execute(
                f"INSERT INTO {KEYS_TABLE} (key_id, kind, subject, created_at, shredded_at,"
                " shred_reason) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, subject) DO NOTHING",
                (secrets.token_hex(8), kind, subject, _utc_text(), _utc_text(), reason))
            inserted = cursor.rowcount
            cursor.execute(
                f"UPDATE {KEYS_TABLE} SET wrapped = NULL, master_id = NULL,"
                " shredded_at = ?, shred_reason = ? WHERE kind = ? AND subject = ?"
                " AND wrapped IS NOT NULL", (_utc_text(), reason, kind, subject))
            destroyed = cursor.rowcount > 0
            cursor.execute(f"SELECT key_id FROM {KEYS_TABLE} WHERE kind = ? AND subject = ?",
                           (kind, subject))
            key_id = cursor.fetchone()[0]
        with self._lock:
            self._by_id.pop(key_id, None)
            self._by_subject.pop((kind, subject), None)
        if destroyed and self._sqlite_path is not None:
            self._checkpoint_sqlite()
        return destroyed or inserted > 0

    def _checkpoint_sqlite(self) -> None:
        # Copies of the page that held the wrapped key may remain in the WAL file until a
        # checkpoint; TRUNCATE writes them back (zeroed) and empties the WAL.
        connection = sqlite3.connect(str(self._sqlite_path), timeout=30)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()

    def rotate_master_key(self, new: MasterKey) -> int:
        """Re-wrap every live data key under `new`, in one transaction; events and data
        keys themselves are untouched. Returns how many keys were re-wrapped."""
        self._require_master()
        count = 0
        with self._db.transaction() as cursor:
            cursor.execute(f"SELECT key_id, kind, subject, master_id, wrapped FROM "
                           f"{KEYS_TABLE} WHERE wrapped IS NOT NULL ORDER BY key_id")
            rows = cursor.fetchall()
            for key_id, kind, subject, master_id, wrapped in rows:
                _, raw = self._unwrap(key_id, kind, subject, master_id, wrapped)
                assert raw is not None
                nonce = secrets.token_bytes(_NONCE_SIZE)
                blob = nonce + AESGCM(new.secret).encrypt(nonce, raw,
                                                          _wrap_ad(key_id, kind, subject))
                cursor.execute(f"UPDATE {KEYS_TABLE} SET master_id = ?, wrapped = ? "
                               "WHERE key_id = ?", (new.key_id, _b64(blob), key_id))
                count += 1
        self._master = new
        return count

    def records(self, kind: str | None = None) -> list[KeyRecord]:
        query = (f"SELECT key_id, kind, subject, created_at, active_until, shredded_at,"
                 f" shred_reason FROM {KEYS_TABLE}")
        params: tuple[Any, ...] = ()
        if kind is not None:
            query += " WHERE kind = ?"
            params = (kind,)
        with self._db.transaction() as cursor:
            cursor.execute(query + " ORDER BY kind, subject", params)
            return [KeyRecord(*row) for row in cursor.fetchall()]

    def record_of(self, kind: str, subject: str) -> KeyRecord | None:
        with self._db.transaction() as cursor:
            cursor.execute(
                f"SELECT key_id, kind, subject, created_at, active_until, shredded_at,"
                f" shred_reason FROM {KEYS_TABLE} WHERE kind = ? AND subject = ?",
                (kind, subject))
            row = cursor.fetchone()
        return None if row is None else KeyRecord(*row)

    def close(self) -> None:
        self._db.close()


def _utc_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- envelopes -----------------------------------------------------------------------------


def associated_data(originator_id: Any, originator_version: int, topic: str,
                    field: str) -> bytes:
    """What a ciphertext is bound to: moved to another event, version or field, it fails."""
    return json.dumps(["kinerja/personal-field/v1", _canonical_id(originator_id),
                       originator_version, topic, field], separators=(",", ":")).encode()


def _canonical_id(originator_id: Any) -> str:
    # Readers that bypass the library may hand over a UUID as hex without dashes (SQLite).
    if isinstance(originator_id, UUID):
        return str(originator_id)
    try:
        return str(UUID(str(originator_id)))
    except ValueError:
        return str(originator_id)


class _Nonces:
    """Random 96-bit AES-GCM nonces from the operating system's generator, drawn 256 at a
    time: `os.urandom` releases the interpreter lock, and under load every call then
    waits for it again behind the other threads. Each nonce is handed out once; a forked
    child starts with none (it must never reuse its parent's)."""

    BATCH = 256

    def __init__(self) -> None:
        self._pool: deque[bytes] = deque()
        os.register_at_fork(after_in_child=self._pool.clear)

    def take(self) -> bytes:
        while True:
            try:
                return self._pool.popleft()  # atomic: no two callers get the same one
            except IndexError:
                block = secrets.token_bytes(_NONCE_SIZE * self.BATCH)
                self._pool.extend(block[i:i + _NONCE_SIZE]
                                  for i in range(0, len(block), _NONCE_SIZE))


_nonces = _Nonces()


def seal(aead: AESGCM, key_id: str, plaintext: bytes, ad: bytes) -> dict[str, str]:
    nonce = _nonces.take()
    padded = plaintext + b" " * (-len(plaintext) % PAD_TO)
    return {"enc": "aesgcm", "key": key_id, "nonce": _b64(nonce),
            "ct": _b64(aead.encrypt(nonce, padded, ad))}


def parse_envelope(value: Any) -> tuple[str, bytes, bytes]:
    """(key id, nonce, ciphertext) of a well-formed envelope; ValueError otherwise."""
    if not isinstance(value, dict) or set(value) != ENVELOPE_KEYS:
        raise ValueError("not an encrypted-field envelope")
    if value["enc"] != "aesgcm":
        raise ValueError(f"unknown encryption {value['enc']!r}")
    key_id = value["key"]
    if not isinstance(key_id, str) or not key_id:
        raise ValueError("the envelope names no key")
    nonce, ciphertext = _unb64(value["nonce"], "nonce"), _unb64(value["ct"], "ct")
    if len(nonce) != _NONCE_SIZE or len(ciphertext) < _TAG_SIZE:
        raise ValueError("nonce or ciphertext has the wrong length")
    return key_id, nonce, ciphertext


# --- the mapper -----------------------------------------------------------------------------


class PersonalDataMapper(Mapper[UUID]):
    """The library's mapper, with the personal fields of each event sealed per person."""

    STREAM_CACHE_SIZE = 200_000

    def __init__(self, inner: Mapper[UUID], keys: KeyStore,
                 recorder: Callable[[], ApplicationRecorder]) -> None:
        super().__init__(inner.transcoder, inner.compressor, inner.cipher)
        self.keys = keys
        self._recorder = recorder
        self._streams: OrderedDict[str, str] = OrderedDict()
        self._streams_lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if isinstance(domain_event, Snapshot):
            # A snapshot holds an aggregate's state, names included, in clear.
            raise TypeError("snapshots are not supported: they would store personal "
                            "fields unencrypted")
        topic = get_topic(type(domain_event))
        spec = REGISTRY.get(topic)
        state = vars(domain_event)
        if spec is not None:
            for name in spec.fields:  # a plain loop, not any(...): it runs for every event
                if state.get(name) is not None:
                    state = self._sealed(spec, topic, domain_event, dict(state))
                    clone = object.__new__(type(domain_event))
                    object.__setattr__(clone, "__dict__", state)
                    domain_event = clone
                    break
        self._remember_stream(topic, domain_event.originator_id, state)
        return super().to_stored_event(domain_event)

    def _sealed(self, spec: PersonalFields, topic: str, domain_event: Any,
                state: dict[str, Any]) -> dict[str, Any]:
        present = [name for name in spec.fields if state.get(name) is not None]
        if not present:
            return state
        subject = self._subject(spec, domain_event.originator_id, state)
        key_id, aead, _ = self.keys.key_for_writing(PERSON, subject)
        for name in present:
            state[name] = seal(aead, key_id, self.transcoder.encode(state[name]),
                               associated_data(domain_event.originator_id,
                                               domain_event.originator_version, topic, name))
        return state

    def _subject(self, spec: PersonalFields, originator_id: Any,
                 state: dict[str, Any]) -> str:
        if spec.subject is SubjectSource.ORIGINATOR:
            return str(originator_id)
        if spec.subject is SubjectSource.FIELD:
            return str(state[spec.subject_field])
        return self._stream_subject(originator_id)

    def _stream_subject(self, originator_id: Any) -> str:
        key = str(originator_id)
        # A lock-free read (as in KeyStore._key), so the cache evicts oldest-first rather
        # than least-recently-used; a stream evicted while in use is read again once.
        subject = self._streams.get(key)
        if subject is not None:
            return subject
        require_io_allowed()
        first = self._recorder().select_events(originator_id, lte=1, limit=1)
        if not first or first[0].topic not in STREAM_SUBJECTS:
            raise LookupError(f"cannot tell whose personal data stream {originator_id} "
                              f"holds: its first event is not a known stream opener")
        state = self._decoded_state(first[0])
        subject = str(state[STREAM_SUBJECTS[first[0].topic]])
        self._remember(key, subject)
        return subject

    def _remember_stream(self, topic: str, originator_id: Any,
                         state: dict[str, Any]) -> None:
        field = STREAM_SUBJECTS.get(topic)
        if field is not None and state.get(field) is not None:
            self._remember(str(originator_id), str(state[field]))

    def _remember(self, stream: str, subject: str) -> None:
        with self._streams_lock:
            self._streams[stream] = subject
            self._streams.move_to_end(stream)
            while len(self._streams) > self.STREAM_CACHE_SIZE:
                self._streams.popitem(last=False)

    # -- reading ---------------------------------------------------------------------

    def _decoded_state(self, stored_event: StoredEvent) -> dict[str, Any]:
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        decoded: dict[str, Any] = self.transcoder.decode(state)
        return decoded

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        # The library's steps, with personal fields opened before any upcaster runs.
        cls = resolve_topic(stored_event.topic)
        try:
            event_state = self._decoded_state(stored_event)
        except Exception as error:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic "
                f"'{stored_event.topic}', originator_id '{stored_event.originator_id}' "
                f"and originator_version {stored_event.originator_version}: {error}"
            ) from error
        spec = REGISTRY.get(stored_event.topic)
        if spec is not None:
            for name in spec.fields:
                if event_state.get(name) is not None:
                    event_state[name] = self._opened(stored_event, name, event_state[name])
        self._remember_stream(stored_event.topic, stored_event.originator_id, event_state)
        id_convertor = find_id_convertor(cls, type(stored_event.originator_id))
        event_state["originator_id"] = id_convertor(stored_event.originator_id)
        event_state["originator_version"] = stored_event.originator_version
        class_version = getattr(cls, "class_version", 1)
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", event_state)
        return domain_event

    def _opened(self, stored_event: StoredEvent, field: str, value: Any) -> Any:
        where = (f"field {field!r} of {stored_event.topic} {stored_event.originator_id} "
                 f"version {stored_event.originator_version}")
        try:
            key_id, nonce, ciphertext = parse_envelope(value)
            aead = self.keys.cipher_for_reading(key_id)
        except (ValueError, LookupError) as error:
            raise PersonalDataUnreadable(f"{where}: {error}") from None
        if aead is None:
            return SHREDDED
        ad = associated_data(stored_event.originator_id, stored_event.originator_version,
                             stored_event.topic, field)
        try:
            plaintext = aead.decrypt(nonce, ciphertext, ad)
        except InvalidTag:
            raise PersonalDataUnreadable(
                f"{where}: the ciphertext does not authenticate (altered, or moved from "
                f"another event or field)") from None
        return self.transcoder.decode(plaintext)


# --- pseudonyms, retention, the vault -------------------------------------------------------


@dataclass(frozen=True)
class RetentionPolicy:
    """How long personal data is kept [policy; set from the agency's retention schedule]."""

    #: An employee's data key is due for shredding this many years after employment ended.
    employee_years: int = 10
    #: A channel's pseudonym key pseudonymises new items for this many days.
    pseudonym_key_days: int = 30
    #: A pseudonym key is due for shredding this many days after its last day of use.
    pseudonym_days: int = 90

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(employee_years=settings.retention_employee_years,
                   pseudonym_key_days=settings.pseudonym_key_days,
                   pseudonym_days=settings.retention_pseudonym_days)

    def pseudonym_epoch(self, day: date) -> tuple[date, date]:
        """First and last day of the pseudonym key window holding `day`; fixed windows
        counted from 1970-01-01, so every process picks the same key."""
        epoch = date(1970, 1, 1)
        first = epoch + timedelta(days=(day - epoch).days // self.pseudonym_key_days
                                  * self.pseudonym_key_days)
        return first, first + timedelta(days=self.pseudonym_key_days - 1)

    def employee_due_on(self, ended_on: date) -> date:
        try:
            return ended_on.replace(year=ended_on.year + self.employee_years)
        except ValueError:  # 29 February
            return ended_on.replace(year=ended_on.year + self.employee_years, day=28)


@dataclass(frozen=True)
class DueKey:
    """A data key whose retention period is over."""

    kind: str  # PERSON or PSEUDONYM
    subject: str  # employee id, or "channel/first-day-of-window"
    due_on: date
    why: str


class PersonalDataVault:
    """Everything about personal data one ledger needs: its keys, pseudonyms, retention."""

    def __init__(self, keys: KeyStore, retention: RetentionPolicy) -> None:
        self.keys = keys
        self.retention = retention

    def wrap_mapper(self, mapper: Mapper[UUID],
                    recorder: Callable[[], ApplicationRecorder]) -> PersonalDataMapper:
        return PersonalDataMapper(mapper, self.keys, recorder)

    def pseudonymise(self, channel: str, citizen_ref: str, day: date) -> str:
        """A keyed hash of a citizen's identifier: the same citizen on the same channel
        in the same key window gets the same pseudonym; nothing else links back."""
        return self.pseudonymiser(day)(channel, citizen_ref)

    def pseudonymiser(self, day: date) -> Callable[[str, str], str]:
        """`pseudonymise` for the many references of one batch on one day: each
        channel's key is looked up once."""
        first, last = self.retention.pseudonym_epoch(day)
        keys: dict[str, tuple[str, Any]] = {}  # channel -> (key id, HMAC keyed by it)

        def pseudonym(channel: str, citizen_ref: str) -> str:
            channel = (channel or "").strip()
            citizen = unicodedata.normalize("NFC", (citizen_ref or "").strip())
            if not channel:
                raise InvalidValue("citizen feedback must name the channel it came through")
            if not citizen:
                raise InvalidValue("giver must not be empty")
            key = keys.get(channel)
            if key is None:
                key_id, _, raw = self.keys.key_for_writing(
                    PSEUDONYM, f"{channel}/{first.isoformat()}", active_until=last)
                key = keys[channel] = (key_id, hmac.new(raw, digestmod=hashlib.sha256))
            # A copy of the keyed HMAC, not hmac.digest: the one-shot form releases the
            # interpreter lock even for a few bytes, and a busy neighbour thread then
            # holds it for up to a switch interval (5 ms), on every pseudonym. A copy
            # also spares hashing the key again for every reference.
            digest = key[1].copy()
            digest.update(f"{channel}\x00{citizen}".encode())
            return f"cit:{key[0]}:{digest.hexdigest()[:32]}"
        return pseudonym

    def due(self, recorder: ApplicationRecorder, mapper: Mapper[UUID],
            today: date) -> list[DueKey]:
        """Live data keys whose retention ended on or before `today`."""
        due: list[DueKey] = []
        for employee_id, ended_on in _employment_ends(recorder, mapper):
            due_on = self.retention.employee_due_on(ended_on)
            record = self.keys.record_of(PERSON, employee_id)
            if due_on <= today and record is not None and record.live:
                due.append(DueKey(PERSON, employee_id, due_on,
                                  f"employment ended {ended_on.isoformat()}"))
        for record in self.keys.records(PSEUDONYM):
            if not record.live or record.active_until is None:
                continue
            last_used = date.fromisoformat(record.active_until)
            due_on = last_used + timedelta(days=self.retention.pseudonym_days)
            if due_on <= today:
                due.append(DueKey(PSEUDONYM, record.subject, due_on,
                                  f"last used {last_used.isoformat()}"))
        return sorted(due, key=lambda d: (d.due_on, d.kind, d.subject))

    def shred_due_pseudonym_keys(self, recorder: ApplicationRecorder, mapper: Mapper[UUID],
                                 today: date) -> list[DueKey]:
        shredded = []
        for key in self.due(recorder, mapper, today):
            if key.kind == PSEUDONYM and self.keys.shred(
                    PSEUDONYM, key.subject, reason=f"retention ended {key.due_on}"):
                shredded.append(key)
        return shredded

    def close(self) -> None:
        self.keys.close()


def _employment_ends(recorder: ApplicationRecorder,
                     mapper: Mapper[UUID]) -> Iterator[tuple[str, date]]:
    topic = "kinerja.employee.employment-ended.v1"
    start: int | None = None
    while True:
        page = recorder.select_notifications(start, 1000, topics=[topic],
                                             inclusive_of_start=start is None)
        for notification in page:
            # Only the clear field is needed; the reason may already be shredded.
            event = mapper.to_domain_event(notification)
            yield str(event.originator_id), event.effective_on
        if len(page) < 1000:
            return
        start = page[-1].id


def open_vault(settings: Settings, *,
               cache_seconds: float | None = None) -> PersonalDataVault:
    """The key table beside the configured store, unlocked with its master key."""
    store = settings.store()
    if cache_seconds is None:
        cache_seconds = settings.personal_key_cache_seconds
    db = open_database(store, pool_size=2)
    try:
        keys = KeyStore(db, cache_seconds=cache_seconds,
                        sqlite_path=store.sqlite_path if store.kind == "sqlite" else None)
        keys.unlock(resolve_master_key(settings, store, keys.wrapped_under()))
        return PersonalDataVault(keys, RetentionPolicy.from_settings(settings))
    except BaseException:
        db.close()
        raise


def rotate_master_key_file(settings: Settings, vault: PersonalDataVault) -> tuple[str, int]:
    """Rotate a file-kept master key: the new key is made durable beside the old one
    first, the data keys are re-wrapped in one transaction, then the new key replaces the
    old file. A crash at any point leaves a key that opens the data keys (resolved on the
    next start). Returns the new key's id and how many keys were re-wrapped."""
    if settings.master_key:
        raise MasterKeyError("the master key comes from KINERJA_MASTER_KEY; rotate with "
                             "--new-key-file and then change the variable")
    data_dir = settings.data_dir
    pending = data_dir / NEXT_MASTER_KEY_FILE
    if pending.exists():
        pending.unlink()
    new = MasterKey.generate()
    write_secret_file(pending, new.to_base64() + "\n")
    count = vault.keys.rotate_master_key(new)
    try:
        os.replace(pending, data_dir / MASTER_KEY_FILE)
    except FileNotFoundError:
        # Someone removed the pending file: the key is still in memory, and it is the only
        # key that opens the data keys now.
        staged = data_dir / f"{MASTER_KEY_FILE}.{secrets.token_hex(4)}"
        write_secret_file(staged, new.to_base64() + "\n")
        os.replace(staged, data_dir / MASTER_KEY_FILE)
    _fsync_directory(data_dir)
    return new.key_id, count


# --- the ledger with personal data protected --------------------------------------------------


class ProtectedLedger(AppraisalLedger):
    """The appraisal ledger whose personal fields are encrypted per person, whose citizen
    references are pseudonymised before they reach an event, and which can forget."""

    # The library names a subclass's tables after the subclass unless `name` is set in it:
    # keep the store's tables `kinerja_*`, as AppraisalLedger documents.
    name = AppraisalLedger.name

    def __init__(self, env: dict[str, str] | None = None, *, vault: PersonalDataVault,
                 **kwargs: Any) -> None:
        # Needed by construct_mapper, which the library calls from its own __init__.
        self.vault = vault
        self._pseudonymiser_of_day: tuple[date, Callable[[str, str], str]] | None = None
        super().__init__(env, **kwargs)

    def construct_mapper(self) -> Mapper[UUID]:
        return self.vault.wrap_mapper(super().construct_mapper(), lambda: self.recorder)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.vault.close()

    def _feedback_preparer(self, at: datetime
                           ) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
        """A citizen's reference is replaced by a pseudonym before the item is decided,
        so the raw reference never reaches an event."""
        pseudonym = self._pseudonymiser(at.date())

        def prepare(item: Mapping[str, Any]) -> Mapping[str, Any]:
            if str(item.get("source")) != FeedbackSource.CITIZEN:
                return item
            return {**item, "giver_ref": pseudonym(item.get("channel") or "",
                                                   item.get("giver_ref") or "")}
        return prepare

    def _pseudonymiser(self, day: date) -> Callable[[str, str], str]:
        """The vault's pseudonymiser of `day`, made once a day rather than once a command:
        it holds each channel's key of the day's window, and a window's key is shredded
        only when it is due, long after the window has closed."""
        last = self._pseudonymiser_of_day
        if last is not None and last[0] == day:
            return last[1]
        pseudonym = self.vault.pseudonymiser(day)
        self._pseudonymiser_of_day = (day, pseudonym)
        return pseudonym

    def forget(self, employee_id: Any, *, reason: str, actor: str,
               roles: Collection[str]) -> Written:
        """Crypto-shred one person: record `PersonalDataShredded` (who, when, why), then
        destroy their data key. Admin only. If an earlier call recorded the event but
        stopped before the key was destroyed, this finishes it and records nothing."""
        if ADMIN_ROLE not in roles:
            raise NotAuthorised("only an administrator may shred personal data")
        employee = self.get_employee(employee_id)
        subject = str(employee.id)
        if employee.personal_data_shredded_on is not None:
            if self.vault.keys.shred(PERSON, subject, reason=reason):
                self._drop_cached_aggregates()
                return Written(position=None, ids={"employee_id": subject})
            raise PersonalDataAlreadyShredded(
                f"the personal data of {subject} was shredded on "
                f"{employee.personal_data_shredded_on}")

        def decide(at: datetime) -> list[Any]:
            fresh = self._get(Employee, subject, "employee")
            fresh.shred_personal_data(reason, actor, at)
            return [fresh]
        written = self._write(decide)
        self.vault.keys.shred(PERSON, subject, reason=reason.strip())
        self._drop_cached_aggregates()
        return Written(position=written.position, ids={"employee_id": subject},
                       events=written.events)

    def _drop_cached_aggregates(self) -> None:
        # Aggregates cached in this process (AGGREGATE_CACHE_MAXSIZE) hold texts decrypted
        # before the shredding, e.g. an evaluation's override reasons. Which streams are the
        # person's is not known here; a fresh cache is cheap next to a shredding.
        cache = getattr(self.repository, "cache", None)
        if isinstance(cache, LRUCache):
            self.repository.cache = LRUCache(maxsize=cache.maxsize)
        elif cache is not None:
            self.repository.cache = Cache()
