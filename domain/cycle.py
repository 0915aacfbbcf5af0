"""A performance cycle: one unit, one year, its periods, and its lock.

Once locked, no rating is accepted in any of its periods; corrections come only from an
appeal decision or an audited reopening by HR.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import (
    LedgerAggregate,
    derived_id,
    require_aware,
    require_member,
    require_reason,
    require_text,
)
from domain.errors import (
    CycleLocked,
    CycleNotLocked,
    DistributionBreach,
    InvalidValue,
    PeriodAlreadyOpen,
    PeriodNotOpen,
)
from domain.scoring import RubricPolicy, check_distribution
from domain.values import OrganisationalResult, Periodicity, Predikat

_MONTHLY = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTERLY = re.compile(r"^(\d{4})-Q([1-4])$")


def period_bounds(period: str, periodicity: Periodicity | str) -> tuple[date, date]:
    """First and last day of a period named `YYYY-MM` (monthly) or `YYYY-Qn` (quarterly)."""
    if require_member(Periodicity, periodicity, "periodicity") is Periodicity.MONTHLY:
        match = _MONTHLY.match(period)
        if not match:
            raise InvalidValue(f"a monthly period is written YYYY-MM, not {period!r}")
        year, month = int(match[1]), int(match[2])
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    match = _QUARTERLY.match(period)
    if not match:
        raise InvalidValue(f"a quarterly period is written YYYY-Qn, not {period!r}")
    year, quarter = int(match[1]), int(match[2])
    last_month = quarter * 3
    return (date(year, last_month - 2, 1),
            date(year, last_month, calendar.monthrange(year, last_month)[1]))


class PerformanceCycle(LedgerAggregate):
    TOPIC = "kinerja.cycle"

    class Created(LedgerAggregate.Event, Aggregate.Created):
        """Required by the library; never recorded (cycles begin with `Started`)."""

        TOPIC = "kinerja.cycle.created.v0"

    class Started(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "kinerja.cycle.started.v1"

        actor: str
        at: datetime
        unit: str
        year: int
        periodicity: str
        rubric_id: Any

    @staticmethod
    def id_for(unit: str, year: int) -> Any:
        return derived_id("cycle", unit, year)

    @classmethod
    def start(cls, *, unit: str, year: int, periodicity: Periodicity, rubric_id: Any,
              actor: str, at: datetime) -> PerformanceCycle:
        unit = require_text(unit, "unit", 100)
        if not 2000 <= year <= 2100:
            raise InvalidValue("year must be between 2000 and 2100")
        return cls._create(cls.Started, id=cls.id_for(unit, year), actor=actor,
                           at=require_aware(at), unit=unit, year=year,
                           periodicity=str(require_member(Periodicity, periodicity,
                                                          "periodicity")),
                           rubric_id=rubric_id)

    def __init__(self, actor: str, at: datetime, unit: str, year: int, periodicity: str,
                 rubric_id: Any) -> None:
        self.unit = unit
        self.year = year
        self.periodicity = Periodicity(periodicity)
        self.rubric_id = rubric_id
        self.periods: dict[str, str] = {}  # period -> "open" | "closed"
        self.enrolled: dict[str, list[str]] = {}  # period -> evaluation ids
        self.organisational_results: dict[str, str] = {}
        self.locked = False
        #: Reference of the reopening in force ("reopened:<version>"), while reopened.
        self.reopened: str | None = None
        self.appeal_panel: list[str] = []

    # --- decisions -------------------------------------------------------------------

    def open_period(self, period: str, actor: str, at: datetime) -> None:
        self._require_unlocked()
        starts_on, ends_on = period_bounds(period, self.periodicity)
        if starts_on.year != self.year:
            raise InvalidValue(f"period {period} is not in cycle year {self.year}")
        if period in self.periods:
            raise PeriodAlreadyOpen(f"period {period} was already opened")
        self._period_opened(actor=actor, at=require_aware(at), period=period,
                            starts_on=starts_on, ends_on=ends_on)

    def close_period(self, period: str, actor: str, at: datetime) -> None:
        self._require_unlocked()
        if self.periods.get(period) != "open":
            raise PeriodNotOpen(f"period {period} is not open")
        self._period_closed(actor=actor, at=require_aware(at), period=period)

    def enrol(self, period: str, evaluation_ids: list[str], actor: str, at: datetime) -> None:
        """Record that evaluations were started in an open period of this cycle."""
        self._require_unlocked()
        if self.periods.get(period) != "open":
            raise PeriodNotOpen(f"period {period} is not open for new evaluations")
        self._evaluations_enrolled(actor=actor, at=require_aware(at), period=period,
                                   evaluation_ids=list(evaluation_ids))

    def set_organisational_result(self, period: str, result: OrganisationalResult,
                                  actor: str, at: datetime) -> None:
        self._require_unlocked()
        if period not in self.periods:
            raise PeriodNotOpen(f"period {period} was never opened")
        self._organisational_result_set(actor=actor, at=require_aware(at), period=period,
                                        result=str(require_member(
                                            OrganisationalResult, result,
                                            "organisational result")))

    def name_appeal_panel(self, members: list[str], actor: str, at: datetime) -> None:
        cleaned = sorted({require_text(m, "panel member", 100) for m in members})
        if not cleaned:
            raise InvalidValue("an appeal panel needs at least one member")
        self._appeal_panel_named(actor=actor, at=require_aware(at), members=cleaned)

    def lock(self, *, predikat_counts: Mapping[str, Mapping[Predikat, int]],
             policy: RubricPolicy, justification: str | None, actor: str,
             at: datetime,
             period_policies: Mapping[str, RubricPolicy] | None = None) -> None:
        """Lock the cycle. Every period with an organisational result is checked against
        the distribution curve (of `period_policies[period]` when given, else `policy`);
        a breach needs a recorded justification."""
        self._require_unlocked()
        checks: dict[str, list[dict[str, Any]]] = {}
        breaches = []
        for period, result in sorted(self.organisational_results.items()):
            period_policy = (period_policies or {}).get(period, policy)
            period_checks = check_distribution(predikat_counts.get(period, {}),
                                               OrganisationalResult(result), period_policy)
            checks[period] = [c.to_dict() for c in period_checks]
            breaches += [f"{period}: {'+'.join(c.rule.predikat)} {c.rule.bound} "
                         f"{c.rule.value} (have {c.count} of {c.total})"
                         for c in period_checks if not c.holds]
        text = (justification or "").strip() or None
        if breaches and not text:
            raise DistributionBreach("the distribution curve is breached; a justification "
                                     "is required to lock: " + "; ".join(breaches),
                                     breaches=breaches)
        self._locked(actor=actor, at=require_aware(at), distribution=checks,
                     breaches=breaches, justification=text)

    def reopen(self, *, reason: str, authority: str, actor: str, at: datetime) -> None:
        """Reopen a locked cycle for correction; `authority` names the decree or letter."""
        if not self.locked:
            raise CycleNotLocked(f"cycle {self.unit} {self.year} is not locked")
        self._reopened(actor=actor, at=require_aware(at),
                       reason=require_reason(reason, "reopening a locked cycle"),
                       authority=require_text(authority, "authority", 300))

    def require_period_open_for_rating(self, period: str) -> None:
        self._require_unlocked()
        if period not in self.periods:
            raise PeriodNotOpen(f"period {period} was never opened")

    def _require_unlocked(self) -> None:
        if self.locked:
            raise CycleLocked(f"cycle {self.unit} {self.year} is locked")

    # --- events ----------------------------------------------------------------------

    @event("PeriodOpened", topic="kinerja.cycle.period-opened.v1")
    def _period_opened(self, actor: str, at: datetime, period: str, starts_on: date,
                       ends_on: date) -> None:
        self.periods[period] = "open"
        self.enrolled.setdefault(period, [])

    @event("PeriodClosed", topic="kinerja.cycle.period-closed.v1")
    def _period_closed(self, actor: str, at: datetime, period: str) -> None:
        self.periods[period] = "closed"

    @event("EvaluationsEnrolled", topic="kinerja.cycle.evaluations-enrolled.v1")
    def _evaluations_enrolled(self, actor: str, at: datetime, period: str,
                              evaluation_ids: list[str]) -> None:
        self.enrolled.setdefault(period, []).extend(evaluation_ids)

    @event("OrganisationalResultSet", topic="kinerja.cycle.organisational-result-set.v1")
    def _organisational_result_set(self, actor: str, at: datetime, period: str,
                                   result: str) -> None:
        self.organisational_results[period] = result

    @event("AppealPanelNamed", topic="kinerja.cycle.appeal-panel-named.v1")
    def _appeal_panel_named(self, actor: str, at: datetime, members: list[str]) -> None:
        self.appeal_panel = list(members)

    @event("Locked", topic="kinerja.cycle.locked.v1")
    def _locked(self, actor: str, at: datetime, distribution: dict[str, Any],
                breaches: list[str], justification: str | None) -> None:
        self.locked = True
        self.reopened = None

    @event("Reopened", topic="kinerja.cycle.reopened.v1")
    def _reopened(self, actor: str, at: datetime, reason: str, authority: str) -> None:
        self.locked = False
        # Named by this event's version, which corrections cite as their authority.
        self.reopened = f"{self.id}/{self.version + 1}"
