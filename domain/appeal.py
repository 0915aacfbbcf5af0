"""An appeal (keberatan) against a delivered result, PP 30/2019 art. 59.

Filed by the employee, with grounds, within the rubric's window after delivery; decided
once, finally, by the rater's superior or the cycle's panel. A change is recorded on the
evaluation as a superseding `ResultChanged` in the same transaction as the decision.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import LedgerAggregate, derived_id, require_aware, require_reason, require_text
from domain.errors import (
    AppealNotOpen,
    AppealWindowClosed,
    EvaluationNotDelivered,
    InvalidValue,
    NotAppealReviewer,
    NotAuthorised,
)
from domain.evaluation import Evaluation
from domain.scoring import RubricPolicy, predikat
from domain.values import Rating

OUTCOMES = ("kept", "changed")
PARTIES = ("rater", "employee")


class Appeal(LedgerAggregate):
    TOPIC = "kinerja.appeal"

    class Created(LedgerAggregate.Event, Aggregate.Created):
        """Required by the library; never recorded (appeals begin with `Filed`)."""

        TOPIC = "kinerja.appeal.created.v0"

    class Filed(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "kinerja.appeal.filed.v1"
        PERSONAL_FIELDS = ("grounds",)

        actor: str
        at: datetime
        evaluation_id: Any
        employee_id: str
        rater_id: str
        grounds: str
        reviewer_kind: str
        reviewers: list[str]
        filed_on: date
        window_due: date

    @staticmethod
    def id_for(evaluation_id: Any) -> Any:
        # One appeal per evaluation: a second filing names the same stream and conflicts.
        return derived_id("appeal", evaluation_id)

    @classmethod
    def file(cls, *, evaluation: Evaluation, rater_id: str, grounds: str,
             panel: list[str], superior_id: str | None, actor: str,
             at: datetime) -> Appeal:
        """Routed to the cycle's panel when one is named, else to the rater's superior."""
        if evaluation.delivered_on is None or evaluation.appeal_due is None:
            raise EvaluationNotDelivered("there is no delivered result to appeal")
        if actor != evaluation.employee_id:
            raise NotAuthorised("only the evaluated employee may file an appeal")
        filed_on = require_aware(at).date()
        if not evaluation.appeal_window_open_on(filed_on):
            raise AppealWindowClosed(
                f"the appeal window closed on {evaluation.appeal_due}; filed on {filed_on}",
                due_by=str(evaluation.appeal_due))
        if panel:
            kind, reviewers = "panel", sorted(panel)
        elif superior_id:
            kind, reviewers = "superior", [superior_id]
        else:
            raise InvalidValue("no rater's superior or appeal panel is named to decide")
        if actor in reviewers or rater_id in reviewers:
            raise InvalidValue("the employee and the rater cannot decide this appeal")
        return cls._create(cls.Filed, id=cls.id_for(evaluation.id), actor=actor, at=at,
                           evaluation_id=evaluation.id, employee_id=evaluation.employee_id,
                           rater_id=rater_id,
                           grounds=require_reason(grounds, "an appeal"),
                           reviewer_kind=kind, reviewers=reviewers, filed_on=filed_on,
                           window_due=evaluation.appeal_due)

    def __init__(self, actor: str, at: datetime, evaluation_id: Any, employee_id: str,
                 rater_id: str, grounds: str, reviewer_kind: str, reviewers: list[str],
                 filed_on: date, window_due: date) -> None:
        self.evaluation_id = evaluation_id
        self.employee_id = employee_id
        self.rater_id = rater_id
        self.reviewer_kind = reviewer_kind
        self.reviewers = list(reviewers)
        self.filed_on = filed_on
        self.status = "filed"
        self.open_requests: list[str] = []
        self.outcome: str | None = None

    def request_explanation(self, *, party: str, question: str, actor: str,
                            at: datetime) -> None:
        self._require_open()
        self._require_reviewer(actor)
        if party not in PARTIES:
            raise InvalidValue(f"an explanation is asked of {' or '.join(PARTIES)}")
        self._explanation_requested(actor=actor, at=require_aware(at), party=party,
                                    question=require_text(question, "question", 4000))

    def give_explanation(self, *, text: str, actor: str, at: datetime) -> None:
        self._require_open()
        party = {self.rater_id: "rater", self.employee_id: "employee"}.get(actor)
        if party is None:
            raise NotAuthorised("only the rater or the employee explain")
        if party not in self.open_requests:
            raise InvalidValue(f"no explanation was requested from the {party}")
        self._explanation_given(actor=actor, at=require_aware(at), party=party,
                                text=require_text(text, "explanation", 8000))

    def decide(self, *, outcome: str, hk: Rating | None, pk: Rating | None, reasons: str,
               policy: RubricPolicy, current: dict[str, str], actor: str,
               at: datetime) -> None:
        """Final: keep the result, or change it to a new HK/PK (predikat from the pinned
        matrix). `current` is the evaluation's result being decided on."""
        self._require_open()
        self._require_reviewer(actor)
        if outcome not in OUTCOMES:
            raise InvalidValue("an appeal is decided 'kept' or 'changed'")
        if outcome == "kept":
            hk, pk = Rating(current["hasil_kerja"]), Rating(current["perilaku_kerja"])
        else:
            if hk is None or pk is None:
                raise InvalidValue("a changed result names the new hasil and perilaku kerja")
            try:
                hk, pk = Rating(hk), Rating(pk)
            except ValueError as error:
                raise InvalidValue(str(error)) from None
            if (str(hk), str(pk)) == (current["hasil_kerja"], current["perilaku_kerja"]):
                raise InvalidValue("a changed result must differ from the current one")
        self._decided(actor=actor, at=require_aware(at), outcome=outcome,
                      hasil_kerja=str(hk), perilaku_kerja=str(pk),
                      predikat=str(predikat(hk, pk, policy)),
                      reasons=require_reason(reasons, "an appeal decision"))

    def withdraw(self, *, reason: str, actor: str, at: datetime) -> None:
        self._require_open()
        if actor != self.employee_id:
            raise NotAuthorised("only the employee who filed may withdraw an appeal")
        self._withdrawn(actor=actor, at=require_aware(at),
                        reason=require_reason(reason, "withdrawing an appeal"))

    def _require_open(self) -> None:
        if self.status not in ("filed", "under_review"):
            raise AppealNotOpen(f"the appeal is {self.status}")

    def _require_reviewer(self, actor: str) -> None:
        if actor not in self.reviewers:
            raise NotAppealReviewer(f"{actor} is not this appeal's "
                                    f"{'panel' if self.reviewer_kind == 'panel' else 'reviewer'}")

    @event("ExplanationRequested", topic="kinerja.appeal.explanation-requested.v1")
    def _explanation_requested(self, actor: str, at: datetime, party: str,
                               question: str) -> None:
        self.status = "under_review"
        self.open_requests.append(party)

    @event("ExplanationGiven", topic="kinerja.appeal.explanation-given.v1")
    def _explanation_given(self, actor: str, at: datetime, party: str, text: str) -> None:
        self.open_requests.remove(party)

    @event("Decided", topic="kinerja.appeal.decided.v1")
    def _decided(self, actor: str, at: datetime, outcome: str, hasil_kerja: str,
                 perilaku_kerja: str, predikat: str, reasons: str) -> None:
        self.status = "decided"
        self.outcome = outcome

    @event("Withdrawn", topic="kinerja.appeal.withdrawn.v1")
    def _withdrawn(self, actor: str, at: datetime, reason: str) -> None:
        self.status = "withdrawn"
