"""The application service: one method per command of the appraisal ledger.

Each command loads what it needs, lets the aggregates decide (a refusal raises a typed
domain error and records nothing), then saves every changed aggregate in one transaction.
Who may call which command by role is the HTTP layer's concern; the rules of the domain
(rater in force, no rating after lock, appeal window, ...) are enforced here and below.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    JSONTranscoder,
    Notification,
    Recording,
    Transcoder,
    Transcoding,
)

from eventsourcing.popo import POPOApplicationRecorder

from api.async_commit import AsyncGroupCommitter
from api.group_commit import GroupCommitter
from api.transcoder import LedgerTranscoder
from api.recorders import GuardedPOPOApplicationRecorder

from domain.appeal import Appeal
from domain.base import LedgerAggregate, recording_clock
from domain.cycle import PerformanceCycle, period_bounds
from domain.employee import Employee
from domain.errors import (
    AlreadyExists,
    AppealAlreadyFiled,
    ConcurrentChange,
    CycleLocked,
    CycleNotLocked,
    InvalidValue,
    NoRubricInForce,
    NotFound,
)
from domain.evaluation import Evaluation
from domain.feedback import FeedbackItem
from domain.rubric import Rubric
from domain.scoring import FeedbackSummary, RubricPolicy
from domain.values import (
    Aspect,
    BerakhlakValue,
    ChangeSource,
    Direction,
    FeedbackSource,
    ItemKind,
    OrganisationalResult,
    Periodicity,
    Predikat,
    Rating,
)

A = TypeVar("A")

#: Feedback about one employee in one period, as (source, score) pairs.
FeedbackLookup = Callable[[str, str], Sequence[tuple[FeedbackSource, int]]]

#: Fields every item of a feedback batch must name.
_FEEDBACK_FIELDS = ("employee_id", "period", "source", "giver_ref", "score")

#: A feedback batch of at least this many items is decided, mapped and sent in chunks of
#: STREAM_CHUNK, all in one transaction of its own: the database inserts one chunk while
#: the next is decided, encoded and encrypted. (It is a batch already: group commit would
#: add nothing.)
STREAM_FROM_ITEMS = 500
STREAM_CHUNK = 250

#: How often a command that lost a version race is decided again before answering 409.
CONFLICT_RETRIES = 3


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class WouldBlock(Exception):  # noqa: N818 - it names the situation, not a failure
    """Raised on a path that promised not to block (see `give_feedback_async`) where it
    would have to wait for the database."""


_io_forbidden: ContextVar[bool] = ContextVar("kinerja_io_forbidden", default=False)


def require_io_allowed() -> None:
    """Call before any database access that a cache may spare."""
    if _io_forbidden.get():
        raise WouldBlock


class Guarded(list):  # noqa: FURB189 - a list of aggregates that carries its read guards
    """Aggregates to save, plus (id, version) of aggregates the decision read but does not
    change, which must still be at those versions when the save commits."""

    def __init__(self, aggregates: Iterable[Any], guards: Iterable[tuple[UUID, int]]):
        super().__init__(aggregates)
        self.guards = list(guards)


class Streamed:
    """Aggregates to save in one transaction, made chunk by chunk while the chunks before
    are being written (only where the recorder can stream; see STREAM_FROM_ITEMS)."""

    def __init__(self, chunks: Iterable[Sequence[Any]]) -> None:
        self.chunks = chunks


@dataclass(frozen=True)
class Written:
    """What a command recorded: the log position of its last event, the ids it made, and
    how many events it recorded (none when everything was recorded before)."""

    position: int | None
    ids: dict[str, Any] = field(default_factory=dict)
    events: int = 0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _no_feedback(employee_id: str, period: str) -> Sequence[tuple[FeedbackSource, int]]:
    return ()


def _uuid(value: Any, what: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise InvalidValue(f"{what} must be a UUID, got {value!r}") from None


def _recordings(domain_events: Sequence[Any], stored: Sequence[Any],
                ids: Sequence[int]) -> list[Recording[UUID]]:
    """What the library's `save` returns, for events we wrote ourselves."""
    return [
        Recording(event, Notification(
            originator_id=record.originator_id,
            originator_version=record.originator_version,
            topic=record.topic, state=record.state, id=notification_id))
        for event, record, notification_id in zip(domain_events, stored, ids, strict=True)
    ]


