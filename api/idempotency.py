"""Idempotency keys: a retried POST returns the first answer and records nothing twice.

Keys are scoped by actor and kept in the table `kinerja_idempotency` beside the events
(same SQLite file, same PostgreSQL schema), so they survive restarts and are shared by
every worker.

A successful write records its key **in the same transaction as its events**: the request
marks itself with a context variable; the ledger's mapper (its `to_stored_event` wrapped
here) tags each stored event it makes in that request's thread; the application recorder (subclassed here and
selected through the library's `APPLICATION_RECORDER_TOPIC`) inserts the key row, with
the rendered answer and the position, next to the tagged events, in whichever thread
commits them (the group committer's writer thread included). A second request with the
same key that raced the first fails on the key's primary key, so its events roll back
with it; it then finds and returns the first answer.

Keys are kept for `idempotency_key_days` (30 by default): the API forgets older ones
when it starts and every hour (`forget_keys_regularly`).

A refusal writes no events; its answer is stored on its own (first writer wins).

Where events cannot share the transaction (the `memory://` store, or a ledger that was not
opened with these recorders), the answer is stored just after the write. The window: if the
process stops between the commit and that insert, a retry executes again. Requests with the
same key in one process are serialised by a lock, so only a crash opens the window.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic
from psycopg.sql import SQL, Identifier

from api.pg_recorder import BinaryInsertPostgresApplicationRecorder
from api.recorders import GuardedSQLiteApplicationRecorder
from projections.db import Database

log = logging.getLogger("kinerja.api")

TABLE = "kinerja_idempotency"
MAX_KEY_LENGTH = 200

CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    actor TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    position BIGINT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (actor, idem_key)
)"""

_COLUMNS = "actor, idem_key, fingerprint, status, body, position, created_at"

#: Renders the ids of a write's answer from the stored events the write made (in order).
IdsFromEvents = Callable[[Sequence[StoredEvent]], dict[str, Any]]


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    status: int
    body: dict[str, Any]


@dataclass(eq=False)
class Claim:
    """One keyed request in flight."""

    actor: str
    key: str
    fingerprint: str
    status: int
    ids: IdsFromEvents
    #: Set by the recorder when the key row was inserted with the events.
    recorded_body: dict[str, Any] | None = None

    def row(self, position: int | None, events: Sequence[StoredEvent]) -> tuple[Any, ...]:
        body = {"position": position, **self.ids(events)}
        self.recorded_body = body
        return (self.actor, self.key, self.fingerprint, self.status, _dump(body), position,
                _now())


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Same request = same method, path and JSON body (key order and spacing ignored)."""
    try:
        canonical = _dump(json.loads(body)) if body.strip() else ""
    except ValueError:
        canonical = body.decode("latin-1")
    digest = hashlib.sha256()
    for part in (method.upper(), path, canonical):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


# --- tagging stored events with the request that made them -------------------------------

_active_claim: ContextVar[Claim | None] = ContextVar("kinerja_idempotency_claim",
                                                     default=None)


class ClaimRegistry:
    """Stored events (by identity) -> the claim of the request that made them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[StoredEvent, Claim]] = {}

    def tag(self, event: StoredEvent, claim: Claim) -> None:
        with self._lock:
            self._entries[id(event)] = (event, claim)

    def release(self, claim: Claim) -> None:
        with self._lock:
            for key in [k for k, (_, c) in self._entries.items() if c is claim]:
                del self._entries[key]

    def tags_any(self, events: Sequence[StoredEvent]) -> bool:
        with self._lock:
            return bool(self._entries) and any(
                self._entries.get(id(event), (None,))[0] is event for event in events)

    def rows(self, events: Sequence[StoredEvent], ids: Sequence[int] | None
             ) -> list[tuple[Any, ...]]:
        """Key rows for the claims whose events are in this insert."""
        mine: dict[int, tuple[Claim, list[StoredEvent], list[int]]] = {}
        with self._lock:
            if not self._entries:
                return []
            for index, event in enumerate(events):
                entry = self._entries.get(id(event))
                if entry is None or entry[0] is not event:
                    continue
                claim = entry[1]
                _, claimed, positions = mine.setdefault(id(claim), (claim, [], []))
                claimed.append(event)
                if ids:
                    positions.append(ids[index])
        return [claim.row(max(positions, default=None), claimed)
                for claim, claimed, positions in mine.values()]


class IdempotentSQLiteRecorder(GuardedSQLiteApplicationRecorder):
    claims: ClaimRegistry | None = None

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if self.claims is not None:
            for row in self.claims.rows(stored_events, ids):
                c.execute(f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          row)
        return ids


class IdempotentPostgresRecorder(BinaryInsertPostgresApplicationRecorder):
    claims: ClaimRegistry | None = None

    def _has_rows_beside(self, stored_events: Sequence[StoredEvent]) -> bool:
        return self.claims is not None and self.claims.tags_any(stored_events)

    def _insert_rows_beside(self, conn: Any, stored_events: Sequence[StoredEvent],
                            ids: Sequence[int]) -> None:
        rows = self.claims.rows(stored_events, ids) if self.claims is not None else []
        if rows:
            statement = SQL("INSERT INTO {}.{} (" + _COLUMNS + ") VALUES "
                            "(%s, %s, %s, %s, %s, %s, %s)").format(
                Identifier(self.datastore.schema), Identifier(TABLE))
            with conn.cursor() as cursor:
                cursor.executemany(statement, rows)


