"""Raw references measured in the same run as the figures they judge.

- the physical limit: raw psycopg inserts (single-event transactions with the table lock
  and NOTIFY that eventsourcing 9.5.6 uses, plain single-row inserts, batched inserts) and
  keyset reads;
- the peer: the bare `eventsourcing` library saving an aggregate;
- the status quo: a CRUD ratings table with an audit trigger, as a typical HR system has.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

import psycopg

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.common import (
    POSTGRES_URL,
    LoadResult,
    connect,
    run_concurrently,
    run_tasks,
    scratch_schema,
)

EVENT_STATE = json.dumps({
    "timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-31T08:00:00+00:00"},
    "actor": "0f2c9a54-8f0b-4d0e-9a57-0d3f5f1f7b11", "item_id": "violations",
    "capaian": "133.33", "computed_rating": "di_atas_ekspektasi",
    "rating": "di_atas_ekspektasi", "override_reason": None, "supersedes": None,
}).encode()

EVENTS_TABLE = """
CREATE TABLE events (
    originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text,
    state bytea, notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version))
"""


def _events_table(schema: str) -> None:
    with connect(schema, autocommit=True) as connection:
        connection.execute(EVENTS_TABLE)
        connection.execute("CREATE UNIQUE INDEX ON events (notification_id)")


def raw_single_event_lock_notify(clients: int, seconds: float) -> LoadResult:
    """One event per transaction with `LOCK TABLE ... IN EXCLUSIVE MODE` and NOTIFY,
    exactly the shape of the library's insert."""
    with scratch_schema("bench_raw") as schema:
        _events_table(schema)

        def make(_: int) -> Callable[[], int]:
            connection = connect(schema)

            def work() -> int:
                with connection.transaction():
                    connection.execute("LOCK TABLE events IN EXCLUSIVE MODE")
                    connection.execute(
                        "INSERT INTO events (originator_id, originator_version, topic, state)"
                        " VALUES (%s, 1, 'kinerja.bench', %s)", (uuid.uuid4(), EVENT_STATE))
                    connection.execute("NOTIFY bench_events")
                return 1
            return work
        return run_concurrently(clients, seconds, make)


def raw_plain_inserts(clients: int, seconds: float) -> LoadResult:
    """Single-row insert transactions with no table lock: what the disk allows."""
    with scratch_schema("bench_raw") as schema:
        _events_table(schema)

        def make(_: int) -> Callable[[], int]:
            connection = connect(schema, autocommit=True)

            def work() -> int:
                connection.execute(
                    "INSERT INTO events (originator_id, originator_version, topic, state)"
                    " VALUES (%s, 1, 'kinerja.bench', %s)", (uuid.uuid4(), EVENT_STATE))
                return 1
            return work
        return run_concurrently(clients, seconds, make)


def raw_plain_inserts_async(clients: int, seconds: float) -> LoadResult:
    """`raw_plain_inserts` from `clients` async connections on one event loop: the same
    reference for callers that are tasks rather than threads."""
    with scratch_schema("bench_raw") as schema:
        _events_table(schema)
        connections: list[psycopg.AsyncConnection] = []

        async def setup() -> None:
            for _ in range(clients):
                connections.append(await psycopg.AsyncConnection.connect(
                    POSTGRES_URL, autocommit=True, options=f"-c search_path={schema}"))

        async def teardown() -> None:
            for connection in connections:
                await connection.close()

        def make(index: int) -> Callable[[], Awaitable[int]]:
            async def work() -> int:
                await connections[index].execute(
                    "INSERT INTO events (originator_id, originator_version, topic, state)"
                    " VALUES (%s, 1, 'kinerja.bench', %s)", (uuid.uuid4(), EVENT_STATE))
                return 1
            return work
        return run_tasks(clients, seconds, make, setup=setup, teardown=teardown)


def raw_batched_inserts(rows_per_transaction: int, seconds: float) -> LoadResult:
    """One client inserting `rows_per_transaction` rows per transaction; counts rows."""
    with scratch_schema("bench_raw") as schema:
        _events_table(schema)

        def make(_: int) -> Callable[[], int]:
            connection = connect(schema)

            def work() -> int:
                rows = [(uuid.uuid4(), EVENT_STATE) for _ in range(rows_per_transaction)]
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO events (originator_id, originator_version, topic, state)"
                        " VALUES (%s, 1, 'kinerja.bench', %s)", rows)
                return rows_per_transaction
            return work
        return run_concurrently(1, seconds, make)


def crud_with_audit_trigger(clients: int, seconds: float) -> LoadResult:
    """UPDATE of a ratings row with a trigger copying old and new values to an audit table:
    the editable-row design of today's HR products."""
    with scratch_schema("bench_crud") as schema:
        with connect(schema, autocommit=True) as connection:
            connection.execute("""
                CREATE TABLE ratings (id serial PRIMARY KEY, employee uuid, period text,
                    rating text, updated_by text, updated_at timestamptz DEFAULT now());
                CREATE TABLE ratings_audit (id bigserial PRIMARY KEY, rating_id int,
                    old_rating text, new_rating text, changed_by text,
                    changed_at timestamptz DEFAULT now());
                CREATE FUNCTION audit_rating() RETURNS trigger AS $$
                BEGIN
                    INSERT INTO ratings_audit (rating_id, old_rating, new_rating, changed_by)
                    VALUES (NEW.id, OLD.rating, NEW.rating, NEW.updated_by);
                    RETURN NEW;
                END $$ LANGUAGE plpgsql;
                CREATE TRIGGER ratings_audit AFTER UPDATE ON ratings
                    FOR EACH ROW EXECUTE FUNCTION audit_rating();
            """)
            connection.execute("INSERT INTO ratings (employee, period, rating) "
                               "SELECT gen_random_uuid(), '2026-01', 'sesuai_ekspektasi' "
                               "FROM generate_series(1, 1000)")

        def make(index: int) -> Callable[[], int]:
            connection = connect(schema, autocommit=True)
            counter = [0]

            def work() -> int:
                counter[0] += 1
                row = 1 + (index * 31 + counter[0]) % 1000
                rating = ("di_atas_ekspektasi", "sesuai_ekspektasi")[counter[0] % 2]
                connection.execute("UPDATE ratings SET rating = %s, updated_by = %s, "
                                   "updated_at = now() WHERE id = %s",
                                   (rating, f"rater-{index}", row))
                return 1
            return work
        return run_concurrently(clients, seconds, make)


class _Counter(Aggregate):
    @event("Incremented")
    def increment(self, by: int) -> None:
        self.total = getattr(self, "total", 0) + by


def bare_eventsourcing_saves(clients: int, seconds: float) -> LoadResult:
    """The library on its own: load-free `save()` of one new event per call."""
    from api.settings import Settings

    store = Settings(database_url=POSTGRES_URL).store()
    with scratch_schema("bench_es") as schema:
        application = Application(env={
            "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": store.dbname,
            "POSTGRES_HOST": store.host, "POSTGRES_PORT": str(store.port),
            "POSTGRES_USER": store.user, "POSTGRES_PASSWORD": store.password,
            "POSTGRES_SCHEMA": schema, "POSTGRES_POOL_SIZE": str(max(2, clients)),
            "POSTGRES_MAX_OVERFLOW": "4",
        })
        try:
            def make(_: int) -> Callable[[], int]:
                def work() -> int:
                    counter = _Counter()
                    counter.increment(by=1)
                    application.save(counter)
                    return 2
                return work
            return run_concurrently(clients, seconds, make)
        finally:
            application.close()
