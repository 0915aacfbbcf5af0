"""The Merkle log of every stored event, kept in SQL tables beside the events.

Tables (same names on SQLite and PostgreSQL; SQLite spells the types INTEGER/BLOB/TEXT)::

    ledger_leaves      (idx PK, position UNIQUE, originator_id, originator_version, topic,
                        leaf_hash)                   -- one row per leaf, idx = 0, 1, 2, ...
    ledger_nodes       ((level, idx) PK, hash)       -- perfect subtrees, domain/merkle.py
    ledger_checkpoints (size PK, root_hash, note, published_at)

Leaf `idx` counts events in log order from 0 with no gaps; `position` is the event's
notification id, which may have gaps (a PostgreSQL sequence skips on rollback). The
appender reads the log after the last recorded position, in batches, and writes the leaves
and every perfect subtree they complete in one transaction per batch: O(log n) work and
about three rows per event. Appends are serialised: by one lock per process, by
`BEGIN IMMEDIATE` on SQLite, by a transaction-scoped advisory lock on PostgreSQL; the tip is
re-read under that lock and the primary keys refuse whatever slips through anyway.

Proofs and roots read only the O(log n) nodes they need, with one query.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from domain.merkle import (
    CompactRange,
    MissingNodeError,
    NodeKey,
    NodeReader,
    ProofError,
    RootMismatchError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_at,
    verify_consistency,
)
from projections.checkpoint import (
    CheckpointError,
    parse_checkpoint,
    sign_checkpoint,
    verifier_key_from_signer,
    verify_checkpoint,
)
from projections.db import Cursor, Database, insert_rows
from projections.ledger.errors import (
    CheckpointNotFound,
    InvalidProofRequest,
    LeafNotFound,
    LedgerEntryGone,
    LedgerError,
    NoSignerKey,
    NothingToCheckpoint,
    TreeSizeNotAnchored,
)
from projections.ledger.events import EventSource, LogRecord
from projections.ledger.leaf import LeafEncodingError, encode_leaf

__all__ = ["ConsistencyProof", "InclusionProof", "Ledger", "LedgerEntry", "SqlNodeReader",
           "SignedHeadMemory", "StoredCheckpoint", "ensure_schema"]

_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ledger_leaves ("
    " idx INTEGER PRIMARY KEY CHECK (idx >= 0),"
    " position INTEGER NOT NULL UNIQUE,"
    " originator_id TEXT NOT NULL,"
    " originator_version INTEGER NOT NULL,"
    " topic TEXT NOT NULL,"
    " leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32))",
    "CREATE TABLE IF NOT EXISTS ledger_nodes ("
    " level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),"
    " idx INTEGER NOT NULL CHECK (idx >= 0),"
    " hash BLOB NOT NULL CHECK (length(hash) = 32),"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS ledger_checkpoints ("
    " size INTEGER PRIMARY KEY CHECK (size > 0),"
    " root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),"
    " note TEXT NOT NULL,"
    " published_at TEXT NOT NULL)",
)
_POSTGRES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ledger_leaves ("
    " idx BIGINT PRIMARY KEY CHECK (idx >= 0),"
    " position BIGINT NOT NULL UNIQUE,"
    " originator_id TEXT NOT NULL,"
    " originator_version BIGINT NOT NULL,"
    " topic TEXT NOT NULL,"
    " leaf_hash BYTEA NOT NULL CHECK (length(leaf_hash) = 32))",
    "CREATE TABLE IF NOT EXISTS ledger_nodes ("
    " level SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 63),"
    " idx BIGINT NOT NULL CHECK (idx >= 0),"
    " hash BYTEA NOT NULL CHECK (length(hash) = 32),"
    " PRIMARY KEY (level, idx))",
    "CREATE TABLE IF NOT EXISTS ledger_checkpoints ("
    " size BIGINT PRIMARY KEY CHECK (size > 0),"
    " root_hash BYTEA NOT NULL CHECK (length(root_hash) = 32),"
    " note TEXT NOT NULL,"
    " published_at TEXT NOT NULL)",
)

# Two-key advisory lock (classid, objid): classid is the first 4 bytes of
# SHA-256("kinerja-ledger appender") read as a signed int32; objid hashes the schema, so
# installations in different schemas of one database do not wait for each other.
_APPEND_LOCK_CLASS = int.from_bytes(hashlib.sha256(b"kinerja-ledger appender").digest()[:4],
                                    "big", signed=True)

_LEAF_COLUMNS = ("idx", "position", "originator_id", "originator_version", "topic",
                 "leaf_hash")
_NODE_COLUMNS = ("level", "idx", "hash")


class SignedHeadMemory(Protocol):
    """Where the ledger keeps a copy of the last checkpoint it signed, outside the database
    (beside the signing key). Before signing, the ledger checks that the new tree extends
    that copy, so that an attacker who resets or rewrites the ledger tables cannot get the
    new history signed."""

    def load(self) -> str | None: ...

    def save(self, note: str) -> None: ...


def ensure_schema(db: Database) -> None:
    with db.transaction() as cursor:
        for statement in _SQLITE_SCHEMA if db.kind == "sqlite" else _POSTGRES_SCHEMA:
            cursor.execute(statement)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class LedgerEntry:
    index: int
    position: int
    leaf_data: bytes
    leaf_hash: bytes
    topic: str
    originator_id: str
    originator_version: int


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root_hash: bytes
    note: str
    published_at: datetime


@dataclass(frozen=True)
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    root_hash: bytes
    proof: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    proof: list[bytes]


# ----------------------------------------------------------------------- node reading


def _select_nodes(cursor: Cursor, kind: str, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
    if not keys:
        return {}
    if kind == "sqlite":
        # A CTE join lets SQLite search the primary key once per key; a row-value IN
        # (VALUES ...) would scan the whole table.
        values = ", ".join("(?, ?)" for _ in keys)
        cursor.execute(f"WITH k(l, i) AS (VALUES {values}) SELECT n.level, n.idx, n.hash "
                       "FROM k JOIN ledger_nodes n ON n.level = k.l AND n.idx = k.i",
                       [part for key in keys for part in key])
    else:
        # Fixed SQL text whatever the number of keys, so PostgreSQL can keep one plan.
        cursor.execute("SELECT n.level, n.idx, n.hash FROM unnest(?::smallint[], ?::bigint[])"
                       " AS k(l, i) JOIN ledger_nodes n ON n.level = k.l AND n.idx = k.i",
                       ([level for level, _ in keys], [index for _, index in keys]))
    return {(level, index): bytes(hash_) for level, index, hash_ in cursor.fetchall()}


class SqlNodeReader:
    """`domain.merkle.NodeReader` over `ledger_nodes`: one query per `get_nodes` call."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        keys = list(keys)
        if not keys:
            return {}
        with self.db.transaction() as cursor:
            return _select_nodes(cursor, self.db.kind, keys)


