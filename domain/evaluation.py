"""The evaluation of one employee's SKP for one period.

Planning (RHK items and targets), realisations with evidence, item ratings (computed from
capaian under the pinned rubric, overridable only with a reason), the seven BerAKHLAK
ratings, and the delivered result. After delivery the result changes only by a
superseding `ResultChanged` (appeal decision, calibration, or correction after reopening),
which names the event it supersedes; nothing earlier is altered.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import (
    LedgerAggregate,
    derived_id,
    require_aware,
    require_reason,
    require_text,
)
from domain.errors import (
    AppealAlreadyFiled,
    AppealWindowStillOpen,
    EvaluationAlreadyDelivered,
    EvaluationIncomplete,
    EvaluationNotDelivered,
    InvalidValue,
    NotRaterInForce,
    RealisationMissing,
    ReasonRequired,
    SelfRatingRefused,
    TargetsAlreadyFixed,
    TargetsNotFixed,
    UnknownItem,
)
from domain.scoring import (
    FeedbackSummary,
    RubricPolicy,
    capaian,
    hasil_kerja,
    perilaku_kerja,
    predikat,
    rate_capaian,
    round_capaian,
    suggest_perilaku,
)
from domain.values import Aspect, BerakhlakValue, ChangeSource, Direction, ItemKind, Rating

MAX_ITEMS = 50


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise InvalidValue(f"{what} must be a decimal number") from None
    if not number.is_finite() or number < 0:
        raise InvalidValue(f"{what} must be a finite number, zero or more")
    return number


class Evaluation(LedgerAggregate):
    TOPIC = "kinerja.evaluation"

    class Created(LedgerAggregate.Event, Aggregate.Created):
        """Required by the library; never recorded (evaluations begin with `Started`)."""

        TOPIC = "kinerja.evaluation.created.v0"

    class Started(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "kinerja.evaluation.started.v1"

        actor: str
        at: datetime
        employee_id: str
        unit: str
        cycle_id: Any
        period: str
        starts_on: date
        ends_on: date
        rubric_id: Any
        rubric_version: int

    @staticmethod
    def id_for(employee_id: str, period: str) -> Any:
        return derived_id("evaluation", employee_id, period)

    @classmethod
    def start(cls, *, employee_id: str, unit: str, cycle_id: Any, period: str,
              starts_on: date, ends_on: date, rubric_id: Any, rubric_version: int,
              actor: str, at: datetime) -> Evaluation:
        """Open the SKP of one employee for one period under the rubric version in force
        on the period's first day, which is pinned for good."""
        return cls._create(cls.Started, id=cls.id_for(employee_id, period), actor=actor,
                           at=require_aware(at), employee_id=employee_id, unit=unit,
                           cycle_id=cycle_id, period=period, starts_on=starts_on,
                           ends_on=ends_on, rubric_id=rubric_id,
                           rubric_version=rubric_version)

    def __init__(self, actor: str, at: datetime, employee_id: str, unit: str, cycle_id: Any,
                 period: str, starts_on: date, ends_on: date, rubric_id: Any,
                 rubric_version: int) -> None:
        self.employee_id = employee_id
        self.unit = unit
        self.cycle_id = cycle_id
        self.period = period
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.rubric_id = rubric_id
        self.rubric_version = rubric_version
        self.items: dict[str, dict[str, Any]] = {}
        self.targets_fixed = False
        self.perilaku: dict[str, str] = {}
        self.result: dict[str, str] | None = None
        self.result_version: int | None = None
        self.delivered_on: date | None = None
        self.delivered_by: str | None = None
        self.appeal_due: date | None = None
        self.appeal_lapsed = False

    @property
    def status(self) -> str:
        if self.delivered_on is not None:
            return "delivered"
        return "in_progress" if self.targets_fixed else "planning"

    # --- planning --------------------------------------------------------------------

    def plan_item(self, *, item_id: str, kind: ItemKind, aspect: Aspect, indicator: str,
                  target: Decimal, direction: Direction, unit_of_measure: str,
                  supports: str | None, actor: str, at: datetime) -> None:
        """Add an RHK row. Targets are fixed before any realisation is rated."""
        if self.targets_fixed:
            raise TargetsAlreadyFixed("targets are fixed; no RHK item can be added")
        item_id = require_text(item_id, "item id", 50)
        if item_id in self.items:
            raise InvalidValue(f"item {item_id} already exists")
        if len(self.items) >= MAX_ITEMS:
            raise InvalidValue(f"an SKP holds at most {MAX_ITEMS} items")
        try:
            kind, aspect, direction = ItemKind(kind), Aspect(aspect), Direction(direction)
        except ValueError as error:
            raise InvalidValue(str(error)) from None
        target = _decimal(target, "target")
        if direction is Direction.HIGHER_IS_BETTER and target == 0:
            raise InvalidValue("a higher-is-better target must be positive")
        self._item_planned(actor=actor, at=require_aware(at), item_id=item_id,
                           kind=str(kind), aspect=str(aspect),
                           indicator=require_text(indicator, "indicator", 300),
                           target=target, direction=str(direction),
                           unit_of_measure=(unit_of_measure or "").strip()[:50],
                           supports=(supports or None))

    def fix_targets(self, actor: str, at: datetime) -> None:
        if self.targets_fixed:
            raise TargetsAlreadyFixed("targets are already fixed")
        if not self.items:
            raise EvaluationIncomplete("an SKP needs at least one RHK item")
        if not any(i["kind"] == ItemKind.UTAMA for i in self.items.values()):
            raise EvaluationIncomplete("an SKP needs at least one utama item")
        self._targets_fixed(actor=actor, at=require_aware(at))

    # --- execution and rating --------------------------------------------------------

    def record_realisation(self, *, item_id: str, value: Decimal, evidence: list[str],
                           note: str | None, actor: str, at: datetime) -> None:
        """Record what was achieved, with references to the evidence (bukti dukung).
        A later realisation of the same item supersedes the earlier one."""
        self._require_not_delivered()
        if not self.targets_fixed:
            raise TargetsNotFixed("targets must be fixed before realisations are recorded")
        item = self._item(item_id)
        refs = [require_text(ref, "evidence reference", 500) for ref in evidence]
        if len(refs) > 20:
            raise InvalidValue("at most 20 evidence references per realisation")
        self._realisation_recorded(actor=actor, at=require_aware(at), item_id=item_id,
                                   value=_decimal(value, "realisation"), evidence=refs,
                                   note=(note or "").strip()[:2000] or None,
                                   supersedes=item.get("realisation_version"))

    def rate_item(self, *, item_id: str, override: Rating | None, reason: str | None,
                  rater_in_force: str | None, policy: RubricPolicy, actor: str,
                  at: datetime) -> None:
        """Rate one item from its capaian under the pinned rubric. The rater may set a
        different rating only with a written reason, which is recorded with both values."""
        self._require_rater(actor, rater_in_force)
        self._require_not_delivered()
        if not self.targets_fixed:
            raise TargetsNotFixed("targets must be fixed before items are rated")
        item = self._item(item_id)
        if item.get("realisation") is None:
            raise RealisationMissing(f"item {item_id} has no realisation to rate")
        exact = capaian(Decimal(item["target"]), Decimal(item["realisation"]),
                        Direction(item["direction"]))
        computed = rate_capaian(exact, policy)
        final = computed
        override_reason = None
        if override is not None:
            try:
                final = Rating(override)
            except ValueError as error:
                raise InvalidValue(str(error)) from None
            if final is not computed:
                override_reason = require_reason(reason, "overriding a computed rating")
        rounded = round_capaian(exact)
        self._item_rated(actor=actor, at=require_aware(at), item_id=item_id,
                         capaian=None if rounded is None else str(rounded),
                         computed_rating=str(computed), rating=str(final),
                         override_reason=override_reason,
                         supersedes=item.get("rating_version"))

    def rate_perilaku(self, *, value: BerakhlakValue, rating: Rating, note: str | None,
                      rater_in_force: str | None, actor: str, at: datetime) -> None:
        self._require_rater(actor, rater_in_force)
        self._require_not_delivered()
        try:
            value, rating = BerakhlakValue(value), Rating(rating)
        except ValueError as error:
            raise InvalidValue(str(error)) from None
        self._perilaku_rated(actor=actor, at=require_aware(at), value=str(value),
                             rating=str(rating), note=(note or "").strip()[:2000] or None)

    def deliver(self, *, policy: RubricPolicy, feedback: FeedbackSummary,
                departure_reason: str | None, rater_in_force: str | None, actor: str,
                at: datetime) -> None:
        """Derive HK, PK and predikat under the pinned rubric and deliver the result to
        the employee; the appeal window runs from the day of delivery."""
        self._require_rater(actor, rater_in_force)
        self._require_not_delivered()
        unrated = [i for i, item in self.items.items() if item.get("rating") is None]
        if not self.targets_fixed or not self.items or unrated:
            raise EvaluationIncomplete("every RHK item must be rated before delivery",
                                       unrated=unrated)
        values = {BerakhlakValue(v): Rating(r) for v, r in self.perilaku.items()}
        hk = hasil_kerja([(ItemKind(i["kind"]), Rating(i["rating"]))
                          for i in self.items.values()], policy)
        if len(values) < len(BerakhlakValue):
            raise EvaluationIncomplete("all seven BerAKHLAK values must be rated",
                                       missing=[str(v) for v in BerakhlakValue
                                                if v not in values])
        pk = perilaku_kerja(values, policy)
        suggestion = suggest_perilaku(values, feedback, policy)
        reason = None
        if pk is not suggestion:
            reason = require_reason(
                departure_reason,
                f"a perilaku kerja of {pk} departing from the weighted suggestion "
                f"{suggestion}")
        delivered_on = require_aware(at).date()
        self._result_delivered(
            actor=actor, at=at, hasil_kerja=str(hk), perilaku_kerja=str(pk),
            predikat=str(predikat(hk, pk, policy)), rubric_version=self.rubric_version,
            feedback=feedback.to_dict(), perilaku_suggestion=str(suggestion),
            departure_reason=reason, delivered_on=delivered_on,
            appeal_due=delivered_on + timedelta(days=policy.appeal_window_days))

    # --- after delivery --------------------------------------------------------------

    def change_result(self, *, source: ChangeSource, reference: str, hk: Rating,
                      pk: Rating, reason: str, policy: RubricPolicy, actor: str,
                      at: datetime) -> None:
        """Supersede the delivered result (appeal decision, calibration or correction).
        Predikat always follows the pinned matrix; the earlier result stays in the log."""
        if self.result is None or self.result_version is None:
            raise EvaluationNotDelivered("only a delivered result can be changed")
        try:
            hk, pk, source = Rating(hk), Rating(pk), ChangeSource(source)
        except ValueError as error:
            raise InvalidValue(str(error)) from None
        self._result_changed(
            actor=actor, at=require_aware(at), source=str(source),
            reference=require_text(reference, "reference", 200),
            previous=dict(self.result), hasil_kerja=str(hk), perilaku_kerja=str(pk),
            predikat=str(predikat(hk, pk, policy)),
            reason=require_reason(reason, f"a {source} of a delivered result"),
            supersedes=self.result_version)

    def record_appeal_lapsed(self, *, today: date, appeal_filed: bool, actor: str,
                             at: datetime) -> None:
        """Record that the appeal window passed with no appeal filed: the result stands."""
        if self.appeal_due is None:
            raise EvaluationNotDelivered("there is no delivered result whose window can lapse")
        if appeal_filed:
            raise AppealAlreadyFiled("an appeal was filed; the window did not lapse")
        if today <= self.appeal_due:
            raise AppealWindowStillOpen(f"the appeal window is open until {self.appeal_due}")
        if self.appeal_lapsed:
            raise InvalidValue("the appeal window was already recorded as lapsed")
        self._appeal_lapsed(actor=actor, at=require_aware(at), due=self.appeal_due)

    def appeal_window_open_on(self, day: date) -> bool:
        return self.appeal_due is not None and day <= self.appeal_due

    # --- guards ----------------------------------------------------------------------

    def _require_rater(self, actor: str, rater_in_force: str | None) -> None:
        if actor == self.employee_id:
            raise SelfRatingRefused("nobody rates themselves")
        if rater_in_force is None or actor != rater_in_force:
            raise NotRaterInForce(f"{actor} is not the rater in force for this evaluation",
                                  rater_in_force=rater_in_force)

    def _require_not_delivered(self) -> None:
        if self.delivered_on is not None:
            raise EvaluationAlreadyDelivered(
                "the result was delivered; it changes only by appeal, calibration or "
                "correction")

    def _item(self, item_id: str) -> dict[str, Any]:
        try:
            return self.items[item_id]
        except KeyError:
            raise UnknownItem(f"no RHK item {item_id!r} in this evaluation") from None

    # --- events ----------------------------------------------------------------------

    @event("ItemPlanned", topic="kinerja.evaluation.item-planned.v1")
    def _item_planned(self, actor: str, at: datetime, item_id: str, kind: str, aspect: str,
                      indicator: str, target: Decimal, direction: str,
                      unit_of_measure: str, supports: str | None) -> None:
        self.items[item_id] = {"kind": kind, "aspect": aspect, "indicator": indicator,
                               "target": target, "direction": direction,
                               "unit_of_measure": unit_of_measure, "supports": supports,
                               "realisation": None, "rating": None}

    @event("TargetsFixed", topic="kinerja.evaluation.targets-fixed.v1")
    def _targets_fixed(self, actor: str, at: datetime) -> None:
        self.targets_fixed = True

    @event("RealisationRecorded", topic="kinerja.evaluation.realisation-recorded.v1")
    def _realisation_recorded(self, actor: str, at: datetime, item_id: str, value: Decimal,
                              evidence: list[str], note: str | None,
                              supersedes: int | None) -> None:
        item = self.items[item_id]
        item["realisation"] = value
        item["evidence"] = list(evidence)
        item["realisation_version"] = _this_event_version(self)
        # A new realisation makes the old rating stale: it must be rated again.
        item["rating"] = None

    @event("ItemRated", topic="kinerja.evaluation.item-rated.v1")
    def _item_rated(self, actor: str, at: datetime, item_id: str, capaian: str | None,
                    computed_rating: str, rating: str, override_reason: str | None,
                    supersedes: int | None) -> None:
        item = self.items[item_id]
        item["capaian"] = capaian
        item["computed_rating"] = computed_rating
        item["rating"] = rating
        item["override_reason"] = override_reason
        item["rating_version"] = _this_event_version(self)

    @event("PerilakuRated", topic="kinerja.evaluation.perilaku-rated.v1")
    def _perilaku_rated(self, actor: str, at: datetime, value: str, rating: str,
                        note: str | None) -> None:
        self.perilaku[value] = rating

    @event("ResultDelivered", topic="kinerja.evaluation.result-delivered.v1")
    def _result_delivered(self, actor: str, at: datetime, hasil_kerja: str,
                          perilaku_kerja: str, predikat: str, rubric_version: int,
                          feedback: dict[str, Any], perilaku_suggestion: str,
                          departure_reason: str | None, delivered_on: date,
                          appeal_due: date) -> None:
        self.result = {"hasil_kerja": hasil_kerja, "perilaku_kerja": perilaku_kerja,
                       "predikat": predikat}
        self.result_version = _this_event_version(self)
        self.delivered_by = actor
        self.delivered_on = delivered_on
        self.appeal_due = appeal_due

    @event("ResultChanged", topic="kinerja.evaluation.result-changed.v1")
    def _result_changed(self, actor: str, at: datetime, source: str, reference: str,
                        previous: dict[str, str], hasil_kerja: str, perilaku_kerja: str,
                        predikat: str, reason: str, supersedes: int) -> None:
        self.result = {"hasil_kerja": hasil_kerja, "perilaku_kerja": perilaku_kerja,
                       "predikat": predikat}
        self.result_version = _this_event_version(self)

    @event("AppealLapsed", topic="kinerja.evaluation.appeal-lapsed.v1")
    def _appeal_lapsed(self, actor: str, at: datetime, due: date) -> None:
        self.appeal_lapsed = True


def _this_event_version(evaluation: Evaluation) -> int:
    # The library applies an event's body before it advances the aggregate's version,
    # so inside a body the event being applied is one past the current version.
    return evaluation.version + 1
