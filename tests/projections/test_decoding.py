"""The fast decoder reads the stored JSON itself; it must mean exactly what the mapper
means, for every event the service records."""

from __future__ import annotations

import json
from typing import Any

from eventsourcing.persistence import Mapper, Notification

from api.service import AppraisalLedger
from projections.decoding import PERSONAL, EventDecoder, plain
from tests.projections.story import tell
from tests.scenario import TickingClock


def notifications(app: Any) -> list[Any]:
    return list(app.recorder.select_notifications(1, 10_000))


def test_fast_decoding_equals_the_mapper_on_every_event_of_the_story(app, clock):
    tell(app, clock)
    stored = notifications(app)
    fast, slow = EventDecoder(app), EventDecoder(app, fast=False)
    assert fast.fast
    decoded = fast.decode(stored)
    expected = slow.decode(stored)
    assert fast.fast, "the fast path was turned off: it disagreed with the mapper"
    assert len(decoded) == len(expected) > 90
    for mine, theirs in zip(decoded, expected, strict=True):
        assert (mine.position, mine.topic, mine.originator_id, mine.originator_version) == (
            theirs.position, theirs.topic, theirs.originator_id, theirs.originator_version)
        assert mine.data == theirs.data, mine.topic
        assert mine.recorded_at == theirs.recorded_at
    reasons = [e.data["reason"] for e in decoded if e.topic.endswith("result-changed.v1")]
    assert reasons and set(reasons) == {PERSONAL}  # personal text is never decoded


def test_opening_personal_fields_gives_the_mappers_texts(app, clock):
    tell(app, clock)
    stored = notifications(app)
    opening = EventDecoder(app, open_personal=True)
    decoded = opening.decode(stored)
    assert [e.data for e in decoded] == [
        e.data for e in EventDecoder(app, fast=False, open_personal=True).decode(stored)]
    reasons = [e.data["reason"] for e in decoded if e.topic.endswith("result-changed.v1")]
    assert "bukti diterima" in reasons


def test_the_librarys_own_mapper_is_read_fast_and_identically():
    app = AppraisalLedger({"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=TickingClock())
    tell(app, app.clock)
    stored = notifications(app)
    fast = EventDecoder(app)
    assert type(app.mapper) is Mapper and fast.fast
    assert [e.data for e in fast.decode(stored)] == [
        e.data for e in EventDecoder(app, fast=False).decode(stored)]


def test_an_event_stored_before_its_class_version_is_upcast_as_the_mapper_does(app, clock):
    tell(app, clock)
    given = next(n for n in notifications(app) if n.topic == "kinerja.feedback.given.v1")
    state = json.loads(given.state)
    assert state.pop("class_version") == 2
    del state["value"]  # version 1 had no `value`
    old = Notification(id=given.id, originator_id=given.originator_id,
                       originator_version=given.originator_version, topic=given.topic,
                       state=json.dumps(state).encode())
    event = EventDecoder(app).decode_one(old)
    assert event.data["value"] is None
    assert event.data == EventDecoder(app, fast=False).decode_one(old).data


class _MeddlingMapper(Mapper):
    """Changes a field that is not personal on the way out."""

    def to_domain_event(self, stored_event: Any) -> Any:
        event = super().to_domain_event(stored_event)
        object.__setattr__(event, "actor", "someone-else")
        return event


def test_a_mapper_that_changes_more_than_personal_fields_turns_the_fast_path_off():
    app = AppraisalLedger({"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=TickingClock())
    tell(app, app.clock)
    inner = app.mapper
    app.mapper = _MeddlingMapper(inner.transcoder, inner.compressor, inner.cipher)
    decoder = EventDecoder(app)
    assert decoder.fast
    decoded = decoder.decode(notifications(app))
    assert not decoder.fast
    assert {e.data["actor"] for e in decoded} == {"someone-else"}


def test_an_unknown_transcoding_keeps_the_decoder_on_the_mapper():
    app = AppraisalLedger({"PERSISTENCE_MODULE": "eventsourcing.popo"})

    class Anything:
        pass

    from eventsourcing.persistence import Transcoding

    class AnythingAsText(Transcoding):
        type = Anything
        name = "anything"

        def encode(self, obj: Any) -> str:
            return ""

        def decode(self, data: str) -> Any:
            return Anything()

    app.mapper.transcoder.register(AnythingAsText())
    assert not EventDecoder(app).fast


def test_plain_values_are_json_ready():
    from datetime import date, datetime, timezone
    from decimal import Decimal
    from uuid import UUID

    from domain.values import Rating

    value = {"id": UUID(int=1), "n": Decimal("1.50"), "d": date(2026, 1, 2),
             "t": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "r": Rating.SESUAI,
             "l": [Decimal("2")]}
    assert plain(value) == {"id": "00000000-0000-0000-0000-000000000001", "n": "1.50",
                            "d": "2026-01-02", "t": "2026-01-02T03:04:05+00:00",
                            "r": "sesuai_ekspektasi", "l": ["2"]}
    json.dumps(plain(value))
