"""Reading the event log in order, as the ledger needs it.

Two readers of the same rows: `RecorderEvents` goes through the eventsourcing recorder (what
the appender uses), `SqlEvents` reads the library's table directly with plain SQL (what
`kinerja verify` uses, so the check does not trust the code path that built the tree and
needs no running application). Both yield `LogRecord`s in position order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from projections.db import Database

__all__ = ["EventSource", "LogRecord", "RawRecord", "RecorderEvents", "SqlEvents", "iterate",
           "iterate_raw"]

#: (position, the originator id's 16 bytes or None if it is no UUID, version, topic, state)
RawRecord = tuple[int, bytes | None, int, str, bytes]


class LogRecord(NamedTuple):
    position: int
    originator_id: Any  # a UUID, or whatever a damaged store holds instead
    originator_version: int
    topic: str
    state: bytes


class EventSource(Protocol):
    def read(self, after: int | None, limit: int) -> Sequence[LogRecord]:
        """Up to `limit` records with position > `after` (all, if None), in position order."""
        ...


class RecorderEvents:
    """Through `recorder.select_notifications` (memory, SQLite and PostgreSQL recorders)."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder

    def read(self, after: int | None, limit: int) -> Sequence[LogRecord]:
        start = None if after is None else after + 1
        return [LogRecord(n.id, n.originator_id, n.originator_version, n.topic, n.state)
                for n in self.recorder.select_notifications(start, limit)]


class SqlEvents:
    """The library's events table read with plain SQL.

    The layouts are those of eventsourcing 9.5.6: on SQLite the table `stored_events`
    ordered by `rowid`, the UUID as 32 hex digits; on PostgreSQL `<app>_events` ordered by
    `notification_id`, the UUID native.
    """

    def __init__(self, db: Database, table: str) -> None:
        if not table.replace("_", "").isalnum():
            raise ValueError(f"{table!r} is not a plain table name")
        self.db = db
        self.table = table
        self._connection: Any = None
        #: Reading ahead in a second thread pays on PostgreSQL, where the driver waits on
        #: the network without the GIL; on SQLite the two threads only contend.
        self.read_ahead = db.kind == "postgresql"
        position = "rowid" if db.kind == "sqlite" else "notification_id"
        self._select = (f"SELECT {position}, originator_id, originator_version, topic, state "
                        f"FROM {table} WHERE {position} > ? ORDER BY {position} LIMIT ?")
        # PostgreSQL sends the uuid's 16 bytes: no UUID object per row.
        raw_id = "originator_id" if db.kind == "sqlite" else "uuid_send(originator_id)"
        self._select_raw = (f"SELECT {position}, {raw_id}, originator_version, topic, state "
                            f"FROM {table} WHERE {position} > ? ORDER BY {position} LIMIT ?")

    def exists(self) -> bool:
        with self.db.transaction() as cursor:
            if self.db.kind == "sqlite":
                cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (self.table,))
            else:
                cursor.execute("SELECT 1 FROM information_schema.tables WHERE table_name = ? "
                               "AND table_schema = current_schema()", (self.table,))
            return cursor.fetchone() is not None

    def read(self, after: int | None, limit: int) -> Sequence[LogRecord]:
        with self.db.transaction() as cursor:
            cursor.execute(self._select, (-1 if after is None else after, limit))
            rows = cursor.fetchall()
        return [LogRecord(p, _as_uuid(o), v, t, bytes(s) if s is not None else b"")
                for p, o, v, t, s in rows]


    def _binary_connection(self) -> Any:
        # Bulk reads on a connection of their own in binary mode: bytea arrives as bytes
        # rather than hex text, which halves the cost of reading the whole log.
        if self._connection is None:
            import psycopg

            self._connection = psycopg.connect(
                self.db.conninfo, autocommit=True,  # type: ignore[attr-defined]
                options=f"-c search_path={self.db.schema}")  # type: ignore[attr-defined]
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> SqlEvents:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def read_raw(self, after: int | None, limit: int) -> list[RawRecord]:
        params = (-1 if after is None else after, limit)
        if self.db.kind == "postgresql" and hasattr(self.db, "conninfo"):
            with self._binary_connection().cursor(binary=True) as cursor:
                cursor.execute(self._select_raw.replace("?", "%s"), params)
                # Already (int, bytes, int, str, bytes); a NULL is left for the hasher
                # to refuse.
                return cursor.fetchall()
        else:
            with self.db.transaction() as cursor:
                cursor.execute(self._select_raw, params)
                rows = cursor.fetchall()
        if self.db.kind == "sqlite":
            return [(p, _hex_id(o), v, t, s if s is not None else b"") for p, o, v, t, s in rows]
        return [(p, bytes(o) if o is not None else None, v, t,
                 bytes(s) if s is not None else b"") for p, o, v, t, s in rows]


def _hex_id(value: Any) -> bytes | None:
    # The library writes `uuid.hex`: 32 hex digits. Anything else is parsed the slow way.
    try:
        raw = bytes.fromhex(value)
        if len(raw) == 16:
            return raw
    except (TypeError, ValueError):
        pass
    converted = _as_uuid(value)
    return converted.bytes if isinstance(converted, UUID) else None


def _as_uuid(value: Any) -> Any:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except (TypeError, ValueError, AttributeError):
        return value  # left for the leaf encoder to refuse, naming the index


def iterate(source: EventSource, *, after: int | None = None,
            batch: int = 5000) -> Iterator[LogRecord]:
    """Every record after `after`, in position order, read `batch` at a time."""
    while True:
        records = source.read(after, batch)
        yield from records
        if len(records) < batch:
            return
        after = records[-1].position


def iterate_raw(source: EventSource, *, after: int | None = None, batch: int = 5000,
                prefetch: bool = False) -> Iterator[RawRecord]:
    """Like `iterate`, as `RawRecord` tuples; fast on `SqlEvents`. With `prefetch`, the
    next batch is read in a second thread while the caller works on this one (the
    database driver releases the GIL while it waits)."""
    read_raw = getattr(source, "read_raw", None)
    if read_raw is None:
        for r in iterate(source, after=after, batch=batch):
            id_bytes = r.originator_id.bytes if isinstance(r.originator_id, UUID) else None
            yield r.position, id_bytes, r.originator_version, r.topic, r.state
        return
    batches = _raw_batches(read_raw, after, batch)
    if prefetch:
        batches = _prefetched(batches)
    for records in batches:
        yield from records


def _raw_batches(read_raw: Any, after: int | None, batch: int) -> Iterator[list[RawRecord]]:
    while True:
        records = read_raw(after, batch)
        yield records
        if len(records) < batch:
            return
        after = records[-1][0]


def _prefetched(batches: Iterator[list[RawRecord]]) -> Iterator[list[RawRecord]]:
    done = object()
    ready: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            for records in batches:
                while not stop.is_set():
                    try:
                        ready.put(records, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(done)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            ready.put(error)

    thread = threading.Thread(target=produce, name="kinerja-ledger-read", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        # The consumer may stop early (a fault found): let the reader finish its batch.
        stop.set()
        thread.join()