class _CursorNodeReader:
    """Reads nodes inside the caller's transaction."""

    def __init__(self, cursor: Cursor, kind: str) -> None:
        self.cursor = cursor
        self.kind = kind

    def get_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        return _select_nodes(self.cursor, self.kind, list(keys))


class _AlsoFetch:
    """Adds keys of the caller's own to the one query a proof function makes."""

    def __init__(self, reader: NodeReader, extra: Sequence[NodeKey]) -> None:
        self.reader = reader
        self.extra = list(extra)
        self.found: dict[NodeKey, bytes] = {}

    def get_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        self.found = self.reader.get_nodes([*keys, *self.extra])
        return self.found


def _insert_many(cursor: Cursor, table: str, columns: Sequence[str],
                 rows: Sequence[Sequence[Any]]) -> None:
    # COPY on PostgreSQL: an order of magnitude faster than executemany or unnest arrays
    # of bytea, which psycopg escapes row by row.
    insert_rows(cursor, table, columns, rows)


_INTEGRITY_ERRORS: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)
try:  # psycopg is a dependency, but the SQLite path must not need it at import
    import psycopg.errors

    _INTEGRITY_ERRORS += (psycopg.errors.IntegrityError,)
except ImportError:  # pragma: no cover
    pass


def _size_of(note: str) -> int:
    try:
        return parse_checkpoint(note).size
    except CheckpointError:
        return -1


# ---------------------------------------------------------------------------- ledger