class AppraisalLedger(Application[UUID]):
    """The ledger. Tables are named after `name`: `kinerja_events`."""

    name = "Kinerja"

    def __init__(self, env: dict[str, str] | None = None, *,
                 clock: Callable[[], datetime] = utc_now,
                 feedback_lookup: FeedbackLookup = _no_feedback,
                 group_commit: bool = True) -> None:
        super().__init__(env)
        self.clock = clock
        self.feedback_lookup = feedback_lookup
        self.committer = GroupCommitter(self.recorder) if group_commit else None
        self._loop_committers: weakref.WeakKeyDictionary[Any, AsyncGroupCommitter] = (
            weakref.WeakKeyDictionary())
        self._last_loop_committer: tuple[Any, AsyncGroupCommitter] | None = None
        self._known_employees: set[str] = set()
        self._policies: dict[tuple[str, int], RubricPolicy] = {}

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Map events to stored records in the calling thread, then let the group
        committer write them together with other callers' records."""
        if self.committer is None or processing_event.tracking is not None:
            return super()._record(processing_event)
        domain_events = processing_event.events
        stored = [self.mapper.to_stored_event(e) for e in domain_events]
        ids = self.committer.commit(stored, processing_event.saved_kwargs.get("guards", ()))
        return _recordings(domain_events, stored, ids)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's `save`, collecting our own aggregates' events directly: the
        library tells aggregates from events by `isinstance` against typing Protocols,
        which on Python 3.11 walks every attribute of the class on every call, and cost
        a fifth of a command's Python time. Anything else goes the library's way."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, LedgerAggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            elif isinstance(obj, LedgerAggregate.Event):
                processing_event.events.append(obj)
            elif obj is not None:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's deprecated hook, kept
        return recordings

    def close(self) -> None:
        if self.committer is not None:
            self.committer.close()
        # Event loops that wrote and ended without `close_async` left their connections.
        abandon = getattr(self.recorder, "abandon_async_connections", None)
        if abandon is not None:
            abandon()
        self._loop_committers.clear()
        self._last_loop_committer = None
        super().close()

    def construct_recorder(self) -> ApplicationRecorder:
        recorder = super().construct_recorder()
        # The library's memory factory takes no recorder topic; guards need ours.
        if type(recorder) is POPOApplicationRecorder:
            return GuardedPOPOApplicationRecorder()
        return recorder

    def construct_transcoder(self) -> Transcoder:
        transcoder = super().construct_transcoder()
        if type(transcoder) is not JSONTranscoder:
            return transcoder
        faster = LedgerTranscoder()
        self.register_transcodings(faster)
        return faster

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # --- plumbing --------------------------------------------------------------------

    def _get(self, cls: type[A], aggregate_id: Any, what: str) -> A:
        try:
            aggregate = self.repository.get(_uuid(aggregate_id, f"{what} id"))
        except AggregateNotFoundError:
            raise NotFound(f"no {what} {aggregate_id}") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"no {what} {aggregate_id}")
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def _write(self, decide: Callable[[datetime], Sequence[Any]], *,
               retry: bool = True, ids: dict[str, Any] | None = None,
               creates: bool = False) -> Written:
        """Decide on fresh state, then save every aggregate `decide` returns in one
        transaction. On a lost version race, decide again (commands whose decision does
        not depend on what changed meanwhile) or answer ConcurrentChange."""
        attempts = CONFLICT_RETRIES if retry else 1
        for attempt in range(attempts):
            at = self.clock()
            # Every event of one command is recorded at the one instant it was decided.
            with recording_clock(lambda: at):
                decided = decide(at)
                try:
                    if isinstance(decided, Streamed):
                        recordings = self._save_streamed(decided)
                    else:
                        guards = decided.guards if isinstance(decided, Guarded) else ()
                        aggregates = [a for a in decided if a is not None]
                        recordings = (self.save(*aggregates, guards=list(guards)) if guards
                                      else self.save(*aggregates))
                except IntegrityError:
                    if creates:
                        raise AlreadyExists("that record already exists") from None
                    if attempt + 1 == attempts:
                        raise ConcurrentChange(
                            "another change to the same record was saved first; "
                            "read it again and retry") from None
                    continue
            position = max((r.notification.id for r in recordings), default=None)
            return Written(position=position, ids=ids or {}, events=len(recordings))
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def streams_writes(self) -> bool:
        return self.committer is not None and hasattr(self.recorder, "insert_event_stream")

    def _save_streamed(self, decided: Streamed) -> list[Recording[UUID]]:
        domain_events: list[Any] = []

        def stored_chunks() -> Iterable[list[Any]]:
            for chunk in decided.chunks:
                events = [e for a in chunk if a is not None
                          for e in ((a,) if isinstance(a, LedgerAggregate.Event)
                                    else a.collect_events())]
                domain_events.extend(events)
                yield [self.mapper.to_stored_event(e) for e in events]

        stored, ids = self.recorder.insert_event_stream(stored_chunks())
        recordings = _recordings(domain_events, stored, ids)
        self._notify(recordings)
        return recordings

    def _rater_in_force(self, evaluation: Evaluation, at: datetime) -> str | None:
        employee = self._get(Employee, evaluation.employee_id, "employee")
        rater_id = employee.rater_on(at.date())
        if rater_id is None:
            return None
        # A rater whose own employment has ended is nobody's superior any more, until HR
        # assigns a successor.
        rater = self._get(Employee, rater_id, "rater")
        return rater_id if rater.is_employed_on(at.date()) else None

    def _policy(self, rubric_id: Any, version: int) -> RubricPolicy:
        # A published rubric version never changes, so it is read from the log once.
        key = (str(rubric_id), version)
        policy = self._policies.get(key)
        if policy is None:
            policy = self._get(Rubric, rubric_id, "rubric").policy(version)
            self._policies[key] = policy
        return policy

    def _cycle_of(self, evaluation: Evaluation) -> PerformanceCycle:
        return self._get(PerformanceCycle, evaluation.cycle_id, "cycle")

    # --- employees -------------------------------------------------------------------

    def register_employee(self, *, nip: str, name: str, unit: str, position: str,
                          actor: str, employee_id: Any = None) -> Written:
        new_id = _uuid(employee_id, "employee id") if employee_id else uuid.uuid4()

        def decide(at: datetime) -> list[Any]:
            return [Employee.register(employee_id=new_id, nip=nip, name=name, unit=unit,
                                      position=position, actor=actor, at=at)]
        return self._write(decide, creates=True, ids={"employee_id": str(new_id)})

    def assign_rater(self, employee_id: Any, *, rater_id: str, effective_from: date,
                     actor: str) -> Written:
        def decide(at: datetime) -> list[Any]:
            self._get(Employee, rater_id, "rater")
            employee = self._get(Employee, employee_id, "employee")
            employee.assign_rater(str(rater_id), effective_from, actor, at)
            return [employee]
        return self._write(decide)

    def assign_reviewer(self, employee_id: Any, *, reviewer_id: str, effective_from: date,
                        actor: str) -> Written:
        def decide(at: datetime) -> list[Any]:
            self._get(Employee, reviewer_id, "reviewer")
            employee = self._get(Employee, employee_id, "employee")
            employee.assign_reviewer(str(reviewer_id), effective_from, actor, at)
            return [employee]
        return self._write(decide)

    def transfer_employee(self, employee_id: Any, *, unit: str, position: str,
                          effective_from: date, actor: str) -> Written:
        def decide(at: datetime) -> list[Any]:
            employee = self._get(Employee, employee_id, "employee")
            employee.transfer(unit, position, effective_from, actor, at)
            return [employee]
        return self._write(decide)

    def end_employment(self, employee_id: Any, *, effective_on: date, reason: str,
                       actor: str) -> Written:
        def decide(at: datetime) -> list[Any]:
            employee = self._get(Employee, employee_id, "employee")
            employee.end_employment(effective_on, reason, actor, at)
            return [employee]
        return self._write(decide)

    def get_employee(self, employee_id: Any) -> Employee:
        return self._get(Employee, employee_id, "employee")

    # --- rubrics ---------------------------------------------------------------------

    def establish_rubric(self, *, code: str, title: str, actor: str) -> Written:
        def decide(at: datetime) -> list[Any]:
            return [Rubric.establish(code=code, title=title, actor=actor, at=at)]
        return self._write(decide, creates=True,
                           ids={"rubric_id": str(Rubric.id_for(code.strip()))})

    def publish_rubric_version(self, rubric_id: Any, *, version: int, effective_from: date,
                               policy: dict[str, Any], indicators: list[dict[str, Any]],
                               summary: str, actor: str) -> Written:
        def decide(at: datetime) -> list[Any]:
            rubric = self._get(Rubric, rubric_id, "rubric")
            rubric.publish(version=version, effective_from=effective_from, policy=policy,
                           indicators=indicators, summary=summary, actor=actor, at=at)
            return [rubric]
        # Decided again after a lost race: the caller named the version it expects, so
        # a concurrent publication of it now answers RubricVersionConflict.
        return self._write(decide)

    def get_rubric(self, rubric_id: Any) -> Rubric:
        return self._get(Rubric, rubric_id, "rubric")

    # --- cycles ----------------------------------------------------------------------

    def start_cycle(self, *, unit: str, year: int, periodicity: Periodicity,
                    rubric_id: Any, actor: str) -> Written:
        rubric_uuid = _uuid(rubric_id, "rubric id")

        def decide(at: datetime) -> list[Any]:
            self._get(Rubric, rubric_uuid, "rubric")
            return [PerformanceCycle.start(unit=unit, year=year, periodicity=periodicity,
                                           rubric_id=rubric_uuid, actor=actor, at=at)]
        return self._write(decide, creates=True, ids={
            "cycle_id": str(PerformanceCycle.id_for(unit.strip(), year))})

    def get_cycle(self, cycle_id: Any) -> PerformanceCycle:
        return self._get(PerformanceCycle, cycle_id, "cycle")

    def _on_cycle(self, cycle_id: Any, act: Callable[[PerformanceCycle, datetime], None],
                  retry: bool = True) -> Written:
        def decide(at: datetime) -> list[Any]:
            cycle = self._get(PerformanceCycle, cycle_id, "cycle")
            act(cycle, at)
            return [cycle]
        return self._write(decide, retry=retry)

    def open_period(self, cycle_id: Any, *, period: str, actor: str) -> Written:
        return self._on_cycle(cycle_id, lambda c, at: c.open_period(period, actor, at))

    def close_period(self, cycle_id: Any, *, period: str, actor: str) -> Written:
        return self._on_cycle(cycle_id, lambda c, at: c.close_period(period, actor, at))

    def set_organisational_result(self, cycle_id: Any, *, period: str,
                                  result: OrganisationalResult, actor: str) -> Written:
        return self._on_cycle(cycle_id, lambda c, at: c.set_organisational_result(
            period, result, actor, at))

    def name_appeal_panel(self, cycle_id: Any, *, members: list[str], actor: str) -> Written:
        return self._on_cycle(cycle_id, lambda c, at: c.name_appeal_panel(members, actor, at))

    def lock_cycle(self, cycle_id: Any, *, justification: str | None, actor: str) -> Written:
        def lock(cycle: PerformanceCycle, at: datetime) -> None:
            counts: dict[str, Counter[Predikat]] = {}
            for period, evaluation_ids in cycle.enrolled.items():
                tally: Counter[Predikat] = Counter()
                for evaluation_id in evaluation_ids:
                    evaluation = self._get(Evaluation, evaluation_id, "evaluation")
                    if evaluation.result is not None:
                        tally[Predikat(evaluation.result["predikat"])] += 1
                counts[period] = tally
            policy = self._latest_policy(cycle.rubric_id, at.date())
            cycle.lock(predikat_counts=counts, policy=policy, justification=justification,
                       actor=actor, at=at,
                       period_policies=self._period_policies(cycle, cycle.periods))
        # Not retried: the distribution checked must be the one the lock records.
        return self._on_cycle(cycle_id, lock, retry=False)

    def _period_policies(self, cycle: PerformanceCycle,
                         periods: Iterable[str]) -> dict[str, RubricPolicy]:
        """Each period's curve comes from the rubric version in force on its first day,
        the version its evaluations were pinned to, not the one in force at the lock."""
        rubric = self._get(Rubric, cycle.rubric_id, "rubric")
        policies = {}
        for period in periods:
            try:
                version = rubric.version_in_force(period_bounds(period, cycle.periodicity)[0])
            except NoRubricInForce:
                continue  # no evaluation can have started then; the lock's policy applies
            policies[period] = rubric.policy(version)
        return policies

    def _latest_policy(self, rubric_id: Any, day: date) -> RubricPolicy:
        rubric = self._get(Rubric, rubric_id, "rubric")
        return rubric.policy(rubric.version_in_force(day))

    def reopen_cycle(self, cycle_id: Any, *, reason: str, authority: str,
                     actor: str) -> Written:
        return self._on_cycle(cycle_id, lambda c, at: c.reopen(
            reason=reason, authority=authority, actor=actor, at=at), retry=False)

    # --- evaluations -----------------------------------------------------------------

    def start_evaluations(self, cycle_id: Any, *, period: str, employee_ids: Iterable[Any],
                          actor: str) -> Written:
        """Open the SKP of each employee for the period, pinned to the rubric version in
        force on the period's first day; enrolled in the cycle in the same transaction."""
        wanted = [str(_uuid(e, "employee id")) for e in employee_ids]
        if not wanted:
            raise InvalidValue("name at least one employee")
        if len(set(wanted)) != len(wanted):
            raise InvalidValue("an employee is named twice")

        def decide(at: datetime) -> list[Any]:
            cycle = self._get(PerformanceCycle, cycle_id, "cycle")
            starts_on, ends_on = period_bounds(period, cycle.periodicity)
            rubric = self._get(Rubric, cycle.rubric_id, "rubric")
            version = rubric.version_in_force(starts_on)
            evaluations = []
            for employee_id in wanted:
                employee = self._get(Employee, employee_id, "employee")
                if not employee.is_employed_on(starts_on):
                    raise InvalidValue(f"employee {employee_id} is not employed in {period}")
                if employee.unit_on(starts_on) != cycle.unit:
                    raise InvalidValue(f"employee {employee_id} is not in unit {cycle.unit}")
                evaluation_id = Evaluation.id_for(employee_id, period)
                if self.exists(evaluation_id):
                    raise AlreadyExists(f"employee {employee_id} already has an "
                                        f"evaluation for {period}")
                evaluations.append(Evaluation.start(
                    employee_id=employee_id, unit=cycle.unit, cycle_id=cycle.id,
                    period=period, starts_on=starts_on, ends_on=ends_on,
                    rubric_id=rubric.id, rubric_version=version, actor=actor, at=at))
            cycle.enrol(period, [str(e.id) for e in evaluations], actor, at)
            return [cycle, *evaluations]
        return self._write(decide, ids={"evaluation_ids": [
            str(Evaluation.id_for(e, period)) for e in wanted]})

    def get_evaluation(self, evaluation_id: Any) -> Evaluation:
        return self._get(Evaluation, evaluation_id, "evaluation")

    def _on_evaluation(self, evaluation_id: Any,
                       act: Callable[[Evaluation, PerformanceCycle, datetime], None],
                       retry: bool = True) -> Written:
        def decide(at: datetime) -> list[Any]:
            evaluation = self._get(Evaluation, evaluation_id, "evaluation")
            cycle = self._cycle_of(evaluation)
            act(evaluation, cycle, at)
            # Decided on the cycle's lock state: it must not change before the commit.
            return Guarded([evaluation], [(cycle.id, cycle.version)])
        return self._write(decide, retry=retry)

    def plan_item(self, evaluation_id: Any, *, item_id: str, kind: ItemKind, aspect: Aspect,
                  indicator: str, target: Decimal, direction: Direction,
                  unit_of_measure: str = "", supports: str | None = None,
                  actor: str) -> Written:
        def act(e: Evaluation, cycle: PerformanceCycle, at: datetime) -> None:
            cycle.require_period_open_for_rating(e.period)
            e.plan_item(item_id=item_id, kind=kind, aspect=aspect, indicator=indicator,
                        target=target, direction=direction, unit_of_measure=unit_of_measure,
                        supports=supports, actor=actor, at=at)
        return self._on_evaluation(evaluation_id, act)

    def fix_targets(self, evaluation_id: Any, *, actor: str) -> Written:
        def act(e: Evaluation, cycle: PerformanceCycle, at: datetime) -> None:
            cycle.require_period_open_for_rating(e.period)
            e.fix_targets(actor, at)
        return self._on_evaluation(evaluation_id, act)

    def record_realisation(self, evaluation_id: Any, *, item_id: str, value: Decimal,
                           evidence: list[str], note: str | None = None,
                           actor: str) -> Written:
        def act(e: Evaluation, cycle: PerformanceCycle, at: datetime) -> None:
            cycle.require_period_open_for_rating(e.period)
            e.record_realisation(item_id=item_id, value=value, evidence=evidence,
                                 note=note, actor=actor, at=at)
        return self._on_evaluation(evaluation_id, act)

    def rate_item(self, evaluation_id: Any, *, item_id: str, override: Rating | None = None,
                  reason: str | None = None, actor: str) -> Written:
        def act(e: Evaluation, cycle: PerformanceCycle, at: datetime) -> None:
            cycle.require_period_open_for_rating(e.period)
            e.rate_item(item_id=item_id, override=override, reason=reason,
                        rater_in_force=self._rater_in_force(e, at),
                        policy=self._policy(e.rubric_id, e.rubric_version),
                        actor=actor, at=at)
        return self._on_evaluation(evaluation_id, act)

    def rate_perilaku(self, evaluation_id: Any, *, value: BerakhlakValue, rating: Rating,
                      note: str | None = None, actor: str) -> Written:
        def act(e: Evaluation, cycle: PerformanceCycle, at: datetime) -> None:
            cycle.require_period_open_for_rating(e.period)
            e.rate_perilaku(value=value, rating=rating, note=note,
                            rater_in_force=self._rater_in_force(e, at), actor=actor, at=at)
        return self._on_evaluation(evaluation_id, act)

    def deliver_result(self, evaluation_id: Any, *, departure_reason: str | None = None,
                       actor: str) -> Written:
        def act(e: Evaluation, cycle: PerformanceCycle, at: datetime) -> None:
            cycle.require_period_open_for_rating(e.period)
            feedback = FeedbackSummary.of_scores(self.feedback_lookup(e.employee_id, e.period))
            e.deliver(policy=self._policy(e.rubric_id, e.rubric_version), feedback=feedback,
                      departure_reason=departure_reason,
                      rater_in_force=self._rater_in_force(e, at), actor=actor, at=at)
        return self._on_evaluation(evaluation_id, act, retry=False)

    def calibrate_result(self, evaluation_id: Any, *, session: str, hk: Rating, pk: Rating,
                         reason: str, actor: str) -> Written:
        """Record a calibration session's adjustment, with the original kept in history."""
        def act(e: Evaluation, cycle: PerformanceCycle, at: datetime) -> None:
            if cycle.locked:
                raise CycleLocked("a locked cycle is not calibrated; reopen it first")
            e.change_result(source=ChangeSource.CALIBRATION, reference=session, hk=hk,
                            pk=pk, reason=reason,
                            policy=self._policy(e.rubric_id, e.rubric_version),
                            actor=actor, at=at)
        return self._on_evaluation(evaluation_id, act, retry=False)

    def correct_result(self, evaluation_id: Any, *, hk: Rating, pk: Rating, reason: str,
                       actor: str) -> Written:
        """A correction after an audited reopening of the locked cycle."""
        def act(e: Evaluation, cycle: PerformanceCycle, at: datetime) -> None:
            if cycle.locked:
                raise CycleLocked("the cycle is locked; reopen it for correction first")
            if not cycle.reopened:
                raise CycleNotLocked("corrections are made in a cycle reopened after lock; "
                                     "before lock, use calibration")
            e.change_result(source=ChangeSource.CORRECTION, reference=cycle.reopened,
                            hk=hk, pk=pk, reason=reason,
                            policy=self._policy(e.rubric_id, e.rubric_version),
                            actor=actor, at=at)
        return self._on_evaluation(evaluation_id, act, retry=False)

    # --- feedback --------------------------------------------------------------------

    def give_feedback(self, *, employee_id: Any, period: str, source: FeedbackSource,
                      giver_ref: str, score: int, value: BerakhlakValue | None = None,
                      comment: str | None = None, channel: str | None = None,
                      external_ref: str | None = None, actor: str) -> Written:
        item = dict(employee_id=employee_id, period=period, source=source,
                    giver_ref=giver_ref, score=score, value=value, comment=comment,
                    channel=channel, external_ref=external_ref)
        if self.committer is not None:
            # The common case, decided by the group commit's leader with no I/O. Where
            # that is not possible, the general path below settles it.
            feedback_id, decide = self._feedback_decision(item, actor)
            try:
                ids = self.committer.commit_decided(decide)
            except (WouldBlock, IntegrityError):
                pass
            else:
                return Written(position=max(ids), ids={"feedback_id": str(feedback_id)},
                               events=len(ids))
        written = self.give_feedback_batch([item], actor=actor)
        return Written(position=written.position,
                       ids={"feedback_id": written.ids["feedback_ids"][0]},
                       events=written.events)

    def give_feedback_batch(self, items: Sequence[dict[str, Any]], *, actor: str) -> Written:
        """Record many feedback items in one transaction (a complaint channel's batch).
        Items a channel already sent (same channel and reference) are skipped, so a
        retried batch records nothing twice."""
        pairs = self._feedback_pairs(items)
        ids = [feedback_id for feedback_id, _ in pairs]
        already_recorded: set[Any] = set()

        def decide(at: datetime) -> list[Any] | Streamed:
            if len(pairs) >= STREAM_FROM_ITEMS and self.streams_writes:
                return Streamed(
                    self._decide_feedback(at, pairs[i:i + STREAM_CHUNK], actor,
                                          already_recorded)
                    for i in range(0, len(pairs), STREAM_CHUNK))
            return self._decide_feedback(at, pairs, actor, already_recorded)

        answer = {"feedback_ids": [str(i) for i in ids]}
        # Optimistic: a batch is almost always new, so look for repeats only when the
        # insert says some item is already there (a channel retrying its batch).
        for _ in range(CONFLICT_RETRIES):
            try:
                return self._write(decide, creates=True, ids=answer)
            except AlreadyExists:
                already_recorded.update(i for i in ids if self.exists(i))
        raise ConcurrentChange("the same feedback is being recorded concurrently; retry")

    async def give_feedback_async(self, *, employee_id: Any, period: str,
                                  source: FeedbackSource, giver_ref: str, score: int,
                                  value: BerakhlakValue | None = None,
                                  comment: str | None = None, channel: str | None = None,
                                  external_ref: str | None = None,
                                  actor: str) -> Written | None:
        """`give_feedback` for a caller on an event loop, without a thread: decided and
        mapped in the calling thread, then written while the caller awaits, by the loop's
        own group committer (PostgreSQL) or the threaded one's writer (elsewhere). None
        where that would need I/O before the write (an employee or a data key not yet in
        memory) or where the item is already recorded: the caller then calls
        `give_feedback` (in a thread), which settles those cases."""
        if self.committer is None:
            return None
        feedback_id, decide = self._feedback_decision(dict(
            employee_id=employee_id, period=period, source=source, giver_ref=giver_ref,
            score=score, value=value, comment=comment, channel=channel,
            external_ref=external_ref), actor)
        try:
            stored = decide()
        except WouldBlock:
            return None
        loop_committer = self._loop_committer()
        try:
            if loop_committer is not None:
                ids = await loop_committer.commit(stored)
            else:
                ids = await asyncio.wrap_future(self.committer.submit(stored))
        except IntegrityError:
            return None
        return Written(position=max(ids), ids={"feedback_id": str(feedback_id)},
                       events=len(ids))

    def _loop_committer(self) -> AsyncGroupCommitter | None:
        """The running loop's own group committer, where the store can insert from an
        event loop (PostgreSQL); None elsewhere, where the threaded one serves."""
        loop = asyncio.get_running_loop()
        last = self._last_loop_committer  # a server has one loop: spare the weak lookup
        if last is not None and last[0] is loop:
            return last[1]
        insert = getattr(self.recorder, "insert_events_async", None)
        if insert is None:
            return None
        committer = self._loop_committers.get(loop)
        if committer is None:
            committer = self._loop_committers[loop] = AsyncGroupCommitter(
                insert, existing=getattr(self.recorder, "existing_async", None))
        self._last_loop_committer = (loop, committer)
        return committer

    async def close_async(self) -> None:
        """Close what the running loop opened for writing (before `close`)."""
        self._loop_committers.pop(asyncio.get_running_loop(), None)
        self._last_loop_committer = None
        close = getattr(self.recorder, "close_async", None)
        if close is not None:
            await close()

    def _feedback_decision(self, item: Mapping[str, Any], actor: str
                           ) -> tuple[Any, Callable[[], list[Any]]]:
        """The id of one feedback item (checked here, in the caller's thread), and the
        decision that makes its stored event without I/O: it raises WouldBlock where it
        would need the database (an employee or a data key not yet in memory)."""
        pairs = self._feedback_pairs([item])

        def decide() -> list[Any]:
            at = self.clock()
            token = _io_forbidden.set(True)
            try:
                with recording_clock(lambda: at):
                    events = self._decide_feedback(at, pairs, actor, set())
                    return [self.mapper.to_stored_event(e) for e in events]
            finally:
                _io_forbidden.reset(token)
        return pairs[0][0], decide

    @staticmethod
    def _feedback_pairs(items: Sequence[Mapping[str, Any]]
                        ) -> list[tuple[Any, Mapping[str, Any]]]:
        """(feedback id, item) for each item: an item from a channel is named by the
        channel's own reference."""
        if not items:
            raise InvalidValue("a feedback batch needs at least one item")
        ids: list[Any] = []
        for number, item in enumerate(items):
            if type(item) is not dict and not isinstance(item, Mapping):
                raise InvalidValue(f"feedback item {number} is not an object")
            for name in _FEEDBACK_FIELDS:
                if item.get(name) is None:
                    missing = [k for k in _FEEDBACK_FIELDS if item.get(k) is None]
                    raise InvalidValue(f"feedback item {number} lacks {', '.join(missing)}",
                                       missing=missing)
            channel = str(item.get("channel") or "").strip()
            external_ref = str(item.get("external_ref") or "").strip()
            if channel and external_ref:
                ids.append(FeedbackItem.id_for_channel_item(channel, external_ref))
            else:
                ids.append(uuid.uuid4())
        if len(ids) > 1 and len(set(ids)) != len(ids):
            raise InvalidValue("a batch names the same channel reference twice")
        return list(zip(ids, items, strict=True))

    def _decide_feedback(self, at: datetime, pairs: Sequence[tuple[Any, Mapping[str, Any]]],
                         actor: str, already_recorded: set[Any]) -> list[Any]:
        made = []
        prepare = self._feedback_preparer(at)
        known: dict[Any, str] = {}  # a batch names few employees, many times each
        for feedback_id, item in pairs:
            given_id = item["employee_id"]
            employee_id = known.get(given_id)
            if employee_id is None:
                if type(given_id) is str and given_id in self._known_employees:
                    employee_id = given_id  # a known employee's id, as it is written
                else:
                    employee_id = str(_uuid(given_id, "employee id"))
                    self._require_employee(employee_id)
                known[given_id] = employee_id
            if already_recorded and feedback_id in already_recorded:
                continue
            item = prepare(item)
            # The events alone: nothing reads the new items before they are saved.
            made.append(FeedbackItem.given(
                feedback_id=feedback_id, employee_id=employee_id,
                period=item["period"], source=item["source"],
                giver_ref=item["giver_ref"], score=item["score"],
                value=item.get("value"), comment=item.get("comment"),
                channel=item.get("channel"), external_ref=item.get("external_ref"),
                actor=actor, at=at))
        return made

    def _feedback_preparer(self, at: datetime
                           ) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
        """What makes a feedback item as it is to be recorded, for one batch decided at
        `at` (the privacy layer pseudonymises citizens)."""
        return lambda item: item

    def _require_employee(self, employee_id: str) -> None:
        """Refuse unknown employees. Known ones are remembered: an employee, once
        registered, never stops existing in the log."""
        if employee_id not in self._known_employees:
            require_io_allowed()
            self._get(Employee, employee_id, "employee")
            self._known_employees.add(employee_id)

    # --- appeals ---------------------------------------------------------------------

    def file_appeal(self, evaluation_id: Any, *, grounds: str, actor: str) -> Written:
        def decide(at: datetime) -> list[Any]:
            evaluation = self._get(Evaluation, evaluation_id, "evaluation")
            if self.exists(Appeal.id_for(evaluation.id)):
                raise AppealAlreadyFiled("an appeal was already filed for this evaluation")
            cycle = self._cycle_of(evaluation)
            employee = self._get(Employee, evaluation.employee_id, "employee")
            superior = employee.reviewer_on(at.date())
            if superior is not None and not self._get(
                    Employee, superior, "reviewer").is_employed_on(at.date()):
                superior = None  # a superior who left decides nothing; HR names another
            return [Appeal.file(evaluation=evaluation, rater_id=evaluation.delivered_by or "",
                                grounds=grounds,
                                panel=cycle.appeal_panel,
                                superior_id=superior,
                                actor=actor, at=at)]
        # A filing that lost a race to another filing is decided again, and so told
        # precisely that the appeal exists (its id is derived from the evaluation).
        written = self._write(decide)
        try:
            appeal_id = Appeal.id_for(_uuid(evaluation_id, "evaluation id"))
        except InvalidValue:  # pragma: no cover - _get already refused it
            appeal_id = None
        return Written(position=written.position, ids={"appeal_id": str(appeal_id)},
                       events=written.events)

    def get_appeal(self, appeal_id: Any) -> Appeal:
        return self._get(Appeal, appeal_id, "appeal")

    def _on_appeal(self, appeal_id: Any, act: Callable[[Appeal, datetime], None]) -> Written:
        def decide(at: datetime) -> list[Any]:
            appeal = self._get(Appeal, appeal_id, "appeal")
            act(appeal, at)
            return [appeal]
        return self._write(decide, retry=False)

    def request_explanation(self, appeal_id: Any, *, party: str, question: str,
                            actor: str) -> Written:
        return self._on_appeal(appeal_id, lambda a, at: a.request_explanation(
            party=party, question=question, actor=actor, at=at))

    def give_explanation(self, appeal_id: Any, *, text: str, actor: str) -> Written:
        return self._on_appeal(appeal_id, lambda a, at: a.give_explanation(
            text=text, actor=actor, at=at))

    def withdraw_appeal(self, appeal_id: Any, *, reason: str, actor: str) -> Written:
        return self._on_appeal(appeal_id, lambda a, at: a.withdraw(
            reason=reason, actor=actor, at=at))

    def decide_appeal(self, appeal_id: Any, *, outcome: str, hk: Rating | None = None,
                      pk: Rating | None = None, reasons: str, actor: str) -> Written:
        """Final decision; a change supersedes the result on the evaluation, both saved
        in one transaction."""
        def decide(at: datetime) -> list[Any]:
            appeal = self._get(Appeal, appeal_id, "appeal")
            evaluation = self._get(Evaluation, appeal.evaluation_id, "evaluation")
            assert evaluation.result is not None
            policy = self._policy(evaluation.rubric_id, evaluation.rubric_version)
            appeal.decide(outcome=outcome, hk=hk, pk=pk, reasons=reasons, policy=policy,
                          current=evaluation.result, actor=actor, at=at)
            if outcome == "kept":
                return [appeal]
            assert hk is not None and pk is not None
            evaluation.change_result(source=ChangeSource.APPEAL, reference=str(appeal.id),
                                     hk=hk, pk=pk, reason=reasons, policy=policy,
                                     actor=actor, at=at)
            return [appeal, evaluation]
        return self._write(decide, retry=False)

    def record_appeal_lapsed(self, evaluation_id: Any, *, actor: str) -> Written:
        def act(e: Evaluation, cycle: PerformanceCycle, at: datetime) -> None:
            e.record_appeal_lapsed(today=at.date(),
                                   appeal_filed=self.exists(Appeal.id_for(e.id)),
                                   actor=actor, at=at)
        return self._on_evaluation(evaluation_id, act, retry=False)
