"""The runner: batches with tracking, following the log, read-your-writes, sharing."""

from __future__ import annotations

import threading
import time

from domain.values import FeedbackSource
from projections.catalog import NAMES, model_digest
from projections.queries import ReadModels
from projections.replay import check, rebuild
from projections.runner import ProjectionRunner
from tests.projections.story import assert_same_as_replay, tell
from tests.scenario import PERIOD, build_world


def give_feedback(app, world, score: int = 4) -> int:
    return app.give_feedback(employee_id=world.employee, period=PERIOD,
                             source=FeedbackSource.PEER, giver_ref=world.head, score=score,
                             actor=world.head).position


def test_a_background_runner_follows_new_events(app, rm_db, clock):
    runner = ProjectionRunner(app, rm_db, poll_interval=0.05)
    runner.start()
    try:
        world = build_world(app, clock)
        position = give_feedback(app, world)
        deadline = time.monotonic() + 15
        while runner.position < position and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runner.position == position
        assert ReadModels(rm_db).feedback_scores(world.employee, PERIOD) == [
            (FeedbackSource.PEER, 4)]
        later = give_feedback(app, world, score=2)
        deadline = time.monotonic() + 15
        while runner.position < later and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runner.position == later
        assert runner.last_error is None
    finally:
        runner.stop()
    assert not runner.running


def test_wait_for_gives_read_your_writes(app, rm_db, clock):
    runner = ProjectionRunner(app, rm_db)
    models = ReadModels(rm_db, app)
    world = build_world(app, clock)
    position = give_feedback(app, world, score=5)
    assert models.current_position() < position
    assert runner.wait_for(position, timeout=10)
    assert models.current_position() >= position
    assert models.feedback_scores(world.employee, PERIOD) == [(FeedbackSource.PEER, 5)]


def test_wait_for_gives_up_at_its_timeout_on_a_position_never_written(app, rm_db, clock):
    runner = ProjectionRunner(app, rm_db)
    build_world(app, clock)
    head = app.recorder.max_notification_id()
    started = time.monotonic()
    assert not runner.wait_for(head + 100, timeout=0.3)
    assert time.monotonic() - started < 5
    assert runner.position == head


def test_progress_is_reported_after_every_batch(app, rm_db, clock):
    build_world(app, clock)
    head = app.recorder.max_notification_id()
    reports: list[tuple[int, int]] = []
    reached = ProjectionRunner(app, rm_db, batch_size=4).catch_up(
        progress=lambda p, h: reports.append((p, h)))
    assert reached == head
    assert [p for p, _ in reports] == [min(n, head) for n in range(4, head + 4, 4)]
    assert {h for _, h in reports} == {head}


def test_catch_up_stops_at_the_position_asked_for(app, rm_db, clock):
    build_world(app, clock)
    runner = ProjectionRunner(app, rm_db, batch_size=3)
    assert runner.catch_up(stop=7) == 7
    assert ReadModels(rm_db).current_position() == 7
    assert runner.catch_up() == app.recorder.max_notification_id()


def test_runners_sharing_a_database_apply_each_event_once(sql_app, sql_db, clock):
    story = tell(sql_app, clock)
    first = ProjectionRunner(sql_app, sql_db, batch_size=5)
    second = ProjectionRunner(sql_app, sql_db, batch_size=7)
    first.catch_up(stop=30)
    second.catch_up(stop=55)
    first.catch_up(stop=70)  # its caches are stale: it must notice and reload
    threads = [threading.Thread(target=r.catch_up) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert first.position == second.position == story.positions["end"]
    assert_same_as_replay(sql_app, sql_db)


def test_runners_in_threads_keep_up_with_concurrent_writers(sql_app, sql_db, clock):
    world = build_world(sql_app, clock)
    runners = [ProjectionRunner(sql_app, sql_db, batch_size=3, poll_interval=0.01)
               for _ in range(2)]
    for runner in runners:
        runner.start()
    try:
        for score in (1, 2, 3, 4, 5, 4, 3):
            give_feedback(sql_app, world, score=score)
        head = sql_app.recorder.max_notification_id()
        assert runners[0].wait_for(head, timeout=15)
    finally:
        for runner in runners:
            runner.stop()
    assert [s for _, s in ReadModels(sql_db).feedback_scores(world.employee, PERIOD)] == [
        1, 2, 3, 4, 5, 4, 3]
    assert_same_as_replay(sql_app, sql_db)


def test_one_model_rebuilt_alone_comes_back_identical(sql_app, sql_db, clock):
    tell(sql_app, clock)
    ProjectionRunner(sql_app, sql_db, batch_size=9).catch_up()
    before = {name: model_digest(sql_db, name) for name in NAMES}
    reached, digests = rebuild(sql_app, sql_db, ["history"], batch_size=11)
    assert reached == sql_app.recorder.max_notification_id()
    assert digests == {"history": before["history"]}
    assert {name: model_digest(sql_db, name) for name in NAMES} == before


def test_a_rebuild_to_a_position_equals_the_live_models_as_of_it(sql_app, sql_db, clock):
    story = tell(sql_app, clock)
    ProjectionRunner(sql_app, sql_db).catch_up()
    position = story.positions["appeal_decided"]
    live = {name: model_digest(sql_db, name, upto=position) for name in NAMES}
    assert all(c.same for c in check(sql_app, sql_db, to=position))
    reached, digests = rebuild(sql_app, sql_db, to=position)
    assert reached == position
    assert digests == live


def test_read_models_on_an_empty_database_answer_empty(rm_db):
    models = ReadModels(rm_db)
    assert models.current_position() == 0
    assert models.list_evaluations() == {"items": [], "next_cursor": None,
                                         "as_of": {"position": 0}}
    assert models.distribution("x", "2026-01") is None
    ReadModels(rm_db)  # creating the tables again is harmless
