"""What every read model shares: tables, batched writes, temporal rows, the handler table.

A projection applies a batch of events in memory, then writes what changed in a few
bulk statements inside the runner's transaction (the same one that moves its tracking
position), so a batch is applied entirely or not at all.

Three kinds of table:

- append-only (`Appended`): one row per fact, carrying its log position; as of p means
  `position <= p`.
- temporal (`Versioned`): one row per version of a thing, `valid_from` the position that
  made it, `valid_to` the position that replaced it (NULL while current); as of p means
  `valid_from <= p AND (valid_to IS NULL OR valid_to > p)`.
- keyed (`Keyed`): the current value of each key only, upserted. Mostly a projection's
  working state for its own lookups while applying (`content=False`: never queried,
  never part of a digest).

Rows are cached between batches (they are only ever changed by this projection). After a
failed batch, or when another process moved the tracking position, the cache is dropped.
"""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any

from projections.db import Cursor, empty_table, insert_rows, set_valid_to
from projections.decoding import LogEvent

#: Largest IN (...) list sent in one statement.
CHUNK = 500
#: A cache beyond this many rows is dropped before a batch (memory stays bounded).
CACHE_LIMIT = 500_000


def _canonical_encoder() -> Callable[[Any], str]:
    """Canonical JSON: the same content always gives the same bytes.

    `json.dumps` with options, and `JSONEncoder.encode` too, build a new C encoder on
    every call, which for a history row's small `change` cost a third of encoding it.
    This one is built once, with the same settings, so it writes the same text (tested
    against `json.dumps` on generated values). It skips the circular reference check: a
    row's value is a tree, and a shared C encoder must not keep per-call marks."""
    settings = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if c_make_encoder is None:  # an interpreter without the C accelerator
        return settings.encode
    encode_tree = c_make_encoder(
        None, settings.default, encode_basestring, None, settings.key_separator,
        settings.item_separator, settings.sort_keys, settings.skipkeys, settings.allow_nan)
    return lambda value: "".join(encode_tree(value, 0))


dumps: Callable[[Any], str] = _canonical_encoder()


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


@dataclass(frozen=True)
class Table:
    """A read-model table. `columns` are (name, SQL type) in order; JSON columns hold
    canonical JSON text. `temporal` tables carry valid_from/valid_to after the key;
    positional tables name their `position_column` for as-of filters."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    json_columns: frozenset[str] = frozenset()
    temporal: bool = False
    position_column: str | None = None
    indexes: tuple[str, ...] = ()  # full "CREATE INDEX IF NOT EXISTS ..." statements
    #: Part of the model's content (digested, queryable), or working state only.
    content: bool = True

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @cached_property
    def primary_key(self) -> tuple[str, ...]:
        return (*self.key, "valid_from") if self.temporal else self.key

    @cached_property
    def index_names(self) -> tuple[str, ...]:
        return tuple(statement.split(" IF NOT EXISTS ")[1].split()[0]
                     for statement in self.indexes)

    def ddl(self, kind: str = "postgresql") -> list[str]:
        """On SQLite the table is clustered on its primary key (WITHOUT ROWID): one
        B-tree per table instead of a rowid table plus a key index."""
        columns = ", ".join(f"{name} {kind_}" for name, kind_ in self.columns)
        clustered = " WITHOUT ROWID" if kind == "sqlite" else ""
        return [f"CREATE TABLE IF NOT EXISTS {self.name} ({columns}, "
                f"PRIMARY KEY ({', '.join(self.primary_key)})){clustered}", *self.indexes]


def temporal_columns(key: Sequence[tuple[str, str]],
                     rest: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return (*key, ("valid_from", "BIGINT NOT NULL"), ("valid_to", "BIGINT"), *rest)


class Appended:
    """Rows written once and never changed."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.rows: list[tuple[Any, ...]] = []

    def add(self, row: dict[str, Any]) -> None:
        jsons = self.table.json_columns
        self.rows.append(tuple(dumps(row[c]) if c in jsons else row[c]
                               for c in self.table.column_names))

    def add_values(self, values: tuple[Any, ...]) -> None:
        """A row as values in column order, JSON columns already serialised."""
        self.rows.append(values)

    def flush(self, cur: Cursor) -> None:
        insert_rows(cur, self.table.name, self.table.column_names, self.rows)
        self.rows = []

    def discard(self) -> None:
        self.rows = []


