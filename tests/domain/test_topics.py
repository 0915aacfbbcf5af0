"""Event topics are stable strings, not module paths: code can move, stored events still
resolve. This table is the published list; a change to it is a breaking change."""

from __future__ import annotations

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, resolve_topic

from domain.appeal import Appeal
from domain.cycle import PerformanceCycle
from domain.employee import Employee
from domain.evaluation import Evaluation
from domain.feedback import FeedbackItem
from domain.rubric import Rubric
from tests.domain.spec import all_events
from tests.scenario import HR, rate_fully

PUBLISHED = {
    Employee: ("kinerja.employee", {
        "Registered": "kinerja.employee.registered.v1",
        "RaterAssigned": "kinerja.employee.rater-assigned.v1",
        "ReviewerAssigned": "kinerja.employee.reviewer-assigned.v1",
        "Transferred": "kinerja.employee.transferred.v1",
        "EmploymentEnded": "kinerja.employee.employment-ended.v1",
        "PersonalDataShredded": "kinerja.employee.personal-data-shredded.v1",
        "Created": "kinerja.employee.created.v0",
    }),
    Rubric: ("kinerja.rubric", {
        "Established": "kinerja.rubric.established.v1",
        "VersionPublished": "kinerja.rubric.version-published.v1",
        "Created": "kinerja.rubric.created.v0",
    }),
    PerformanceCycle: ("kinerja.cycle", {
        "Started": "kinerja.cycle.started.v1",
        "PeriodOpened": "kinerja.cycle.period-opened.v1",
        "PeriodClosed": "kinerja.cycle.period-closed.v1",
        "EvaluationsEnrolled": "kinerja.cycle.evaluations-enrolled.v1",
        "OrganisationalResultSet": "kinerja.cycle.organisational-result-set.v1",
        "AppealPanelNamed": "kinerja.cycle.appeal-panel-named.v1",
        "Locked": "kinerja.cycle.locked.v1",
        "Reopened": "kinerja.cycle.reopened.v1",
        "Created": "kinerja.cycle.created.v0",
    }),
    Evaluation: ("kinerja.evaluation", {
        "Started": "kinerja.evaluation.started.v1",
        "ItemPlanned": "kinerja.evaluation.item-planned.v1",
        "TargetsFixed": "kinerja.evaluation.targets-fixed.v1",
        "RealisationRecorded": "kinerja.evaluation.realisation-recorded.v1",
        "ItemRated": "kinerja.evaluation.item-rated.v1",
        "PerilakuRated": "kinerja.evaluation.perilaku-rated.v1",
        "ResultDelivered": "kinerja.evaluation.result-delivered.v1",
        "ResultChanged": "kinerja.evaluation.result-changed.v1",
        "AppealLapsed": "kinerja.evaluation.appeal-lapsed.v1",
        "Created": "kinerja.evaluation.created.v0",
    }),
    FeedbackItem: ("kinerja.feedback", {
        "Given": "kinerja.feedback.given.v1",
        "Created": "kinerja.feedback.created.v0",
    }),
    Appeal: ("kinerja.appeal", {
        "Filed": "kinerja.appeal.filed.v1",
        "ExplanationRequested": "kinerja.appeal.explanation-requested.v1",
        "ExplanationGiven": "kinerja.appeal.explanation-given.v1",
        "Decided": "kinerja.appeal.decided.v1",
        "Withdrawn": "kinerja.appeal.withdrawn.v1",
        "Created": "kinerja.appeal.created.v0",
    }),
}
ALL_TOPICS = {t for _, events in PUBLISHED.values() for t in events.values()}


def event_classes(aggregate: type) -> dict[str, type]:
    """The aggregate's own stored event classes (not the abstract `Event` base)."""
    return {name: obj for name in dir(aggregate)
            if isinstance(obj := getattr(aggregate, name), type)
            and issubclass(obj, Aggregate.Event) and name != "Event"
            and obj.__qualname__ == f"{aggregate.__name__}.{name}"}


@pytest.mark.parametrize("aggregate", list(PUBLISHED), ids=lambda a: a.__name__)
def test_every_event_class_has_its_published_topic(aggregate):
    topic, events = PUBLISHED[aggregate]
    assert get_topic(aggregate) == topic
    classes = event_classes(aggregate)
    assert {name: get_topic(cls) for name, cls in classes.items()} == events
    for name, cls in classes.items():
        assert resolve_topic(events[name]) is cls


def test_only_the_feedback_item_has_a_newer_class_version():
    versions = {cls.__qualname__: getattr(cls, "class_version", 1)
                for aggregate in PUBLISHED for cls in event_classes(aggregate).values()}
    assert {k: v for k, v in versions.items() if v != 1} == {"FeedbackItem.Given": 2}


def test_a_whole_appraisal_stores_only_published_topics(app, world):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    app.give_feedback(employee_id=world.employee, period="2026-01", source="peer",
                      giver_ref=world.head, score=4, actor=world.head)
    app.deliver_result(eid, actor=world.rater)
    appeal_id = app.file_appeal(eid, grounds="keberatan", actor=world.employee).ids["appeal_id"]
    app.decide_appeal(appeal_id, outcome="changed", hk="di_atas_ekspektasi",
                      pk="sesuai_ekspektasi", reasons="bukti baru", actor=world.head)
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    stored = {e.topic for e in all_events(app)}
    assert stored <= ALL_TOPICS
    assert not any(":" in t for t in stored)      # never a module path
    assert not any(t.endswith(".v0") for t in stored)   # `Created` is never recorded
