"""The library's PostgreSQL application recorder, with a cheaper insert.

The library writes new events in a pipelined transaction of five statements (lock timeout,
table lock, NOTIFY, INSERT of one array of a composite type, COMMIT), and psycopg dumps
that composite array as text: every state byte is escaped in Python. Here one call of a
server-side function does the same work in one round trip: it takes the events as four
binary arrays, sets the same lock timeout, takes the same EXCLUSIVE table lock, sends the
same NOTIFY, inserts the same rows in the same order and returns their notification ids,
then checks the command's read-version guards, all in the statement's own transaction.
Same table, same rows: the storage format, the notification log and the library's own
tools are unchanged.

Subclasses that must write rows of their own beside the events (idempotency keys) say so
in `_rows_beside` and get an explicit transaction around the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat
from psycopg.sql import SQL, Identifier, Literal, Placeholder

from api.pg_arrays import BigintArray, ByteaArray, EncodedArray, TextArray, UuidArray


T = TypeVar("T")

_SIX_BINARY_PARAMETERS = [pq.Format.BINARY] * 6


class BinaryInsertPostgresApplicationRecorder(PostgresApplicationRecorder):
    #: How often, and how far apart, an insert is tried when the connection was lost or
    #: the server was not ready: as the library's own insert (10 times, 0.2 s apart).
    RETRY_ATTEMPTS = 10
    RETRY_WAIT = 0.2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.events_table_name)
        function = Identifier(f"{self.events_table_name}_insert")
        # The table lock makes notification ids follow commit order (a reader tailing the
        # log, such as the projection runner or the Merkle ledger, would otherwise pass
        # over an id that commits after a higher one), exactly as the library's insert.
        # Guards are checked after the insert, so that a neighbour in the same batch that
        # moved a guarded aggregate counts; they fail as a unique_violation, so the
        # statement aborts exactly as for a version conflict.
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}("
            "ids uuid[], versions bigint[], topics text[], states bytea[], "
            "guard_ids uuid[], guard_versions bigint[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $$ "
            "DECLARE i int; latest bigint; BEGIN "
            "PERFORM set_config('lock_timeout', {lock_timeout}, true); "
            "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "NOTIFY {channel}; "
            "RETURN QUERY INSERT INTO {schema}.{table} AS t "
            "(originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(ids, versions, topics, states) "
            "RETURNING t.notification_id; "
            "FOR i IN 1 .. coalesce(array_length(guard_ids, 1), 0) LOOP "
            "SELECT max(originator_version) INTO latest FROM {schema}.{table} "
            "WHERE originator_id = guard_ids[i]; "
            "IF coalesce(latest, 0) <> guard_versions[i] THEN RAISE EXCEPTION "
            "'aggregate % moved from version % to %', guard_ids[i], guard_versions[i], "
            "latest USING ERRCODE = 'unique_violation'; END IF; END LOOP; END $$"
        ).format(schema=schema, function=function, table=table,
                 channel=Identifier(self.channel_name),
                 lock_timeout=Literal(f"{self.datastore.lock_timeout}s")))
        self._async_connections: weakref.WeakKeyDictionary[Any, Any] = (
            weakref.WeakKeyDictionary())
        self._existing_query = SQL(
            "SELECT originator_id, originator_version FROM {schema}.{table} "
            "WHERE originator_id = ANY(%b::uuid[])").format(schema=schema, table=table)
        # The ids come back as one array, in the order the function returned them (the
        # rows' order), rather than a row each: one value to read, not one per event.
        insert_call = SQL(
            "SELECT array_agg(n ORDER BY position) AS ids FROM {schema}.{function}("
            "{}::uuid[], {}::bigint[], {}::text[], {}::bytea[], {}::uuid[], {}::bigint[]) "
            "WITH ORDINALITY AS inserted(n, position)")
        # psycopg's placeholders, for psycopg to execute; libpq's own, for libpq.
        self._insert_call = insert_call.format(
            *[Placeholder(format=PyFormat.BINARY)] * 6, schema=schema, function=function)
        self._insert_call_for_libpq = insert_call.format(
            *[SQL(f"${number}") for number in range(1, 7)], schema=schema,
            function=function)
        self._insert_calls_rendered: tuple[bytes, bytes] | None = None
        self._leader_connection: Any = None

    # The library retries its insert on a lost connection; so does this one.
    @retry((InterfaceError, OperationalError), max_attempts=RETRY_ATTEMPTS, wait=RETRY_WAIT)
    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        params = self._params(stored_events, kwargs.get("guards") or ())
        with self.datastore.get_connection() as conn:
            return self._insert_on(conn, stored_events, params)

    def insert_events_as_leader(self, stored_events: Sequence[StoredEvent],
                                **kwargs: Any) -> Sequence[int] | None:
        """`insert_events` for the group committer's leaders, one at a time, on a
        connection they keep between batches instead of taking one from the pool and
        giving it back for every batch (32 caller threads committed about a tenth more
        commands/s). Only the committer calls it: two callers at once would share a
        transaction."""
        if not stored_events:
            return []
        if self.datastore.pool.max_size < 2:  # kept, it would starve every other reader
            return self.insert_events(stored_events, **kwargs)
        return self._insert_on_leader_connection(stored_events, **kwargs)

    # As insert_events: retried on a lost connection, which is then replaced.
    @retry((InterfaceError, OperationalError), max_attempts=RETRY_ATTEMPTS, wait=RETRY_WAIT)
    def _insert_on_leader_connection(self, stored_events: Sequence[StoredEvent],
                                     **kwargs: Any) -> Sequence[int]:
        params = self._params(stored_events, kwargs.get("guards") or ())
        try:
            with _as_library_errors():
                conn = self._leader_connection
                if conn is None or conn.closed:
                    conn = self._leader_connection = self.datastore.pool.getconn()
                return self._insert_on(conn, stored_events, params)
        except (InterfaceError, OperationalError):
            self.release_leader_connection()  # the pool drops it if it is broken
            raise

    def _insert_on(self, conn: Any, stored_events: Sequence[StoredEvent],
                   params: tuple[EncodedArray, ...]) -> list[int]:
        if not self._has_rows_beside(stored_events):
            # Autocommit: the call is its own transaction, one round trip in all.
            return self._call_insert_through_libpq(conn, params)
        with conn.transaction():
            ids = conn.execute(self._insert_sql(conn), params).fetchone()["ids"]
            self._insert_rows_beside(conn, stored_events, ids)
            return ids

    def _call_insert_through_libpq(self, conn: Any, params: tuple[EncodedArray, ...]
                                   ) -> list[int]:
        """The insert call on an idle autocommit connection, sent by libpq itself.

        Its text is rendered once and its parameters are encoded already, so all that
        psycopg's execution would add is its own Python (a cursor, a result, a row for
        the ids): at one event per call, about a third of the call's client CPU. libpq's
        call lets other threads run while it waits, as psycopg's does; the
        connection's lock keeps any other use of it out meanwhile."""
        pgconn = conn.pgconn
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:  # pragma: no cover
            # Sent by libpq inside an open transaction, the call would not commit; the
            # pool and the leader only ever hand over idle connections, but psycopg knows.
            return conn.execute(self._insert_sql(conn), params).fetchone()["ids"]
        with conn.lock:
            result = pgconn.exec_params(self._insert_sql(conn, for_libpq=True), params,
                                        None, _SIX_BINARY_PARAMETERS, pq.Format.TEXT)
        if result.status != pq.ExecStatus.TUPLES_OK:
            if pgconn.status != pq.ConnStatus.OK:
                # As psycopg raises it, so the insert is retried on a new connection.
                raise psycopg.OperationalError(
                    "the connection to PostgreSQL was lost: "
                    + result.get_error_message(conn.info.encoding).strip())
            raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
        ids = result.get_value(0, 0)  # a bigint[] as text: {1,2,3}
        return [] if ids is None else [int(n) for n in bytes(ids)[1:-1].split(b",")]

    def release_leader_connection(self) -> None:
        """Give the leaders' connection back to the pool (the committer, once closed)."""
        conn, self._leader_connection = self._leader_connection, None
        if conn is not None:
            self.datastore.pool.putconn(conn)

    async def insert_events_async(self, stored_events: Sequence[StoredEvent]
                                  ) -> Sequence[int]:
        """`insert_events` for a caller on an event loop (no guards, no rows beside):
        the same call, on an async connection of that loop's own. Retried as the
        library retries its insert: a lost connection is replaced and the call sent
        again (the rows' unique versions make a second arrival a conflict, never a
        copy)."""
        if not stored_events:
            return []
        if self._has_rows_beside(stored_events):  # they need a transaction: the usual way
            return await asyncio.to_thread(self.insert_events, stored_events) or []
        params = self._params(stored_events, ())

        async def insert(conn: Any) -> list[int]:
            cursor = await conn.execute(self._insert_sql(conn), params)
            return (await cursor.fetchone())[0]
        return await self._on_async_connection(insert)

    async def existing_async(self, stored_events: Sequence[StoredEvent]
                             ) -> set[tuple[Any, int]]:
        """Which (originator id, version) of `stored_events` are stored already."""
        async def select(conn: Any) -> list[Any]:
            cursor = await conn.execute(self._existing_query, (
                [e.originator_id for e in stored_events],))
            return await cursor.fetchall()
        wanted = {(e.originator_id, e.originator_version) for e in stored_events}
        return {row for row in await self._on_async_connection(select) if row in wanted}

    async def _on_async_connection(self, call: Callable[[Any], Awaitable[T]]) -> T:
        """`call` on the running loop's connection, psycopg's errors raised as the
        library's; on a lost connection or an unready server, waited and retried as
        many times as the library retries its own insert."""
        for attempt in range(1, self.RETRY_ATTEMPTS + 1):
            try:
                conn = await self._async_connection()
                with _as_library_errors():
                    return await call(conn)
            except (InterfaceError, OperationalError):
                conn = self._async_connections.get(asyncio.get_running_loop())
                if conn is not None and (conn.closed or conn.broken):
                    # Dropped, so that the next attempt connects afresh.
                    self._async_connections.pop(asyncio.get_running_loop(), None)
                    await conn.close()
                if attempt == self.RETRY_ATTEMPTS:
                    raise
                await asyncio.sleep(self.RETRY_WAIT)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _async_connection(self) -> Any:
        """The running loop's own autocommit connection, opened on first need, with the
        pool's arguments, its password function and its time limit."""
        loop = asyncio.get_running_loop()
        conn = self._async_connections.get(loop)
        if conn is None or conn.closed:
            pool = self.datastore.pool
            kwargs = {k: v for k, v in pool.kwargs.items() if k != "row_factory"}
            get_password = getattr(pool, "get_password_func", None)
            if get_password is not None:
                kwargs["password"] = await asyncio.to_thread(get_password)
            with _as_library_errors():
                try:
                    async with asyncio.timeout(pool.timeout):
                        conn = await psycopg.AsyncConnection.connect(autocommit=True,
                                                                     **kwargs)
                except TimeoutError:
                    raise OperationalError(
                        f"no connection to PostgreSQL within {pool.timeout:g} s") from None
            self._async_connections[loop] = conn
        return conn

    def abandon_async_connections(self) -> None:
        """Close, from any thread, the connections of loops that never closed theirs:
        called when the application closes, once no loop writes any more."""
        for conn in list(self._async_connections.values()):
            conn.pgconn.finish()
        self._async_connections.clear()

    async def close_async(self) -> None:
        """Close the calling loop's async connection, if it has one."""
        conn = self._async_connections.pop(asyncio.get_running_loop(), None)
        if conn is not None:
            await conn.close()

    # Not retried: the chunks are made once, by a generator the first attempt consumed.
    def insert_event_stream(self, chunks: Iterable[Sequence[StoredEvent]]
                            ) -> tuple[list[StoredEvent], list[int]]:
        """Insert chunks of events in one transaction, sending each chunk as soon as it is
        made, so the server inserts one chunk while the caller makes the next. Returns
        the events and their notification ids, in order. Takes no guards."""
        events: list[StoredEvent] = []
        ids: list[int] = []
        failure: Exception | None = None
        with self.datastore.get_connection() as conn:
            # As the library's insert: the server's refusals are held until the pipeline
            # has ended, so psycopg does not warn about an aborted pipeline (the refused
            # transaction ends in a rollback all the same). Anything else raised while the
            # chunks are made (a refused item) leaves the block, and so rolls back.
            with conn.pipeline() as pipeline, conn.transaction():
                try:
                    cursors = []
                    for chunk in chunks:
                        if chunk:
                            events.extend(chunk)
                            cursor = conn.cursor()
                            cursor.execute(self._insert_sql(conn), self._params(chunk, ()))
                            cursors.append(cursor)
                    pipeline.sync()
                    ids = [n for cursor in cursors for n in cursor.fetchone()["ids"]]
                    if self._has_rows_beside(events):
                        self._insert_rows_beside(conn, events, ids)
                        pipeline.sync()
                except psycopg.Error as error:
                    failure = error
                    # A refusal that arrived before the sync leaves later commands aborted
                    # until one: sync, so the block can end (in a rollback) normally.
                    with contextlib.suppress(psycopg.Error):
                        pipeline.sync()
            if failure is not None:
                raise failure
        return events, ids

    def _insert_sql(self, conn: Any, *, for_libpq: bool = False) -> bytes:
        """The insert call, rendered once (psycopg renders a composed query again on
        every execution, quoting its identifiers through libpq): with psycopg's
        placeholders, or with libpq's own."""
        rendered = self._insert_calls_rendered
        if rendered is None:
            rendered = self._insert_calls_rendered = (
                self._insert_call.as_bytes(conn), self._insert_call_for_libpq.as_bytes(conn))
        return rendered[for_libpq]

    @staticmethod
    def _params(events: Sequence[StoredEvent], guards: Sequence[Any]
                ) -> tuple[EncodedArray, ...]:
        return (UuidArray.from_values([e.originator_id for e in events]),
                BigintArray.from_values([e.originator_version for e in events]),
                TextArray.from_values([e.topic for e in events]),
                ByteaArray.from_values([e.state for e in events]),
                UuidArray.from_values([g[0] for g in guards]),
                BigintArray.from_values([g[1] for g in guards]))

    def _has_rows_beside(self, stored_events: Sequence[StoredEvent]) -> bool:
        """True if `_insert_rows_beside` has rows to write in the events' transaction."""
        return False

    def _insert_rows_beside(self, conn: Any, stored_events: Sequence[StoredEvent],
                            ids: Sequence[int]) -> None:
        """Write rows that must commit (or roll back) with these events."""

RECORDER_TOPIC = f"{__name__}:{BinaryInsertPostgresApplicationRecorder.__name__}"


#: psycopg's errors and the library's, in the order the library's datastore tries them.
_LIBRARY_ERRORS: tuple[tuple[type[psycopg.Error], type[Exception]], ...] = (
    (psycopg.InterfaceError, InterfaceError),
    (psycopg.OperationalError, OperationalError),
    (psycopg.DataError, DataError),
    (psycopg.IntegrityError, IntegrityError),
    (psycopg.InternalError, InternalError),
    (psycopg.ProgrammingError, ProgrammingError),
    (psycopg.NotSupportedError, NotSupportedError),
    (psycopg.DatabaseError, DatabaseError),
)


@contextlib.contextmanager
def _as_library_errors() -> Iterator[None]:
    """psycopg's errors as the library's datastore raises them (`get_connection`)."""
    try:
        yield
    except psycopg.Error as error:
        for raised, library in _LIBRARY_ERRORS:
            if isinstance(error, raised):
                raise library(str(error)) from error
        raise PersistenceError(str(error)) from error