class _Cache:
    """Current rows by key, shared logic of Versioned and Keyed."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.current: dict[Any, dict[str, Any] | None] = {}
        #: True while every row that exists is in `current` (a projection that began
        #: from empty in this process), so misses need no lookup.
        self.complete = False

    def _key_of(self, row: dict[str, Any]) -> Any:
        key = self.table.key
        return row[key[0]] if len(key) == 1 else tuple(row[k] for k in key)

    def get(self, key: Any) -> dict[str, Any] | None:
        """The current row (prefetched first; a miss means it does not exist)."""
        return self.current.get(key)

    def prefetch(self, cur: Cursor, keys: Iterable[Any]) -> None:
        if self.complete:
            return
        wanted = [k for k in set(keys) if k not in self.current]
        if not wanted:
            return
        if len(self.current) + len(wanted) > CACHE_LIMIT:
            self.drop_clean()
        found = self._load(cur, wanted)
        for key in wanted:
            self.current[key] = found.get(key)

    def _decode(self, names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
        jsons = self.table.json_columns
        return {n: (loads(v) if n in jsons else v) for n, v in zip(names, values)}

    def _load(self, cur: Cursor, keys: list[Any]) -> dict[Any, dict[str, Any]]:
        key = self.table.key
        if len(key) != 1:
            raise NotImplementedError("prefetch supports single-column keys")
        names = self.table.column_names
        found: dict[Any, dict[str, Any]] = {}
        current = " AND valid_to IS NULL" if self.table.temporal else ""
        for part in chunks(sorted(keys)):
            marks = ", ".join("?" for _ in part)
            cur.execute(f"SELECT {', '.join(names)} FROM {self.table.name} "
                        f"WHERE {key[0]} IN ({marks}){current}", list(part))
            for values in cur.fetchall():
                row = self._decode(names, values)
                found[self._key_of(row)] = row
        return found

    def load_where(self, cur: Cursor, where: str, params: Sequence[Any]) -> list[Any]:
        """Load every current row matching `where` into the cache; their keys."""
        names = self.table.column_names
        current = " AND valid_to IS NULL" if self.table.temporal else ""
        cur.execute(f"SELECT {', '.join(names)} FROM {self.table.name} "
                    f"WHERE ({where}){current}", list(params))
        keys = []
        for values in cur.fetchall():
            row = self._decode(names, values)
            key = self._key_of(row)
            keys.append(key)
            if key not in self.current or self.current[key] is None:
                self.current[key] = row
        return keys

    def drop_clean(self) -> None:
        self.current = {}
        self.complete = False

    def discard(self) -> None:
        self.current = {}
        self.complete = False


class Versioned(_Cache):
    """A temporal table: every change at position p closes the current version at p
    and opens a new one from p."""

    def __init__(self, table: Table) -> None:
        assert table.temporal
        super().__init__(table)
        #: valid_from of the committed current version of a key, when there is one.
        self._committed_from: dict[Any, int] = {}
        self._opened: dict[Any, tuple[int, dict[str, Any]]] = {}
        self._finished: list[tuple[int, int, dict[str, Any]]] = []
        self._closes: list[tuple[int, Any, int]] = []

    def _load(self, cur: Cursor, keys: list[Any]) -> dict[Any, dict[str, Any]]:
        found = super()._load(cur, keys)
        for key, row in found.items():
            self._committed_from[key] = row.pop("valid_from")
            row.pop("valid_to")
        return found

    def load_where(self, cur: Cursor, where: str, params: Sequence[Any]) -> list[Any]:
        before = set(self.current)
        keys = super().load_where(cur, where, params)
        for key in keys:
            row = self.current[key]
            if key not in before and row is not None and "valid_from" in row:
                self._committed_from[key] = row.pop("valid_from")
                row.pop("valid_to")
        return keys

    def put(self, row: dict[str, Any], position: int) -> None:
        """`row` (a fresh dict: rows in the cache are never mutated) is the new content
        from `position` on."""
        key = self._key_of(row)
        opened = self._opened.get(key)
        if opened is not None:
            if opened[0] != position:
                self._finished.append((opened[0], position, opened[1]))
        elif key in self._committed_from:
            self._closes.append((position, key, self._committed_from[key]))
        self._opened[key] = (position, row)
        self.current[key] = row

    def flush(self, cur: Cursor) -> None:
        table = self.table
        rows = []
        if table.json_columns:
            names = table.column_names
            jsons = table.json_columns
            # Versions share unchanged values (rows are copied, not deep-copied):
            # serialise each shared JSON value once. Every id() is of an object alive
            # until the end of this method.
            memo: dict[int, str] = {}
            for valid_from, valid_to, row in self._finished:
                rows.append(self._values(names, jsons, row, valid_from, valid_to, memo))
            for valid_from, row in self._opened.values():
                rows.append(self._values(names, jsons, row, valid_from, None, memo))
        else:
            # temporal_columns() puts the key, then valid_from and valid_to, then the rest.
            key, rest = self._getters
            for valid_from, valid_to, row in self._finished:
                rows.append((key(row), valid_from, valid_to, *rest(row)))
            for valid_from, row in self._opened.values():
                rows.append((key(row), valid_from, None, *rest(row)))
        set_valid_to(cur, table.name, table.key[0], self._closes)
        insert_rows(cur, table.name, table.column_names, rows)
        for key_value, (valid_from, _) in self._opened.items():
            self._committed_from[key_value] = valid_from
        self._opened = {}
        self._finished = []
        self._closes = []

    @cached_property
    def _getters(self) -> tuple[Callable[[dict[str, Any]], Any],
                                Callable[[dict[str, Any]], tuple[Any, ...]]]:
        names = self.table.column_names
        assert len(self.table.key) == 1 and names[:3] == (
            self.table.key[0], "valid_from", "valid_to"), names
        rest = names[3:]
        single = itemgetter(rest[0])
        return (itemgetter(names[0]),
                itemgetter(*rest) if len(rest) > 1 else (lambda row: (single(row),)))

    @staticmethod
    def _values(names: Sequence[str], jsons: frozenset[str], row: dict[str, Any],
                valid_from: int, valid_to: int | None,
                memo: dict[int, str]) -> tuple[Any, ...]:
        values = []
        for name in names:
            if name == "valid_from":
                values.append(valid_from)
            elif name == "valid_to":
                values.append(valid_to)
            elif name in jsons:
                value = row[name]
                text = memo.get(id(value))
                if text is None:
                    text = memo[id(value)] = dumps(value)
                values.append(text)
            else:
                values.append(row[name])
        return tuple(values)

    def drop_clean(self) -> None:
        super().drop_clean()
        self._committed_from = {}

    def discard(self) -> None:
        super().discard()
        self._committed_from = {}
        self._opened = {}
        self._finished = []
        self._closes = []


class Keyed(_Cache):
    """Working state: the current value of each key, upserted at the end of a batch."""

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        self._stored: set[Any] = set()
        self._dirty: dict[Any, dict[str, Any]] = {}

    def _load(self, cur: Cursor, keys: list[Any]) -> dict[Any, dict[str, Any]]:
        found = super()._load(cur, keys)
        self._stored.update(found)
        return found

    def load_where(self, cur: Cursor, where: str, params: Sequence[Any]) -> list[Any]:
        keys = super().load_where(cur, where, params)
        self._stored.update(keys)
        return keys

    def load_all(self, cur: Cursor) -> None:
        """For small tables: everything into the cache, after which it is complete."""
        if self.complete:
            return
        self.current = {}
        self._stored = set()
        self.load_where(cur, "1 = 1", ())
        self.complete = True

    def put(self, row: dict[str, Any]) -> None:
        key = self._key_of(row)
        self.current[key] = row
        self._dirty[key] = row

    def flush(self, cur: Cursor) -> None:
        table = self.table
        names = table.column_names
        jsons = table.json_columns
        inserts, updates = [], []
        rest = [n for n in names if n not in table.key]
        for key, row in self._dirty.items():
            values = {n: dumps(row[n]) if n in jsons else row[n] for n in names}
            if key in self._stored:
                updates.append([values[n] for n in rest] + [values[k] for k in table.key])
            else:
                inserts.append(tuple(values[n] for n in names))
        if updates:
            assignments = ", ".join(f"{n} = ?" for n in rest)
            condition = " AND ".join(f"{k} = ?" for k in table.key)
            cur.executemany(f"UPDATE {table.name} SET {assignments} WHERE {condition}",
                            updates)
        insert_rows(cur, table.name, names, inserts)
        self._stored.update(self._dirty)
        self._dirty = {}

    def drop_clean(self) -> None:
        super().drop_clean()
        self._stored = set()

    def discard(self) -> None:
        super().discard()
        self._stored = set()
        self._dirty = {}


@dataclass
class Projection:
    """Base of a read model. Subclasses declare `name`, `tables` and handler methods
    named after the events they handle, listed in `handlers` by topic."""

    name: str = ""
    tables: tuple[Table, ...] = ()
    handlers: dict[str, Callable[[LogEvent], None]] = field(default_factory=dict)
    #: Position this projection has applied (as last committed).
    position: int = 0

    def create(self, cur: Cursor, kind: str = "postgresql") -> None:
        for table in self.tables:
            for statement in table.ddl(kind):
                cur.execute(statement)

    def reset(self, cur: Cursor, *, drop_indexes: bool = False) -> None:
        """Empty every table (for a rebuild from position 0). With `drop_indexes`, the
        secondary indexes go too, to be built once at the end of the rebuild (much
        cheaper than maintaining them row by row); `create` builds them again."""
        for table in self.tables:
            empty_table(cur, table.name)
            if drop_indexes:
                for index in table.index_names:
                    cur.execute(f"DROP INDEX IF EXISTS {index}")
        self.discard()
        self.started_empty()

    def started_empty(self) -> None:
        """Called when the projection begins from position 0 with empty tables: every
        cache is complete from here on."""

    def prefetch(self, cur: Cursor, events: Sequence[LogEvent]) -> None:
        """Bulk-load the rows that `events` will need."""

    def apply(self, event: LogEvent) -> None:
        handler = self.handlers.get(event.topic)
        if handler is not None:
            handler(event)

    def flush(self, cur: Cursor) -> None:
        """Write what the batch changed."""

    def discard(self) -> None:
        """Forget cached state (after a rolled back batch)."""
