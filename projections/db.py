"""A thin, shared access layer to the SQL store that holds read models and the Merkle tree.

Read models live beside the events: in the same SQLite file, or in the same PostgreSQL
schema (reached through `search_path`, so SQL never names the schema). SQL is written
once with `?` placeholders and converted for psycopg. A `memory://` event store keeps its
read models in a private in-memory SQLite database.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol


class Cursor(Protocol):
    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Database:
    """One SQL database, SQLite or PostgreSQL. Thread-safe: one connection per use on
    PostgreSQL (pooled), one serialised connection on SQLite."""

    kind: str

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:  # pragma: no cover - interface
        raise NotImplementedError
        yield

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        """A cursor for statements that only read. Where a transaction adds nothing to
        what they see, none is opened (see PostgresDatabase)."""
        with self.transaction() as cursor:
            yield cursor

    def close(self) -> None:  # pragma: no cover - interface
        pass


class _QmarkCursor:
    """Accepts `?` placeholders on a psycopg cursor."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @staticmethod
    def _convert(statement: str) -> str:
        return statement.replace("%", "%%").replace("?", "%s")

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(self._convert(statement), params or None)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(self._convert(statement), rows)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def copy_rows(self, table: str, columns: Sequence[str],
                  rows: Sequence[Sequence[Any]]) -> None:
        """Bulk insert with COPY: many times faster than executemany on PostgreSQL."""
        with self._cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


class SQLiteDatabase(Database):
    kind = "sqlite"

    def __init__(self, path: Path | str | None) -> None:
        """`path` None means a private in-memory database."""
        self._lock = threading.RLock()
        #: The file, or None for a private in-memory database.
        self.path: Path | None = None if path is None else Path(path)
        target = ":memory:" if path is None else str(path)
        self._connection = sqlite3.connect(target, check_same_thread=False,
                                           isolation_level=None, timeout=30)
        if path is not None:
            self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        # Read-model tables are large and written in bulk: a bigger page cache (64 MiB)
        # keeps index pages in memory during a rebuild.
        self._connection.execute("PRAGMA cache_size=-65536")

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            else:
                cursor.execute("COMMIT")
            finally:
                cursor.close()

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class PostgresDatabase(Database):
    kind = "postgresql"

    def __init__(self, conninfo: str, schema: str, *, pool_size: int = 4) -> None:
        import psycopg
        from psycopg import sql
        from psycopg_pool import ConnectionPool

        #: Kept for callers that need a connection of their own (LISTEN, scratch schemas).
        self.conninfo = conninfo
        self.schema = schema
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(schema)))
        # Autocommit: `transaction` opens each transaction explicitly, and `reading`
        # opens none.
        self._pool = ConnectionPool(
            conninfo, min_size=1, max_size=pool_size, open=True, timeout=10,
            kwargs={"options": f"-c search_path={schema}", "autocommit": True})

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._pool.connection() as connection:
            with connection.transaction():
                with connection.cursor() as cursor:
                    yield _QmarkCursor(cursor)

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        """Each statement on its own: under read committed, statements in one
        transaction see a snapshot each anyway, and the read models are versioned by log
        position, so a query pinned to a position reads the same rows either way. It
        spares a round trip for the BEGIN and one for the COMMIT."""
        with self._pool.connection() as connection:
            with connection.cursor() as cursor:
                yield _QmarkCursor(cursor)

    def close(self) -> None:
        self._pool.close()


def postgres_conninfo(store: Any) -> str:
    """Connection string for a store location (`api.settings.StoreLocation`)."""
    import psycopg

    return psycopg.conninfo.make_conninfo(
        host=store.host, port=store.port, user=store.user or None,
        password=store.password or None, dbname=store.dbname, connect_timeout=5)


def open_database(store: Any, *, pool_size: int = 4) -> Database:
    """The read-model database beside the event store at `store` (a StoreLocation)."""
    if store.kind == "memory":
        return SQLiteDatabase(None)
    if store.kind == "sqlite":
        return SQLiteDatabase(store.sqlite_path)
    return PostgresDatabase(postgres_conninfo(store), store.schema, pool_size=pool_size)


def insert_rows(cursor: Cursor, table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """Insert many rows in one go: COPY on PostgreSQL, executemany on SQLite.
    `table` and `columns` are trusted identifiers, never user input."""
    if not rows:
        return
    if isinstance(cursor, _QmarkCursor):
        cursor.copy_rows(table, columns, rows)
    else:
        marks = ", ".join("?" for _ in columns)
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def empty_table(cursor: Cursor, table: str) -> None:
    """Remove every row: TRUNCATE on PostgreSQL (a DELETE of millions of rows takes
    minutes there), DELETE on SQLite (which truncates an unconditional DELETE itself)."""
    if isinstance(cursor, _QmarkCursor):
        cursor.execute(f"TRUNCATE {table}")
    else:
        cursor.execute(f"DELETE FROM {table}")


def set_valid_to(cursor: Cursor, table: str, key: str,
                 rows: Sequence[tuple[int, Any, int]]) -> None:
    """Close versions: rows of (valid_to, key value, valid_from). One statement on
    PostgreSQL (a join against arrays), executemany on SQLite."""
    if not rows:
        return
    if isinstance(cursor, _QmarkCursor):
        ends, keys, starts = (list(column) for column in zip(*rows))
        cursor.execute(
            f"UPDATE {table} AS t SET valid_to = u.valid_to FROM "
            "unnest(?::bigint[], ?::text[], ?::bigint[]) AS u(valid_to, k, valid_from) "
            f"WHERE t.{key} = u.k AND t.valid_from = u.valid_from", [ends, keys, starts])
    else:
        cursor.executemany(f"UPDATE {table} SET valid_to = ? "
                           f"WHERE {key} = ? AND valid_from = ?", rows)
