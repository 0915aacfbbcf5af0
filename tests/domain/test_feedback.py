"""Specifications of feedback (umpan balik) from peers, subordinates and citizens, and the
upcast of its first stored version."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidValue, NotFound, SelfRatingRefused
from domain.feedback import FeedbackItem
from domain.values import BerakhlakValue, FeedbackSource
from tests.domain.spec import events_after, log_position, only, refused, topics, when
from tests.scenario import PERIOD

PEER, SUBORDINATE, CITIZEN = FeedbackSource.PEER, FeedbackSource.SUBORDINATE, FeedbackSource.CITIZEN


def give(app, world, **changes):
    command = dict(employee_id=world.employee, period=PERIOD, source=PEER,
                   giver_ref=world.head, score=4, actor=world.head)
    return app.give_feedback(**{**command, **changes})


def citizen_item(world, ref, **changes):
    return {**dict(employee_id=world.employee, period=PERIOD, source=CITIZEN,
                   giver_ref=f"warga:{ref}", score=5, channel="JAKI", external_ref=ref),
            **changes}


def test_a_peer_gives_feedback_on_a_berakhlak_value(world, app):
    new = when(app, lambda: give(app, world, value=BerakhlakValue.KOLABORATIF,
                                 comment="  Membantu rekan saat razia  "))
    event = only(new, "kinerja.feedback.given.v1")
    assert event.fields == {
        "actor": world.head, "at": event["at"], "employee_id": world.employee,
        "period": PERIOD, "source": "peer", "giver_ref": world.head, "score": 4,
        "value": "kolaboratif", "comment": "Membantu rekan saat razia", "channel": None,
        "external_ref": None}


@pytest.mark.parametrize("score", [0, 6, -1, 3.5, "4", True, None])
def test_a_score_is_a_whole_number_from_1_to_5(world, app, score):
    refused(app, InvalidValue, lambda: give(app, world, score=score))


@pytest.mark.parametrize("score", [1, 5])
def test_the_score_bounds_are_inclusive(world, app, score):
    assert topics(when(app, lambda: give(app, world, score=score))) == [
        "kinerja.feedback.given.v1"]


@pytest.mark.parametrize("source", [PEER, SUBORDINATE])
def test_nobody_gives_feedback_on_themselves(world, app, source):
    refused(app, SelfRatingRefused, lambda: give(app, world, source=source,
                                                 giver_ref=world.employee,
                                                 actor=world.employee))


def test_an_employee_cannot_pass_off_feedback_on_themselves_as_someone_elses(world, app):
    refused(app, SelfRatingRefused, lambda: give(app, world, giver_ref=world.head,
                                                 actor=world.employee))


def test_citizen_feedback_names_its_channel(world, app):
    refused(app, InvalidValue, lambda: app.give_feedback(
        **citizen_item(world, "J-1", channel=None), actor="integration:jaki"))
    refused(app, InvalidValue, lambda: app.give_feedback(
        **citizen_item(world, "J-1", channel="   "), actor="integration:jaki"))
    new = when(app, lambda: app.give_feedback(**citizen_item(world, "J-1"),
                                              actor="integration:jaki"))
    fields = only(new).fields
    assert (fields["source"], fields["channel"], fields["external_ref"]) == (
        "citizen", "JAKI", "J-1")


@pytest.mark.parametrize("changes", [
    {"source": "atasan"}, {"value": "jujur"}, {"giver_ref": " "}, {"period": ""},
    {"comment": "x" * 4001}, {"employee_id": "bukan-uuid"},
])
def test_invalid_feedback_is_refused(world, app, changes):
    refused(app, InvalidValue, lambda: give(app, world, **changes))


def test_feedback_on_an_unknown_employee_is_refused(world, app):
    refused(app, NotFound, lambda: give(app, world,
                                        employee_id="0b6a1f4e-0000-4000-8000-000000000000"))


def test_a_channel_item_sent_twice_is_recorded_once(world, app):
    first = app.give_feedback(**citizen_item(world, "Q-77"), actor="integration:qlue")
    new = when(app, lambda: app.give_feedback(**citizen_item(world, "Q-77"),
                                              actor="integration:qlue"))
    assert new == []
    assert first.ids["feedback_id"] == str(FeedbackItem.id_for_channel_item("JAKI", "Q-77"))


def test_a_channel_reference_is_matched_without_surrounding_spaces(world, app):
    app.give_feedback(**citizen_item(world, "Q-78"), actor="integration:qlue")
    assert when(app, lambda: app.give_feedback(
        **citizen_item(world, " Q-78 ", channel=" JAKI"), actor="integration:qlue")) == []


def test_a_retried_batch_records_only_what_is_new(world, app):
    app.give_feedback_batch([citizen_item(world, "C-1"), citizen_item(world, "C-2")],
                            actor="integration:crm")
    new = when(app, lambda: app.give_feedback_batch(
        [citizen_item(world, "C-1"), citizen_item(world, "C-2"), citizen_item(world, "C-3")],
        actor="integration:crm"))
    assert [n["external_ref"] for n in new] == ["C-3"]
    assert when(app, lambda: app.give_feedback_batch(
        [citizen_item(world, "C-3")], actor="integration:crm")) == []


def test_a_batch_is_one_transaction(world, app):
    batch = [citizen_item(world, f"B-{n}") for n in range(5)]
    batch[3]["score"] = 9
    refused(app, InvalidValue, lambda: app.give_feedback_batch(batch,
                                                               actor="integration:crm"))
    batch[3]["score"] = 3
    new = when(app, lambda: app.give_feedback_batch(batch, actor="integration:crm"))
    assert len(new) == 5
    assert len({n.originator_id for n in new}) == 5


@pytest.mark.parametrize("batch", [
    [],
    "duplicate",
    [{"employee_id": "x"}],                              # fields missing
    [{"period": PERIOD, "source": "peer", "giver_ref": "g", "score": 3}],
])
def test_an_invalid_batch_is_refused(world, app, batch):
    if batch == "duplicate":
        batch = [citizen_item(world, "D-1"), citizen_item(world, "D-1", score=1)]
    refused(app, InvalidValue, lambda: app.give_feedback_batch(batch,
                                                               actor="integration:crm"))


# --- the upcast of FeedbackItem.Given v1 ----------------------------------------------

V1_STATE = {
    "timestamp": {"_type_": "datetime_iso", "_data_": "2025-11-03T02:15:00+00:00"},
    "originator_topic": "kinerja.feedback",
    "actor": "integration:jaki",
    "at": {"_type_": "datetime_iso", "_data_": "2025-11-03T02:14:00+00:00"},
    "period": "2025-11", "source": "citizen", "giver_ref": "warga:7f3a", "score": 2,
    "comment": None, "channel": "JAKI", "external_ref": "JAKI-2025-000123",
}


def insert_v1(app, feedback_id, state):
    app.recorder.insert_events([StoredEvent(
        originator_id=feedback_id, originator_version=1, topic="kinerja.feedback.given.v1",
        state=json.dumps(state, separators=(",", ":")).encode())])


def test_a_stored_v1_feedback_event_is_read_back_upcast(app, world):
    """v1 events (before a BerAKHLAK value could be named) have no `value` and no
    `class_version`; they are read as v2 with `value` None, on every store."""
    feedback_id = uuid.uuid4()
    before = log_position(app)
    insert_v1(app, feedback_id, {**V1_STATE, "employee_id": world.employee})
    [stored] = events_after(app, before)
    assert stored.topic == "kinerja.feedback.given.v1"
    assert type(stored.event) is FeedbackItem.Given
    assert stored["value"] is None
    assert (stored["score"], stored["channel"], stored["comment"]) == (2, "JAKI", None)
    assert "class_version" not in vars(stored.event)
    item = app.repository.get(feedback_id)
    assert (item.value, item.score, item.channel) == (None, 2, "JAKI")
    assert item.source is CITIZEN


def test_a_v1_event_with_a_personal_comment_is_opened_then_upcast(app, world):
    """A v1 event as this ledger stored it: the comment sealed by the mapper (under the
    employee's key), and neither `value` nor `class_version` in the state."""
    feedback_id = uuid.uuid4()
    template = FeedbackItem.give(
        feedback_id=feedback_id, employee_id=world.employee, period="2025-11",
        source=CITIZEN, giver_ref="warga:7f3a", score=2, value=None,
        comment="Parkir liar dibiarkan", channel="JAKI", external_ref="JAKI-2025-000124",
        actor="integration:jaki", at=world.clock())
    [event] = template.collect_events()
    state = json.loads(app.mapper.to_stored_event(event).state)
    del state["value"], state["class_version"]
    before = log_position(app)
    insert_v1(app, feedback_id, state)
    [stored] = events_after(app, before)
    assert (stored["value"], stored["comment"]) == (None, "Parkir liar dibiarkan")


def test_new_feedback_events_are_stored_as_class_version_2(app, world):
    before = log_position(app)
    give(app, world, value=BerakhlakValue.LOYAL)
    [notification] = app.recorder.select_notifications(before + 1, limit=1)
    state = json.loads(notification.state)
    assert state["class_version"] == 2
    assert state["value"] == "loyal"


_NOW = datetime(2026, 1, 31, 8, tzinfo=timezone.utc)


@given(source=st.sampled_from(list(FeedbackSource)), score=st.integers(-1, 7),
       giver=st.sampled_from(["  warga-1 ", "emp-1", "", "x" * 201]),
       comment=st.one_of(st.none(), st.text(max_size=30)),
       channel=st.sampled_from([None, "", " JAKI "]))
def test_the_bulk_event_is_the_event_give_records_under_the_same_rules(
        source, score, giver, comment, channel):
    """`given` (bulk ingestion, no aggregate built) refuses what `give` refuses, and
    otherwise makes the very event `give` records."""
    fields = dict(feedback_id=uuid.uuid4(), employee_id="emp-1", period=PERIOD,
                  source=source, giver_ref=giver, score=score, value=None, comment=comment,
                  channel=channel, external_ref=" R-1 ", actor="channel:x", at=_NOW)
    outcomes = []
    for make in (lambda: FeedbackItem.give(**fields).collect_events()[0],
                 lambda: FeedbackItem.given(**fields)):
        try:
            event = make()
        except (InvalidValue, SelfRatingRefused) as error:
            outcomes.append((type(error), str(error)))
        else:
            state = dict(vars(event))
            state.pop("timestamp")
            outcomes.append((type(event), state))
    assert outcomes[0] == outcomes[1]
