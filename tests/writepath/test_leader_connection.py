"""The group committer's leaders keep one connection between batches (PostgreSQL): it is
replaced when lost, with nothing lost or written twice, and given back on close."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from api.group_commit import GroupCommitter

pytestmark = pytest.mark.postgres


@pytest.fixture
def recorder(postgres_schema, tmp_path, clock) -> Iterator:
    from api.settings import Settings
    from api.store import open_ledger
    from tests.conftest import POSTGRES_URL

    ledger = open_ledger(Settings(database_url=POSTGRES_URL, postgres_schema=postgres_schema,
                                  data_dir=tmp_path / "data"), clock=clock,
                         group_commit=False)
    yield ledger.recorder
    ledger.close()


def _record(originator_id: uuid.UUID | None = None, version: int = 1) -> StoredEvent:
    return StoredEvent(originator_id=originator_id or uuid.uuid4(),
                       originator_version=version, topic="kinerja.test.v1", state=b"{}")


def _leader_backend(recorder) -> int:
    return recorder._leader_connection.info.backend_pid


def _checked_out(recorder) -> int:
    stats = recorder.datastore.pool.get_stats()
    return stats.get("pool_size", 0) - stats.get("pool_available", 0)


def test_batches_share_one_connection_kept_out_of_the_pool(recorder):
    committer = GroupCommitter(recorder)
    committer.commit([_record()])
    backend = _leader_backend(recorder)
    assert _checked_out(recorder) == 1
    for _ in range(5):
        committer.commit([_record(), _record()])
    assert _leader_backend(recorder) == backend
    assert _checked_out(recorder) == 1
    committer.close()
    assert _checked_out(recorder) == 0


def test_a_lost_connection_is_replaced_and_the_write_is_made_once(recorder):
    from tests.conftest import POSTGRES_URL

    committer = GroupCommitter(recorder)
    first = committer.commit([_record()])
    lost = _leader_backend(recorder)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (lost,))
    second = committer.commit([_record(), _record()])
    assert _leader_backend(recorder) != lost
    stored = [n.id for n in recorder.select_notifications(1, 100)]
    assert stored == [*first, *second]
    committer.close()


def test_a_conflict_is_the_librarys_integrity_error_and_keeps_the_connection(recorder):
    committer = GroupCommitter(recorder)
    taken = uuid.uuid4()
    committer.commit([_record(taken)])
    backend = _leader_backend(recorder)
    with pytest.raises(IntegrityError):
        committer.commit([_record(taken)])
    assert committer.commit([_record(taken, 2)])
    assert _leader_backend(recorder) == backend
    committer.close()
