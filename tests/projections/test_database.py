"""The read models' database: writes in explicit transactions; reads, on PostgreSQL,
statement by statement (no BEGIN and COMMIT round trips), which see the same rows."""

from __future__ import annotations

import time

import pytest

from projections.db import open_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(postgres_schema, tmp_path):
    from api.settings import Settings
    from tests.conftest import POSTGRES_URL

    settings = Settings(database_url=POSTGRES_URL, postgres_schema=postgres_schema,
                        data_dir=tmp_path / "data")
    database = open_database(settings.store(), pool_size=2)
    yield database
    database.close()


def _two_clock_readings(cursor) -> tuple[object, object]:
    # now() is the start of the transaction; each statement outside one starts its own.
    cursor.execute("SELECT now()")
    first = cursor.fetchone()[0]
    time.sleep(0.01)
    cursor.execute("SELECT now()")
    return first, cursor.fetchone()[0]


def test_reads_run_statement_by_statement_and_writes_in_one_transaction(db):
    with db.reading() as cursor:
        first, second = _two_clock_readings(cursor)
    assert first != second
    with db.transaction() as cursor:
        first, second = _two_clock_readings(cursor)
    assert first == second


def test_a_failed_write_transaction_leaves_nothing_and_reads_see_what_was_committed(db):
    with db.transaction() as cursor:
        cursor.execute("CREATE TABLE kept (n INTEGER)")
        cursor.execute("INSERT INTO kept VALUES (1)")
    with pytest.raises(RuntimeError):
        with db.transaction() as cursor:
            cursor.execute("INSERT INTO kept VALUES (2)")
            raise RuntimeError("stop before commit")
    with db.reading() as cursor:
        cursor.execute("SELECT n FROM kept ORDER BY n")
        assert [row[0] for row in cursor.fetchall()] == [1]
