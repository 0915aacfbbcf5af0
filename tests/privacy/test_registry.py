"""The registry of personal fields agrees with the events the domain records."""

from __future__ import annotations

import typing

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, resolve_topic

from domain.appeal import Appeal
from domain.cycle import PerformanceCycle
from domain.employee import Employee
from domain.evaluation import Evaluation
from domain.feedback import FeedbackItem
from domain.personal_data import REGISTRY, SHREDDED, STREAM_SUBJECTS, SubjectSource
from domain.rubric import Rubric

AGGREGATES = (Employee, Rubric, PerformanceCycle, Evaluation, FeedbackItem, Appeal)

#: Text fields that stay in clear by decision (docs/privacy.md says why).
CLEAR_BY_DECISION = {
    ("kinerja.employee.personal-data-shredded.v1", "reason"),  # the audit of the shredding
    ("kinerja.cycle.reopened.v1", "reason"),  # about a unit's cycle, not one person
    ("kinerja.cycle.locked.v1", "justification"),  # about a unit's distribution
    ("kinerja.rubric.version-published.v1", "summary"),
}
#: Field names that suggest free text or identity: each must be decided one way or the other.
SUSPICIOUS = {"name", "nip", "note", "reason", "reasons", "comment", "grounds", "text",
              "question", "justification", "summary", "override_reason",
              "departure_reason"}


def recorded_events() -> dict[str, type]:
    events = {}
    for aggregate in AGGREGATES:
        for member in vars(aggregate).values():
            if isinstance(member, type) and issubclass(member, Aggregate.Event):
                topic = get_topic(member)
                if topic.startswith("kinerja.") and not topic.endswith(".v0"):
                    events[topic] = member
    return events


def test_every_registered_topic_is_a_recorded_event_with_those_fields():
    events = recorded_events()
    for topic, entry in REGISTRY.items():
        assert topic in events, topic
        hints = typing.get_type_hints(events[topic])
        for name in entry.fields:
            # Text, so that the shredded marker keeps each field's type.
            assert hints[name] in (str, str | None), (topic, name, hints[name])


@pytest.mark.parametrize("cls", [Employee.Registered, FeedbackItem.Given, Appeal.Filed])
def test_the_classes_declaring_personal_fields_agree_with_the_registry(cls):
    assert REGISTRY[get_topic(cls)].fields == cls.PERSONAL_FIELDS


def test_every_text_field_that_may_hold_personal_data_is_decided():
    undecided = []
    for topic, cls in recorded_events().items():
        for name in typing.get_type_hints(cls):
            if name not in SUSPICIOUS or (topic, name) in CLEAR_BY_DECISION:
                continue
            if topic not in REGISTRY or name not in REGISTRY[topic].fields:
                undecided.append((topic, name))
    assert undecided == []


def test_a_subject_field_is_never_itself_personal():
    for topic, entry in REGISTRY.items():
        if entry.subject is SubjectSource.FIELD:
            assert entry.subject_field not in entry.fields
            assert entry.subject_field in typing.get_type_hints(resolve_topic(topic))
    for topic, name in STREAM_SUBJECTS.items():
        assert name not in (REGISTRY.get(topic).fields if topic in REGISTRY else ())
        assert name in typing.get_type_hints(resolve_topic(topic))


def test_ratings_codes_periods_and_timestamps_stay_in_clear():
    clear = {"rating", "computed_rating", "capaian", "hasil_kerja", "perilaku_kerja",
             "predikat", "period", "at", "timestamp", "score", "source", "value",
             "employee_id", "giver_ref", "target", "unit", "position", "evidence",
             "effective_on", "delivered_on", "appeal_due", "feedback", "previous"}
    for entry in REGISTRY.values():
        assert not clear & set(entry.fields), entry.topic


def test_every_stream_subject_topic_opens_an_evaluation_or_appeal_stream():
    assert {resolve_topic(t) for t in STREAM_SUBJECTS} == {Evaluation.Started, Appeal.Filed}
    stream_topics = {t for t, e in REGISTRY.items() if e.subject is SubjectSource.STREAM}
    assert all(t.startswith(("kinerja.evaluation.", "kinerja.appeal.")) for t in stream_topics)


def test_the_shredded_marker_is_not_a_valid_nip_or_empty():
    assert SHREDDED.strip() and not SHREDDED.isdigit()