class Ledger:
    """The Merkle log over one event store.

    `db` holds the ledger tables (`projections.db.open_database(settings.store())`);
    `events` reads the log (`RecorderEvents(app.recorder)`). Without `signer_key` the
    ledger can append and serve proofs but not publish checkpoints.
    """

    def __init__(self, db: Database, events: EventSource, *, origin: str,
                 signer_key: str | None = None,
                 clock: Callable[[], datetime] = _utc_now,
                 every_events: int = 1000, every_seconds: float = 60.0,
                 batch_size: int = 5000, owns_db: bool = False,
                 last_signed: SignedHeadMemory | None = None) -> None:
        if batch_size < 1 or every_events < 1 or every_seconds <= 0:
            raise ValueError("batch_size and every_events must be >= 1, every_seconds > 0")
        self.db = db
        self.events = events
        self.origin = origin
        self._signer_key = signer_key
        self.public_key = verifier_key_from_signer(signer_key) if signer_key else None
        self.clock = clock
        self.every_events = every_events
        self.every_seconds = every_seconds
        self.batch_size = batch_size
        self.nodes = SqlNodeReader(db)
        self._owns_db = owns_db
        self.last_signed = last_signed
        self._append_lock = threading.Lock()
        self._publish_lock = threading.Lock()
        ensure_schema(db)

    def close(self) -> None:
        """Close the database if this ledger opened it."""
        if self._owns_db:
            self.db.close()

    # --- appending ------------------------------------------------------------------

    def _tip(self, cursor: Cursor) -> tuple[int, int | None]:
        """(tree size, position of the last leaf or None)."""
        cursor.execute("SELECT idx, position FROM ledger_leaves ORDER BY idx DESC LIMIT 1")
        row = cursor.fetchone()
        return (0, None) if row is None else (row[0] + 1, row[1])

    def size(self) -> int:
        with self.db.transaction() as cursor:
            return self._tip(cursor)[0]

    def catch_up(self, *, max_batches: int | None = None) -> int:
        """Append every event not yet in the tree; return the new tree size.

        Safe to call from several threads or processes at once: appends are serialised.
        Raises LeafEncodingError if the log holds a record with no leaf encoding (a damaged
        store); nothing of that batch is written.
        """
        batches = conflicts = 0
        with self._append_lock:
            while max_batches is None or batches < max_batches:
                with self.db.transaction() as cursor:
                    size, last_position = self._tip(cursor)
                # Read and hash outside the write transaction, to hold the lock briefly.
                records = self.events.read(last_position, self.batch_size)
                if not records:
                    return size
                hashes = [leaf_hash(encode_leaf(r.originator_id, r.originator_version,
                                                r.topic, r.state)) for r in records]
                try:
                    appended = self._append(size, last_position, records, hashes)
                except _INTEGRITY_ERRORS:
                    # Another appender won a race the lock missed: read its tip again. A
                    # conflict that persists is damage, not a race.
                    conflicts += 1
                    if conflicts > 5:
                        raise
                    continue
                conflicts = 0
                # False: another appender got there first; read its tip again.
                batches += appended
            return self.size()

    def _append(self, size: int, last_position: int | None, records: Sequence[LogRecord],
                hashes: Sequence[bytes]) -> bool:
        with self.db.transaction() as cursor:
            if self.db.kind == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))",
                               (_APPEND_LOCK_CLASS,))
            if self._tip(cursor) != (size, last_position):
                return False
            edge = CompactRange.from_store(size, _CursorNodeReader(cursor, self.db.kind))
            nodes: list[tuple[int, int, bytes]] = []
            for hash_ in hashes:
                nodes.extend((level, index, h) for (level, index), h in edge.append(hash_))
            leaves = [(size + offset, r.position, str(r.originator_id), r.originator_version,
                       r.topic, hash_)
                      for offset, (r, hash_) in enumerate(zip(records, hashes, strict=True))]
            _insert_many(cursor, "ledger_leaves", _LEAF_COLUMNS, leaves)
            _insert_many(cursor, "ledger_nodes", _NODE_COLUMNS, nodes)
        return True

    # --- reading --------------------------------------------------------------------

    def root(self, size: int | None = None) -> bytes:
        """The root of the first `size` leaves (default: the whole tree), unsigned."""
        current = self.size()
        size = current if size is None else size
        if not 0 <= size <= current:
            raise InvalidProofRequest(f"the tree has {current} leaves, not {size}")
        return root_at(size, self.nodes)

    def entry(self, index: int) -> LedgerEntry:
        """Leaf `index`: its data re-encoded from the event as stored now, and the leaf hash
        recorded in the tree. A reader must hash the data itself: if the two disagree,
        the event was altered after it entered the log."""
        with self.db.transaction() as cursor:
            cursor.execute("SELECT position, leaf_hash FROM ledger_leaves WHERE idx = ?",
                           (index,))
            row = cursor.fetchone()
        if index < 0 or row is None:
            raise LeafNotFound(f"no leaf {index} in the ledger", index=index)
        position, stored_hash = row[0], bytes(row[1])
        found = self.events.read(position - 1, 1)
        if not found or found[0].position != position:
            raise LedgerEntryGone(
                f"leaf {index} was the event at position {position}, which is no longer "
                "stored: run `kinerja verify`", index=index, position=position)
        record = found[0]
        try:
            data = encode_leaf(record.originator_id, record.originator_version,
                               record.topic, record.state)
        except LeafEncodingError as error:
            raise LedgerEntryGone(f"the event behind leaf {index} is damaged: {error}",
                                  index=index, position=position) from None
        return LedgerEntry(index, position, data, stored_hash, record.topic,
                           str(record.originator_id), record.originator_version)

    def leaf_for_position(self, positions: Iterable[int]) -> dict[int, tuple[int, str]]:
        """{position: (leaf index, leaf hash hex)} for those positions already in the tree."""
        wanted = sorted(set(positions))
        result: dict[int, tuple[int, str]] = {}
        with self.db.transaction() as cursor:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                cursor.execute("SELECT position, idx, leaf_hash FROM ledger_leaves "
                               f"WHERE position IN ({', '.join('?' for _ in chunk)})", chunk)
                for position, index, hash_ in cursor.fetchall():
                    result[position] = (index, bytes(hash_).hex())
        return result

    # --- checkpoints ----------------------------------------------------------------

    @staticmethod
    def _checkpoint(row: Sequence[Any]) -> StoredCheckpoint:
        return StoredCheckpoint(row[0], bytes(row[1]), row[2],
                                datetime.fromisoformat(row[3]))

    def checkpoint(self, size: int | None = None) -> StoredCheckpoint:
        """The latest checkpoint, or the one of `size`; CheckpointNotFound if none."""
        with self.db.transaction() as cursor:
            if size is None:
                cursor.execute("SELECT size, root_hash, note, published_at "
                               "FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
            else:
                cursor.execute("SELECT size, root_hash, note, published_at "
                               "FROM ledger_checkpoints WHERE size = ?", (size,))
            row = cursor.fetchone()
        if row is None:
            raise CheckpointNotFound("no checkpoint has been published yet" if size is None
                                     else f"no checkpoint of size {size} was published",
                                     size=size)
        return self._checkpoint(row)

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, smallest first (unverified: the table is not the anchor)."""
        with self.db.transaction() as cursor:
            cursor.execute("SELECT size, root_hash, note, published_at "
                           "FROM ledger_checkpoints ORDER BY size")
            return [self._checkpoint(row) for row in cursor.fetchall()]

    def _latest_or_none(self) -> StoredCheckpoint | None:
        try:
            return self.checkpoint()
        except CheckpointNotFound:
            return None

    def publish_checkpoint(self) -> str:
        """Sign and store a checkpoint for the current tree; return its note.

        Before signing, the tree must extend the latest stored checkpoint and the last
        checkpoint this ledger signed (`last_signed`, kept outside the database): checked
        with consistency proofs from the stored nodes against those signed roots. A reset
        or rewritten tree is refused, never signed. A tree already checkpointed returns
        that note.
        """
        if self._signer_key is None or self.public_key is None:
            raise NoSignerKey("this ledger was opened without its signing key")
        with self._publish_lock:
            size = self.size()
            if size == 0:
                raise NothingToCheckpoint("the ledger is empty; there is nothing to sign")
            latest = self._latest_or_none()
            if latest is not None and latest.size >= size:
                return latest.note
            root = root_at(size, self.nodes)
            for earlier_size, earlier_root, what in self._signed_before(latest):
                self._require_extends(earlier_size, earlier_root, what, size, root)
            note = sign_checkpoint(self.origin, size, root, self._signer_key)
            with self.db.transaction() as cursor:
                cursor.execute("INSERT INTO ledger_checkpoints (size, root_hash, note, "
                               "published_at) VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING",
                               (size, root, note, self.clock().isoformat()))
            note = self.checkpoint(size).note
            self._remember(note)
            return note

    def _signed_before(self, latest: StoredCheckpoint | None) -> list[tuple[int, bytes, str]]:
        earlier = []
        if latest is not None:
            earlier.append((latest.size, latest.root_hash, "the latest stored checkpoint"))
        remembered = self.last_signed.load() if self.last_signed is not None else None
        if remembered is not None:
            try:
                checkpoint = verify_checkpoint(remembered, self.public_key or "",
                                               expected_origin=self.origin)
            except CheckpointError as error:
                raise LedgerError(f"the copy of the last signed checkpoint is unusable: "
                                  f"{error}") from None
            earlier.append((checkpoint.size, checkpoint.root_hash,
                            "the last checkpoint this key signed"))
        return earlier

    def _require_extends(self, earlier_size: int, earlier_root: bytes, what: str,
                         size: int, root: bytes) -> None:
        refusal = (f"refusing to sign size {size}: the stored tree does not extend {what} "
                   f"(size {earlier_size})")
        if earlier_size > size:
            raise LedgerError(f"{refusal}; the ledger tables were reset or rewritten: run "
                              "`kinerja verify`")
        try:
            if earlier_size == size:
                if earlier_root != root:
                    raise RootMismatchError("roots differ", expected=earlier_root,
                                            calculated=root)
            else:
                verify_consistency(earlier_size, size,
                                   consistency_proof(earlier_size, size, self.nodes),
                                   earlier_root, root)
        except (ProofError, MissingNodeError) as error:
            raise LedgerError(f"{refusal} ({error}); run `kinerja verify`") from None

    def _remember(self, note: str) -> None:
        if self.last_signed is None:
            return
        kept = self.last_signed.load()
        # Another process may have signed a larger tree meanwhile: keep the larger.
        if kept is not None and _size_of(kept) >= _size_of(note):
            return
        self.last_signed.save(note)

    def maybe_publish(self) -> str | None:
        """Publish when `every_events` new leaves or `every_seconds` have passed since the
        latest checkpoint (and the tree has grown); return the new note, else None."""
        if self._signer_key is None:
            return None
        size = self.size()
        latest = self._latest_or_none()
        if size == 0 or (latest is not None and latest.size >= size):
            return None
        if latest is not None:
            waited = (self.clock() - latest.published_at).total_seconds()
            if size - latest.size < self.every_events and waited < self.every_seconds:
                return None
        return self.publish_checkpoint()

    # --- proofs ---------------------------------------------------------------------
    #
    # Each proof is one transaction (one connection from the pool) with two statements:
    # the checkpoint row, then every node the proof needs.

    def _anchored(self, cursor: Cursor, sizes: Sequence[int]) -> dict[int, StoredCheckpoint]:
        cursor.execute("SELECT size, root_hash, note, published_at FROM ledger_checkpoints "
                       f"WHERE size IN ({', '.join('?' for _ in sizes)})", list(sizes))
        found = {row[0]: self._checkpoint(row) for row in cursor.fetchall()}
        for size in sizes:
            if size not in found:
                raise TreeSizeNotAnchored(
                    f"no checkpoint of size {size} was published; proofs are served only "
                    "for checkpointed sizes (GET /v1/ledger/checkpoint)", size=size)
        return found

    def _latest(self, cursor: Cursor) -> StoredCheckpoint:
        cursor.execute("SELECT size, root_hash, note, published_at "
                       "FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
        row = cursor.fetchone()
        if row is None:
            raise CheckpointNotFound("no checkpoint has been published yet")
        return self._checkpoint(row)

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """RFC 9162 inclusion proof of leaf `index` in the checkpointed tree of `size`
        (default: the latest checkpoint), with the signed root it leads to."""
        with self.db.transaction() as cursor:
            checkpoint = (self._latest(cursor) if size is None
                          else self._anchored(cursor, [size])[size])
            if not 0 <= index < checkpoint.size:
                raise InvalidProofRequest(
                    f"leaf {index} is not in the tree of size {checkpoint.size}",
                    index=index, size=checkpoint.size)
            nodes = _CursorNodeReader(cursor, self.db.kind)
            reader = _AlsoFetch(nodes, [(0, index)])
            proof = inclusion_proof(index, checkpoint.size, reader)
            # A one-leaf tree has an empty proof, for which no query was made.
            found = reader.found or nodes.get_nodes([(0, index)])
        if (0, index) not in found:
            raise MissingNodeError([(0, index)])
        return InclusionProof(index, checkpoint.size, found[(0, index)],
                              checkpoint.root_hash, proof)

    def consistency_proof(self, first: int, second: int | None = None) -> ConsistencyProof:
        """RFC 9162 consistency proof between two checkpointed sizes (`second` defaults to
        the latest checkpoint)."""
        with self.db.transaction() as cursor:
            if second is None:
                second = self._latest(cursor).size
            if not 0 < first <= second:
                raise InvalidProofRequest(
                    f"no consistency proof leads from size {first} to size {second} "
                    "(0 < first <= second)", first=first, second=second)
            self._anchored(cursor, [first, second])
            proof = consistency_proof(first, second, _CursorNodeReader(cursor, self.db.kind))
        return ConsistencyProof(first, second, proof)
