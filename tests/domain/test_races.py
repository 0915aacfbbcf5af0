"""Commands that lose a race, made deterministic: a competing command is run to completion
right after the command under test has loaded its aggregates, so the save hits a stale
version (IntegrityError in the store). `_write` then decides again on fresh state, or
answers ConcurrentChange; either way nothing is recorded twice and nothing is lost."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from domain.appeal import Appeal
from domain.cycle import PerformanceCycle
from domain.employee import Employee
from domain.errors import (
    AlreadyExists,
    AppealAlreadyFiled,
    ConcurrentChange,
    CycleLocked,
    EvaluationAlreadyDelivered,
    RubricVersionConflict,
    TargetsAlreadyFixed,
)
from domain.evaluation import Evaluation
from domain.rubric import Rubric
from domain.values import Aspect, BerakhlakValue, Direction, ItemKind, OrganisationalResult, Rating
from tests.domain.spec import all_events, events_after, log_position, race, refused, topics
from tests.scenario import HR, PERIOD, build_world, plan_standard_items, rate_fully

ATAS, SESUAI = Rating.DI_ATAS, Rating.SESUAI


def is_(cls):
    return lambda aggregate: isinstance(aggregate, cls)


def realised(world):
    eid = world.evaluation_id()
    plan_standard_items(world, eid)
    world.app.fix_targets(eid, actor=world.rater)
    for item, value in (("violations", 30), ("patrol", 95)):
        world.app.record_realisation(eid, item_id=item, value=Decimal(value), evidence=[],
                                     actor=world.employee)
    return eid


def test_a_rating_that_lost_a_race_is_decided_again_and_both_are_kept(world, app):
    eid = realised(world)
    before = log_position(app)
    with race(app, after_loading=is_(Evaluation), competitor=lambda: app.rate_perilaku(
            eid, value=BerakhlakValue.LOYAL, rating=ATAS, actor=world.rater)) as ran:
        written = app.rate_item(eid, item_id="patrol", actor=world.rater)
    new = events_after(app, before)
    assert topics(new) == ["kinerja.evaluation.perilaku-rated.v1",
                           "kinerja.evaluation.item-rated.v1"]
    assert ran[0].position < written.position == log_position(app)
    assert new[1].originator_version == new[0].originator_version + 1


def test_a_retried_rating_sees_the_delivery_that_won_and_records_nothing(world, app):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    before = log_position(app)
    with race(app, after_loading=is_(Evaluation),
              competitor=lambda: app.deliver_result(eid, actor=world.rater)):
        with pytest.raises(EvaluationAlreadyDelivered):
            app.rate_item(eid, item_id="patrol", override=ATAS, reason="late",
                          actor=world.rater)
    assert topics(events_after(app, before)) == ["kinerja.evaluation.result-delivered.v1"]


def test_planning_that_lost_to_fixing_the_targets_is_refused_on_retry(world, app):
    eid = world.evaluation_id()
    plan_standard_items(world, eid)
    before = log_position(app)
    with race(app, after_loading=is_(Evaluation),
              competitor=lambda: app.fix_targets(eid, actor=world.rater)):
        with pytest.raises(TargetsAlreadyFixed):
            app.plan_item(eid, item_id="late", kind=ItemKind.TAMBAHAN,
                          aspect=Aspect.KUALITAS, indicator="Laporan", target=Decimal(1),
                          direction=Direction.HIGHER_IS_BETTER, actor=world.rater)
    assert topics(events_after(app, before)) == ["kinerja.evaluation.targets-fixed.v1"]


def test_a_calibration_that_lost_a_race_is_not_retried(world, app):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    app.deliver_result(eid, actor=world.rater)
    before = log_position(app)
    with race(app, after_loading=is_(Evaluation), competitor=lambda: app.calibrate_result(
            eid, session="sesi-1", hk=ATAS, pk=ATAS, reason="pertama", actor=HR)):
        with pytest.raises(ConcurrentChange):
            app.calibrate_result(eid, session="sesi-2", hk=SESUAI, pk=ATAS,
                                 reason="kedua, dari keadaan lama", actor=HR)
    [only] = events_after(app, before)
    assert only["reference"] == "sesi-1"


def test_a_second_filing_racing_the_first_is_told_the_appeal_exists(world, app):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    app.deliver_result(eid, actor=world.rater)
    before = log_position(app)
    with race(app, after_loading=is_(Employee), competitor=lambda: app.file_appeal(
            eid, grounds="yang pertama", actor=world.employee)):
        with pytest.raises(AppealAlreadyFiled):
            app.file_appeal(eid, grounds="yang kedua", actor=world.employee)
    [filed] = events_after(app, before)
    assert filed.originator_id == Appeal.id_for(app.get_evaluation(eid).id)


def test_a_publication_racing_the_same_version_is_told_the_version_conflict(world, app):
    def publish(summary):
        return app.publish_rubric_version(world.rubric_id, version=2,
                                          effective_from=date(2026, 7, 1), policy={},
                                          indicators=[], summary=summary, actor=HR)
    before = log_position(app)
    with race(app, after_loading=is_(Rubric), competitor=lambda: publish("kantor A")):
        with pytest.raises(RubricVersionConflict):
            publish("kantor B")
    [published] = events_after(app, before)
    assert published["summary"] == "kantor A"


def test_starting_an_evaluation_twice_at_once_starts_it_once(app, clock):
    world = build_world(app, clock, employees=2)
    app.open_period(world.cycle_id, period="2026-02", actor=HR)
    before = log_position(app)
    with race(app, after_loading=is_(Employee), competitor=lambda: app.start_evaluations(
            world.cycle_id, period="2026-02", employee_ids=[world.employees[0]], actor=HR)):
        with pytest.raises(AlreadyExists):
            app.start_evaluations(world.cycle_id, period="2026-02",
                                  employee_ids=world.employees, actor=HR)
    assert topics(events_after(app, before)) == ["kinerja.cycle.evaluations-enrolled.v1",
                                                 "kinerja.evaluation.started.v1"]


def test_enrolments_racing_on_the_cycle_are_both_kept(app, clock):
    world = build_world(app, clock, employees=2)
    app.open_period(world.cycle_id, period="2026-02", actor=HR)
    with race(app, after_loading=is_(Employee), competitor=lambda: app.start_evaluations(
            world.cycle_id, period="2026-02", employee_ids=[world.employees[1]], actor=HR)):
        app.start_evaluations(world.cycle_id, period="2026-02",
                              employee_ids=[world.employees[0]], actor=HR)
    enrolled = app.get_cycle(world.cycle_id).enrolled["2026-02"]
    assert sorted(enrolled) == sorted(world.evaluation_id(e, "2026-02")
                                      for e in world.employees)


def test_a_feedback_batch_racing_its_own_retry_records_every_item_once(world, app):
    batch = [dict(employee_id=world.employee, period=PERIOD, source="citizen",
                  giver_ref=f"warga:{n}", score=3, channel="CRM", external_ref=f"CRM-{n}")
             for n in range(4)]
    with race(app, after_loading=is_(Employee),
              competitor=lambda: app.give_feedback_batch(batch[:2], actor="integration:crm")):
        app._known_employees.clear()  # make the batch load the employee, and so race
        app.give_feedback_batch(batch, actor="integration:crm")
    refs = [e["external_ref"] for e in all_events(app)
            if e.topic == "kinerja.feedback.given.v1"]
    assert sorted(refs) == ["CRM-0", "CRM-1", "CRM-2", "CRM-3"]


def test_the_lock_checks_each_period_under_the_rubric_version_of_that_period(world, app,
                                                                            clock):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    app.deliver_result(eid, actor=world.rater)     # Baik
    app.set_organisational_result(world.cycle_id, period=PERIOD,
                                  result=OrganisationalResult.ISTIMEWA, actor=HR)
    # From July a stricter curve: an Istimewa unit has at most half Baik.
    app.publish_rubric_version(world.rubric_id, version=2, effective_from=date(2026, 7, 1),
                               policy={"quotas": {"istimewa": [{
                                   "predikat": ["baik"], "bound": "max_share",
                                   "value": "0.5"}]}},
                               indicators=[], summary="kurva ketat", actor=HR)
    clock.now = datetime(2026, 12, 20, 9, tzinfo=timezone.utc)
    before = log_position(app)
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    [locked] = events_after(app, before)
    assert locked.topic == "kinerja.cycle.locked.v1"
    # January is checked under version 1 (in force on 1 January), not version 2.
    assert locked["breaches"] == []
    assert locked["distribution"][PERIOD][0]["predikat"] == ["sangat_baik"]


def test_a_rating_racing_the_lock_is_refused(world, app):
    # The rating's save carries a guard on the cycle version it read (api/recorders.py).
    eid = realised(world)
    before = log_position(app)
    with race(app, after_loading=is_(PerformanceCycle), competitor=lambda: app.lock_cycle(
            world.cycle_id, justification=None, actor=HR)):
        refused_error = None
        try:
            app.rate_item(eid, item_id="patrol", actor=world.rater)
        except CycleLocked as error:
            refused_error = error
    assert refused_error is not None
    assert topics(events_after(app, before)) == ["kinerja.cycle.locked.v1"]


def test_refused_helper_sees_a_racing_write(world, app):
    # The helper itself must notice a write, or every refusal test above would be hollow.
    with pytest.raises(AssertionError):
        refused(app, CycleLocked, lambda: (app.lock_cycle(world.cycle_id, justification=None,
                                                          actor=HR),
                                           app.lock_cycle(world.cycle_id, justification=None,
                                                          actor=HR)))
