"""The read models, their tracking table, and the canonical digest of their content."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from projections.audit import AuditProjection
from projections.base import Projection, Table
from projections.db import Cursor, Database
from projections.distribution import DistributionProjection
from projections.explanation import ExplanationProjection
from projections.history import HistoryProjection
from projections.scores import ScoresProjection

#: Projection name -> the last log position applied to its tables.
TRACKING = "rm_tracking"
NAMES = ("scores", "history", "distribution", "audit", "explanation")
_FACTORIES = {
    "scores": ScoresProjection,
    "history": HistoryProjection,
    "distribution": DistributionProjection,
    "audit": AuditProjection,
    "explanation": ExplanationProjection,
}
#: Any number; serialises table creation between processes on PostgreSQL.
_DDL_LOCK = 0x6B696E6A  # "kinj"


class UnknownProjection(ValueError):
    pass


def make_projections(names: Iterable[str] | None = None) -> list[Projection]:
    chosen = list(NAMES if names is None else names)
    unknown = [n for n in chosen if n not in _FACTORIES]
    if unknown:
        raise UnknownProjection(f"no read model named {', '.join(unknown)}; "
                                f"the models are {', '.join(NAMES)}")
    return [_FACTORIES[n]() for n in chosen]


def fingerprint(projection: Projection, kind: str = "postgresql") -> str:
    """Identifies the shape of a projection's tables: when it changes (a new version of
    the code), the old tables are dropped and the projection rebuilt from position 0."""
    ddl = "\n".join(statement for table in projection.tables for statement in table.ddl(kind))
    return hashlib.sha256(ddl.encode()).hexdigest()[:16]


def create_tables(db: Database, projections: Sequence[Projection] | None = None) -> None:
    """Create every table (idempotent, safe from several processes at once). A projection
    whose tables were made by a different version of this code is emptied and reset to
    position 0, so that it is rebuilt in the current shape."""
    projections = make_projections() if projections is None else projections
    wanted = {TRACKING} | {name for p in projections for name in _object_names(p)}
    expected = {p.name: fingerprint(p, db.kind) for p in projections}
    with db.transaction() as cur:
        if wanted <= _existing_objects(cur, db.kind) and _has_fingerprints(cur, db.kind):
            cur.execute(f"SELECT projection, fingerprint FROM {TRACKING}")
            if expected.items() <= dict(cur.fetchall()).items():
                return
    with db.transaction() as cur:
        if db.kind == "postgresql":
            cur.execute("SELECT pg_advisory_xact_lock(?)", [_DDL_LOCK])
        cur.execute(f"CREATE TABLE IF NOT EXISTS {TRACKING} (projection TEXT NOT NULL "
                    "PRIMARY KEY, position BIGINT NOT NULL, fingerprint TEXT)")
        if not _has_fingerprints(cur, db.kind):
            cur.execute(f"ALTER TABLE {TRACKING} ADD COLUMN fingerprint TEXT")
        cur.execute(f"SELECT projection, fingerprint FROM {TRACKING}")
        recorded = dict(cur.fetchall())
        for projection in projections:
            name = projection.name
            if name in recorded and recorded[name] != expected[name]:
                for table in projection.tables:
                    cur.execute(f"DROP TABLE IF EXISTS {table.name}")
                cur.execute(f"UPDATE {TRACKING} SET position = 0, fingerprint = ? "
                            "WHERE projection = ?", [expected[name], name])
            projection.create(cur, db.kind)
            cur.execute(f"INSERT INTO {TRACKING} (projection, position, fingerprint) "
                        "VALUES (?, 0, ?) ON CONFLICT (projection) DO NOTHING",
                        [name, expected[name]])


def _has_fingerprints(cur: Cursor, kind: str) -> bool:
    if kind == "postgresql":
        cur.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = "
                    f"current_schema() AND table_name = '{TRACKING}' "
                    "AND column_name = 'fingerprint'")
        return cur.fetchone() is not None
    cur.execute(f"PRAGMA table_info({TRACKING})")
    return any(row[1] == "fingerprint" for row in cur.fetchall())


def _object_names(projection: Projection) -> set[str]:
    return {name for table in projection.tables
            for name in (table.name, *table.index_names)}


def _existing_objects(cur: Cursor, kind: str) -> set[str]:
    if kind == "postgresql":
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = current_schema()")
    else:
        cur.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
    return {r[0] for r in cur.fetchall()}


def tracked_positions(cur: Cursor, names: Sequence[str], *, lock: bool = False,
                      kind: str = "sqlite") -> dict[str, int]:
    marks = ", ".join("?" for _ in names)
    suffix = " FOR UPDATE" if lock and kind == "postgresql" else ""
    cur.execute(f"SELECT projection, position FROM {TRACKING} "
                f"WHERE projection IN ({marks}){suffix}", list(names))
    return {name: position for name, position in cur.fetchall()}


def content_tables(name: str) -> tuple[Table, ...]:
    return tuple(t for t in _FACTORIES[name]().tables if t.content)


def _table_lines(cur: Cursor, table: Table, upto: int | None,
                 page: int = 5000) -> Iterable[bytes]:
    from projections.base import dumps

    names = table.column_names
    key = table.primary_key
    select = ", ".join(
        f"CASE WHEN valid_to > {int(upto)} THEN NULL ELSE valid_to END"
        if (n == "valid_to" and upto is not None) else n for n in names)
    where = []
    if upto is not None:
        column = "valid_from" if table.temporal else table.position_column
        if column is None:
            raise ValueError(f"{table.name} cannot be read as of a position")
        where.append(f"{column} <= {int(upto)}")
    yield f"table {table.name} {','.join(names)}\n".encode()
    key_index = [names.index(k) for k in key]
    last: list[Any] | None = None
    while True:
        conditions = list(where)
        params: list[Any] = []
        if last is not None:
            conditions.append(f"({', '.join(key)}) > ({', '.join('?' for _ in key)})")
            params = list(last)
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        cur.execute(f"SELECT {select} FROM {table.name}{clause} "
                    f"ORDER BY {', '.join(key)} LIMIT {page}", params)
        rows = cur.fetchall()
        for row in rows:
            yield (dumps(list(row)) + "\n").encode()
        if len(rows) < page:
            return
        last = [rows[-1][i] for i in key_index]


def model_digest(db: Database, name: str, *, upto: int | None = None) -> str:
    """SHA-256 over the canonical serialisation of a model's content tables (rows in
    key order, one canonical JSON array per row), as of `upto` when given: rows made
    after it left out, versions replaced after it shown as still current."""
    digest = hashlib.sha256()
    with db.transaction() as cur:
        for table in content_tables(name):
            for line in _table_lines(cur, table, upto):
                digest.update(line)
    return digest.hexdigest()


def table_rows(db: Database, table: Table) -> list[tuple[Any, ...]]:
    """Every row of a table in key order (tests compare whole tables with it)."""
    with db.transaction() as cur:
        cur.execute(f"SELECT {', '.join(table.column_names)} FROM {table.name} "
                    f"ORDER BY {', '.join(table.primary_key)}")
        return [tuple(r) for r in cur.fetchall()]


def all_tables() -> tuple[Table, ...]:
    return tuple(t for name in NAMES for t in _FACTORIES[name]().tables)
