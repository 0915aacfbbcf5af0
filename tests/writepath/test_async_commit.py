"""Group commit on the event loop (PostgreSQL): callers awaiting on one loop share
statements, each hears only of its own events, and a conflict fails only its caller."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from api.async_commit import AsyncGroupCommitter
from domain.values import FeedbackSource
from tests.scenario import PERIOD, build_world

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_ledger(postgres_schema, tmp_path, clock) -> Iterator:
    from api.settings import Settings
    from api.store import open_ledger
    from tests.conftest import POSTGRES_URL

    ledger = open_ledger(Settings(database_url=POSTGRES_URL, postgres_schema=postgres_schema,
                                  data_dir=tmp_path / "data"), clock=clock)
    yield ledger
    ledger.close()


def _record(originator_id: uuid.UUID, version: int = 1) -> StoredEvent:
    return StoredEvent(originator_id=originator_id, originator_version=version,
                       topic="kinerja.test.v1", state=b"{}")


def test_callers_on_one_loop_share_statements_and_each_gets_its_own_ids(pg_ledger):
    recorder = pg_ledger.recorder
    existing = uuid.uuid4()
    recorder.insert_events([_record(existing)])
    streams = [uuid.uuid4() for _ in range(64)]

    async def run() -> list[object]:
        committer = AsyncGroupCommitter(recorder.insert_events_async)

        async def call(n: int) -> object:
            records = [_record(existing)] if n == 17 else [_record(streams[n]),
                                                          _record(streams[n], 2)]
            try:
                return await committer.commit(records)
            except IntegrityError as error:
                return error
            finally:
                await asyncio.sleep(0)

        try:
            outcomes = await asyncio.gather(*(call(n) for n in range(64)))
            assert committer.batches < committer.submissions == 64
            return outcomes
        finally:
            await recorder.close_async()

    outcomes = asyncio.run(run())
    assert isinstance(outcomes[17], IntegrityError)
    stored = {(n.originator_id, n.originator_version): n.id
              for n in recorder.select_notifications(1, 1000)}
    assert len(stored) == 1 + 63 * 2
    for n, ids in enumerate(outcomes):
        if n != 17:
            assert ids == [stored[(streams[n], 1)], stored[(streams[n], 2)]]
            assert ids[1] == ids[0] + 1  # one caller's events sit together, in order


def test_awaited_feedback_on_postgres_is_written_by_the_loop_itself(pg_ledger, clock):
    world = build_world(pg_ledger, clock, employees=2)

    def item(n: int) -> dict:
        return dict(employee_id=world.employees[n % 2], period=PERIOD,
                    source=FeedbackSource.CITIZEN, giver_ref=f"warga-{n}", score=3,
                    channel="JAKI", external_ref=f"JAKI-{n}", actor="channel:jaki")

    pg_ledger.give_feedback(**item(0))  # learns the employees and the channel's key
    pg_ledger.give_feedback(**item(1))
    threaded = pg_ledger.committer.submissions

    async def run() -> list:
        try:
            return await asyncio.gather(*(pg_ledger.give_feedback_async(**item(n))
                                          for n in range(2, 42)))
        finally:
            await pg_ledger.close_async()

    written = asyncio.run(run())
    assert all(w is not None for w in written)
    assert pg_ledger.committer.submissions == threaded  # no thread took part
    positions = [w.position for w in written]
    assert len(set(positions)) == 40
    notes = {n.id: str(n.originator_id) for n in
             pg_ledger.recorder.select_notifications(min(positions), 100)}
    assert [notes[w.position] for w in written] == [w.ids["feedback_id"] for w in written]


def test_a_lost_connection_is_replaced_and_the_write_sent_again(pg_ledger):
    """The server ended the loop's connection while it was idle (a restart, a failover,
    an administrator): the next write connects afresh and is written, once."""
    from tests.conftest import POSTGRES_URL
    import psycopg

    recorder = pg_ledger.recorder

    async def run() -> tuple[object, object, int, int]:
        committer = AsyncGroupCommitter(recorder.insert_events_async)
        try:
            first = await committer.commit([_record(uuid.uuid4())])
            lost_pid = next(iter(recorder._async_connections.values())).info.backend_pid
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (lost_pid,))
            again = await committer.commit([_record(uuid.uuid4())])
            new_pid = next(iter(recorder._async_connections.values())).info.backend_pid
            return first, again, lost_pid, new_pid
        finally:
            await recorder.close_async()

    first, again, lost_pid, new_pid = asyncio.run(run())
    assert new_pid != lost_pid
    stored = [n.id for n in recorder.select_notifications(1, 100)]
    assert stored == [first[0], again[0]]  # written once, nothing half-written


def test_a_server_that_stays_away_fails_the_write_after_the_library_s_attempts(pg_ledger):
    from eventsourcing.persistence import OperationalError

    recorder = pg_ledger.recorder
    recorder.RETRY_WAIT = 0
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    pool = recorder.datastore.pool
    port = pool.kwargs["port"]
    pool.kwargs["port"] = closed_port
    connects = []
    original = recorder._async_connection

    async def counted() -> object:
        connects.append(1)
        return await original()
    recorder._async_connection = counted

    async def run() -> object:
        try:
            return await recorder.insert_events_async([_record(uuid.uuid4())])
        except OperationalError as error:
            return error
    try:
        outcome = asyncio.run(run())
    finally:
        pool.kwargs["port"] = port
    assert isinstance(outcome, OperationalError)
    assert len(connects) == recorder.RETRY_ATTEMPTS
    assert recorder.select_notifications(1, 10) == []


def test_a_server_that_does_not_answer_is_given_up_on_within_the_pool_s_time_limit(
        pg_ledger):
    """A listener that accepts and never speaks: the connection attempt is bounded by
    the pool's connect timeout, not by the operating system's."""
    import time

    from eventsourcing.persistence import OperationalError

    recorder = pg_ledger.recorder
    recorder.RETRY_ATTEMPTS = 1
    pool = recorder.datastore.pool
    port, timeout = pool.kwargs["port"], pool.timeout
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        pool.kwargs["port"], pool.timeout = silent.getsockname()[1], 0.3

        async def run() -> object:
            try:
                return await recorder.insert_events_async([_record(uuid.uuid4())])
            except OperationalError as error:
                return error
        started = time.monotonic()
        try:
            outcome = asyncio.run(run())
        finally:
            pool.kwargs["port"], pool.timeout = port, timeout
        waited = time.monotonic() - started
    assert isinstance(outcome, OperationalError)
    assert "within 0.3 s" in str(outcome)
    assert waited < 5


#: The threads that asked for a password.
PASSWORDS_ASKED: list[str] = []


def ask_for_password() -> str:
    """A password function, named by topic as the library's setting expects."""
    PASSWORDS_ASKED.append(threading.current_thread().name)
    return ""