def recorder_env(library_env: dict[str, str]) -> dict[str, str]:
    """Library settings that select the recorders above, given the store's own settings.
    Nothing for the memory store, nor when the store is configured with a recorder these
    do not extend (then keys are stored just after each write; see the module doc)."""
    module = library_env.get("PERSISTENCE_MODULE", "")
    configured = library_env.get("APPLICATION_RECORDER_TOPIC")
    ours: type[Any]
    if module == "eventsourcing.sqlite":
        ours = IdempotentSQLiteRecorder
    elif module == "eventsourcing.postgres":
        ours = IdempotentPostgresRecorder
    else:
        return {}
    if configured and not issubclass(ours, resolve_topic(configured)):
        log.warning("store recorder %s is not extended by %s; idempotency keys are "
                    "stored after each write", configured, ours.__name__)
        return {}
    return {"APPLICATION_RECORDER_TOPIC": get_topic(ours)}


def install(ledger: Any, registry: ClaimRegistry) -> bool:
    """Wire `registry` into the ledger; True if keys can share the events' transaction.

    The mapper's `to_stored_event` is wrapped on the instance (not replaced by a wrapper
    object), so the mapper keeps its type: readers that take a fast path for the library's
    own mapper still do."""
    mapper = ledger.mapper
    if getattr(mapper, "_kinerja_claims", None) is None:
        make_stored = mapper.to_stored_event

        def to_stored_event(domain_event: Any) -> StoredEvent:
            stored = make_stored(domain_event)
            claim = _active_claim.get()
            if claim is not None:
                registry.tag(stored, claim)
            return stored

        mapper.to_stored_event = to_stored_event
        mapper._kinerja_claims = registry
    recorder = ledger.recorder
    if isinstance(recorder, (IdempotentSQLiteRecorder, IdempotentPostgresRecorder)):
        recorder.claims = mapper._kinerja_claims
        return True
    return False


# --- the key table -----------------------------------------------------------------------

class _KeyedLocks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[tuple[str, str], list[Any]] = {}

    @contextmanager
    def hold(self, key: tuple[str, str]) -> Iterator[None]:
        with self._lock:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]


class IdempotencyStore:
    def __init__(self, db: Database, registry: ClaimRegistry, *, transactional: bool) -> None:
        self.db = db
        self.registry = registry
        #: Whether key rows are written in the events' transaction (see module doc).
        self.transactional = transactional
        self._locks = _KeyedLocks()

    def create_table(self) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(CREATE_TABLE)

    def lookup(self, actor: str, key: str) -> StoredAnswer | None:
        with self.db.transaction() as cursor:
            cursor.execute(f"SELECT fingerprint, status, body FROM {TABLE} "
                           "WHERE actor = ? AND idem_key = ?", (actor, key))
            row = cursor.fetchone()
        if row is None:
            return None
        return StoredAnswer(fingerprint=row[0], status=int(row[1]), body=json.loads(row[2]))

    def store(self, actor: str, key: str, print_: str, status: int,
              body: dict[str, Any]) -> StoredAnswer:
        """Insert unless present; the answer stored first wins and is returned."""
        position = body.get("position") if isinstance(body.get("position"), int) else None
        with self.db.transaction() as cursor:
            cursor.execute(f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT (actor, idem_key) DO NOTHING",
                           (actor, key, print_, status, _dump(body), position, _now()))
        stored = self.lookup(actor, key)
        assert stored is not None
        return stored

    def forget_before(self, moment: datetime) -> int:
        """Forget the keys stored before `moment`; how many were forgotten. A retry with
        a forgotten key is a new request."""
        with self.db.transaction() as cursor:
            # ISO 8601 in UTC, as `_now` writes it, sorts as the moments do.
            cursor.execute(f"DELETE FROM {TABLE} WHERE created_at < ?",
                           (moment.astimezone(timezone.utc).isoformat(),))
            return max(0, cursor.rowcount)

    def replace_body(self, actor: str, key: str, body: dict[str, Any]) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET body = ? WHERE actor = ? AND idem_key = ?",
                           (_dump(body), actor, key))

    @contextmanager
    def serialised(self, actor: str, key: str) -> Iterator[None]:
        with self._locks.hold((actor, key)):
            yield

    @contextmanager
    def claiming(self, claim: Claim) -> Iterator[None]:
        token = _active_claim.set(claim)
        try:
            yield
        finally:
            _active_claim.reset(token)
            self.registry.release(claim)


#: How often a running API forgets the keys older than their kept days.
FORGET_EVERY_SECONDS = 3600.0


async def forget_keys_regularly(store: IdempotencyStore, days: int, *,
                                every_seconds: float = FORGET_EVERY_SECONDS) -> None:
    """Forget keys older than `days`, now and every `every_seconds`, until cancelled. A
    failure is logged and tried again next time: a key kept too long does no harm."""
    while True:
        moment = datetime.now(timezone.utc) - timedelta(days=days)
        try:
            forgotten = await asyncio.to_thread(store.forget_before, moment)
        except Exception as error:  # noqa: BLE001 - the API keeps serving
            log.warning("could not forget old idempotency keys: %s", error)
        else:
            if forgotten:
                log.info("forgot %d idempotency key(s) stored before %s", forgotten,
                         moment.isoformat(timespec="seconds"))
        await asyncio.sleep(every_seconds)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False
    headers: dict[str, str] = field(default_factory=dict)
