"""Feedback about an employee from peers, subordinates and citizens.

Every item is its own stream, so a complaint channel pushing thousands of items never
contends with the rater's writes on the evaluation. Feedback informs the rater (and may
feed an indicator); it never sets a predikat by itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.base import LedgerAggregate, derived_id, require_aware, require_text
from domain.errors import InvalidValue, SelfRatingRefused
from domain.values import BerakhlakValue, FeedbackSource


class FeedbackItem(LedgerAggregate):
    TOPIC = "kinerja.feedback"

    class Created(LedgerAggregate.Event, Aggregate.Created):
        """Required by the library; never recorded (feedback begins with `Given`)."""

        TOPIC = "kinerja.feedback.created.v0"

    class Given(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "kinerja.feedback.given.v1"
        #: Free text may name people: encrypted at rest with the rated employee's key.
        PERSONAL_FIELDS = ("comment",)
        #: v1 (before the BerAKHLAK value could be named) had no `value` field.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["value"] = None

        actor: str
        at: datetime
        employee_id: str
        period: str
        source: str
        #: Who gave it: an actor id for peers and subordinates, a pseudonym for citizens.
        giver_ref: str
        score: int
        value: str | None
        comment: str | None
        channel: str | None
        external_ref: str | None

    @staticmethod
    def id_for_channel_item(channel: str, external_ref: str) -> Any:
        """Items from a complaint channel are named by the channel's own reference, so a
        channel that sends the same item twice records it once (surrounding spaces, which
        channels add or drop between retries, do not count)."""
        return derived_id("feedback", channel.strip(), external_ref.strip())

    @classmethod
    def give(cls, *, feedback_id: Any, employee_id: str, period: str,
             source: FeedbackSource, giver_ref: str, score: int,
             value: BerakhlakValue | None, comment: str | None, channel: str | None,
             external_ref: str | None, actor: str, at: datetime) -> FeedbackItem:
        return cls._create(cls.Given, id=feedback_id, **cls._given_fields(
            employee_id=employee_id, period=period, source=source, giver_ref=giver_ref,
            score=score, value=value, comment=comment, channel=channel,
            external_ref=external_ref, actor=actor, at=at))

    @classmethod
    def given(cls, *, feedback_id: Any, employee_id: str, period: str,
              source: FeedbackSource, giver_ref: str, score: int,
              value: BerakhlakValue | None, comment: str | None, channel: str | None,
              external_ref: str | None, actor: str, at: datetime) -> FeedbackItem.Given:
        """The event `give` records, under the same rules, without building the item
        itself: for bulk ingestion, where nothing reads a new item before it is saved."""
        fields = cls._given_fields(
            employee_id=employee_id, period=period, source=source, giver_ref=giver_ref,
            score=score, value=value, comment=comment, channel=channel,
            external_ref=external_ref, actor=actor, at=at)
        return cls.Given(originator_topic=get_topic(cls), originator_id=feedback_id,
                         originator_version=cls.INITIAL_VERSION,
                         timestamp=cls.Given.create_timestamp(), **fields)

    @staticmethod
    def _given_fields(*, employee_id: str, period: str, source: FeedbackSource,
                      giver_ref: str, score: int, value: BerakhlakValue | None,
                      comment: str | None, channel: str | None, external_ref: str | None,
                      actor: str, at: datetime) -> dict[str, Any]:
        try:
            source = FeedbackSource(source)
            value = BerakhlakValue(value) if value is not None else None
        except ValueError as error:
            raise InvalidValue(str(error)) from None
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidValue("a feedback score is a whole number from 1 to 5")
        giver_ref = require_text(giver_ref, "giver", 200)
        if actor == employee_id or (source is not FeedbackSource.CITIZEN
                                    and giver_ref == employee_id):
            raise SelfRatingRefused("nobody gives feedback on themselves")
        channel = (channel or "").strip() or None
        external_ref = (external_ref or "").strip() or None
        if source is FeedbackSource.CITIZEN and not channel:
            raise InvalidValue("citizen feedback must name the channel it came through")
        text = (comment or "").strip() or None
        if text is not None and len(text) > 4000:
            raise InvalidValue("a comment must be at most 4000 characters")
        return dict(actor=actor, at=require_aware(at), employee_id=employee_id,
                    period=require_text(period, "period", 10), source=str(source),
                    giver_ref=giver_ref, score=score,
                    value=None if value is None else str(value), comment=text,
                    channel=channel, external_ref=external_ref)

    def __init__(self, actor: str, at: datetime, employee_id: str, period: str, source: str,
                 giver_ref: str, score: int, value: str | None, comment: str | None,
                 channel: str | None, external_ref: str | None) -> None:
        self.employee_id = employee_id
        self.period = period
        self.source = FeedbackSource(source)
        self.giver_ref = giver_ref
        self.score = score
        self.value = value
        self.comment = comment
        self.channel = channel
