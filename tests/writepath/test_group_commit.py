"""Group commit: concurrent commands share transactions, and lose nothing."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from api.group_commit import GroupCommitter
from domain.errors import ConcurrentChange
from domain.values import BerakhlakValue, FeedbackSource, Rating
from tests.scenario import PERIOD, build_world, plan_standard_items


def _record(originator_id: uuid.UUID, version: int) -> StoredEvent:
    return StoredEvent(originator_id=originator_id, originator_version=version,
                       topic="kinerja.test.v1", state=b"{}")


def test_a_conflict_in_a_batch_fails_only_the_command_that_caused_it(app):
    existing = uuid.uuid4()
    app.recorder.insert_events([_record(existing, 1)])
    committer = GroupCommitter(app.recorder)
    gate = threading.Barrier(9)
    outcomes: dict[int, object] = {}

    def submit(n: int) -> None:
        records = [_record(existing, 1)] if n == 4 else [_record(uuid.uuid4(), 1)]
        gate.wait()
        try:
            outcomes[n] = committer.commit(records)
        except IntegrityError as error:
            outcomes[n] = error

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committer.close()
    assert isinstance(outcomes[4], IntegrityError)
    committed = [ids for n, ids in outcomes.items() if n != 4]
    assert all(isinstance(ids, list) and len(ids) == 1 for ids in committed)
    stored = app.recorder.select_notifications(1, 100)
    assert len(stored) == 1 + 8
    assert sorted(i[0] for i in committed) == [n.id for n in stored[1:]]


_caller: contextvars.ContextVar[int] = contextvars.ContextVar("caller")


def test_decisions_left_to_the_leader_run_in_their_callers_context_and_fail_alone(app):
    """`commit_decided`: whichever thread leads decides for the callers queued behind it,
    each in its own caller's context; a decision that raises fails only its caller, and
    one that makes nothing writes nothing."""
    committer = GroupCommitter(app.recorder)
    streams = {n: uuid.uuid4() for n in range(12)}
    decided_by: dict[int, int] = {}
    outcomes: dict[int, object] = {}

    def decide() -> list[StoredEvent]:
        n = _caller.get()
        decided_by[n] = threading.get_ident()
        if n == 0:  # the first leader holds the lead until everyone else has queued
            deadline = time.monotonic() + 10
            while len(committer._queue) < 11 and time.monotonic() < deadline:
                time.sleep(0.001)
        if n == 5:
            raise ValueError("refused by the domain")
        return [] if n == 7 else [_record(streams[n], 1)]

    def call(n: int) -> None:
        _caller.set(n)
        try:
            outcomes[n] = (threading.get_ident(), committer.commit_decided(decide))
        except ValueError as error:
            outcomes[n] = (threading.get_ident(), error)

    first = threading.Thread(target=call, args=(0,))
    first.start()
    while not decided_by:
        time.sleep(0.001)
    others = [threading.Thread(target=call, args=(n,)) for n in range(1, 12)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(timeout=30)
    committer.close()
    assert isinstance(outcomes[5][1], ValueError)
    assert outcomes[7][1] == []
    written = {n: result[1][0] for n, result in outcomes.items() if n not in (5, 7)}
    stored = app.recorder.select_notifications(1, 100)
    assert {s.id: s.originator_id for s in stored} == {
        position: streams[n] for n, position in written.items()}
    # all but one of the queued callers were decided for by another thread
    queued = range(1, 12)
    assert sum(decided_by[n] != outcomes[n][0] for n in queued) == len(queued) - 1


def test_concurrent_commands_lose_nothing_and_record_nothing_twice(app, clock):
    world = build_world(app, clock, employees=4)
    before = app.recorder.max_notification_id() or 0
    acknowledged: list[int] = []
    lock = threading.Lock()

    def give(n: int) -> None:
        written = app.give_feedback(
            employee_id=world.employees[n % 4], period=PERIOD, source=FeedbackSource.CITIZEN,
            giver_ref=f"citizen-{n}", score=1 + n % 5, channel="JAKI",
            external_ref=f"jaki-{n}", actor="channel:jaki")
        with lock:
            acknowledged.append(written.position)

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(give, range(200)))
    first_round = list(acknowledged)
    # the same channel items again: recorded once, so the retries write nothing
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(give, range(200)))
    assert acknowledged[200:] == [None] * 200
    after = app.recorder.select_notifications(before + 1, 10_000)
    assert len(after) == 200
    assert {n.id for n in after} == set(first_round)
    assert [n.id for n in after] == sorted(n.id for n in after)
    assert len({(n.originator_id, n.originator_version) for n in after}) == 200


def test_commands_racing_on_one_evaluation_are_retried_or_refused_never_lost(app, clock):
    world = build_world(app, clock)
    evaluation_id = world.evaluation_id()
    plan_standard_items(world, evaluation_id)
    app.fix_targets(evaluation_id, actor=world.rater)
    values = list(BerakhlakValue) * 4
    results: list[object] = []

    def rate(value: BerakhlakValue) -> None:
        try:
            results.append(app.rate_perilaku(evaluation_id, value=value,
                                             rating=Rating.SESUAI, actor=world.rater))
        except ConcurrentChange as error:
            results.append(error)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(rate, values))
    accepted = [r for r in results if not isinstance(r, ConcurrentChange)]
    events = list(app.events.get(app.get_evaluation(evaluation_id).id))
    rated = [e for e in events if type(e).__name__ == "PerilakuRated"]
    assert len(rated) == len(accepted)
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))


def test_the_ledger_writes_the_same_log_with_and_without_group_commit(tmp_path):
    from api.settings import Settings
    from api.store import open_ledger
    from tests.scenario import TickingClock

    logs = []
    for group_commit in (True, False):
        settings = Settings(database_url=f"sqlite:///{tmp_path / f'{group_commit}.sqlite3'}")
        clock = TickingClock()
        ledger = open_ledger(settings, clock=clock, group_commit=group_commit)
        try:
            build_world(ledger, clock, employees=3)
            logs.append([(n.id, n.topic, n.originator_version)
                         for n in ledger.recorder.select_notifications(1, 1000)])
        finally:
            ledger.close()
    assert logs[0] == logs[1]
    assert len(logs[0]) > 10


def test_a_guard_counts_a_neighbour_in_the_same_transaction_and_writes_nothing(app):
    """Guards are checked after the insert: a batch in which one record moves a stream
    that another submission guarded at its old version is refused whole, and nothing of
    it is kept; alone, each part commits (the group committer's fallback)."""
    guarded = uuid.uuid4()
    app.recorder.insert_events([_record(guarded, 1)])
    with pytest.raises(IntegrityError):
        app.recorder.insert_events([_record(guarded, 2), _record(uuid.uuid4(), 1)],
                                   guards=[(guarded, 1)])
    assert len(app.recorder.select_notifications(1, 100)) == 1
    app.recorder.insert_events([_record(uuid.uuid4(), 1)], guards=[(guarded, 1)])
    app.recorder.insert_events([_record(guarded, 2)])
    with pytest.raises(IntegrityError):
        app.recorder.insert_events([_record(uuid.uuid4(), 1)], guards=[(guarded, 1)])
    assert len(app.recorder.select_notifications(1, 100)) == 3


def test_futures_and_waiting_threads_share_batches_and_each_hears_only_of_its_own(app):
    """Callers on an event loop `submit` and get a future; blocking callers `commit`. A
    conflict fails only the submission that caused it, whichever kind it is."""
    existing = uuid.uuid4()
    app.recorder.insert_events([_record(existing, 1)])
    committer = GroupCommitter(app.recorder)
    gate = threading.Barrier(13)
    futures: dict[int, Any] = {}
    outcomes: dict[int, object] = {}

    def call(n: int) -> None:
        records = [_record(existing, 1)] if n in (3, 8) else [_record(uuid.uuid4(), 1)]
        gate.wait()
        if n % 2:
            futures[n] = committer.submit(records)
            return
        try:
            outcomes[n] = committer.commit(records)
        except IntegrityError as error:
            outcomes[n] = error

    threads = [threading.Thread(target=call, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    gate.wait()
    for thread in threads:
        thread.join()
    for n, future in futures.items():
        outcomes[n] = future.exception(timeout=30) or future.result()
    committer.close()
    assert isinstance(outcomes[3], IntegrityError) and isinstance(outcomes[8], IntegrityError)
    committed = {n: ids for n, ids in outcomes.items() if n not in (3, 8)}
    assert all(isinstance(ids, list) and len(ids) == 1 for ids in committed.values())
    stored = app.recorder.select_notifications(1, 100)
    assert sorted(ids[0] for ids in committed.values()) == [n.id for n in stored[1:]]


def test_the_awaited_feedback_path_falls_back_rather_than_block_or_record_twice(app, clock):
    """`give_feedback_async` answers None, having written nothing, where it would need the
    database before the write (an employee not yet known) or where the item is already
    recorded; the blocking `give_feedback` then settles it."""
    world = build_world(app, clock, employees=2)
    item = dict(employee_id=world.employees[0], period=PERIOD,
                source=FeedbackSource.CITIZEN, giver_ref="warga-7", score=4,
                channel="JAKI", external_ref="JAKI-7", actor="channel:jaki")
    before = app.recorder.max_notification_id()
    app._known_employees.clear()
    assert asyncio.run(app.give_feedback_async(**item)) is None
    assert app.recorder.max_notification_id() == before
    first = app.give_feedback(**item)  # learns the employee
    assert first.position == before + 1
    again = {**item, "giver_ref": "warga-8", "external_ref": "JAKI-8"}
    written = asyncio.run(app.give_feedback_async(**again))
    assert written is not None and written.position == before + 2
    assert written.ids["feedback_id"] == str(
        app.recorder.select_notifications(before + 2, 1)[0].originator_id)
    assert asyncio.run(app.give_feedback_async(**again)) is None  # already recorded
    assert app.give_feedback(**again).position is None
    assert app.recorder.max_notification_id() == before + 2