def test_the_loop_connection_asks_the_password_function_as_the_pool_does(
        postgres_schema, tmp_path, clock):
    from api.settings import Settings
    from api.store import open_ledger
    from tests.conftest import POSTGRES_URL

    ledger = open_ledger(
        Settings(database_url=POSTGRES_URL, postgres_schema=postgres_schema,
                 data_dir=tmp_path / "data"), clock=clock,
        POSTGRES_GET_PASSWORD_TOPIC=f"{__name__}:ask_for_password")
    try:
        assert PASSWORDS_ASKED  # the pool's own connections asked

        async def run() -> object:
            try:
                return await ledger.recorder.insert_events_async([_record(uuid.uuid4())])
            finally:
                await ledger.recorder.close_async()
        ids = asyncio.run(run())
        assert len(ids) == 1
        # Asked off the loop (it may block), by the loop's executor, once.
        assert [t for t in PASSWORDS_ASKED if t.startswith("asyncio_")] == ["asyncio_0"]
    finally:
        ledger.close()


def test_items_already_stored_are_refused_together_and_the_rest_written_together(pg_ledger):
    """A channel resending items: those already stored fail, found with one query; the
    others are written in one more statement, not one statement each."""
    recorder = pg_ledger.recorder
    resent = [uuid.uuid4() for _ in range(5)]
    recorder.insert_events([_record(stream) for stream in resent])
    fresh = [uuid.uuid4() for _ in range(40)]
    statements = []

    async def counted_insert(events):
        statements.append(len(events))
        return await recorder.insert_events_async(events)

    async def run() -> list[object]:
        committer = AsyncGroupCommitter(counted_insert, existing=recorder.existing_async)

        async def call(stream: uuid.UUID) -> object:
            try:
                return await committer.commit([_record(stream)])
            except IntegrityError as error:
                return error
        try:
            return await asyncio.gather(*(call(s) for s in [*fresh[:20], *resent,
                                                            *fresh[20:]]))
        finally:
            await recorder.close_async()

    outcomes = asyncio.run(run())
    refused = outcomes[20:25]
    assert all(isinstance(o, IntegrityError) for o in refused)
    written = outcomes[:20] + outcomes[25:]
    stored = {n.originator_id: n.id for n in recorder.select_notifications(1, 1000)}
    assert [ids for ids in written] == [[stored[s]] for s in fresh]
    assert len(statements) <= 3  # not one statement per caller after the conflict


def test_closing_the_ledger_closes_what_ended_loops_left_open(pg_ledger, clock):
    world = build_world(pg_ledger, clock, employees=1)
    item = dict(employee_id=world.employees[0], period=PERIOD,
                source=FeedbackSource.CITIZEN, giver_ref="warga-1", score=3,
                channel="JAKI", actor="channel:jaki")
    pg_ledger.give_feedback(**item, external_ref="JAKI-1")
    written = asyncio.run(pg_ledger.give_feedback_async(**item, external_ref="JAKI-2"))
    assert written is not None  # written on the loop's own connection, never closed
    left = list(pg_ledger.recorder._async_connections.values())
    assert len(left) == 1 and not left[0].closed
    pg_ledger.close()
    assert left[0].closed and not pg_ledger.recorder._async_connections
