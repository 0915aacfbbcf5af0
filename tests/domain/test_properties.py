"""Properties over random command sequences (hypothesis), on the memory store plus one
bounded run on SQLite:

* predikat == matrix(HK, PK) of the pinned rubric version, for every result the ledger
  holds and every result event it ever recorded;
* a refused command (typed DomainError) leaves the log unchanged;
* every aggregate a command saved reloads from the store with the same state;
* two copies of one aggregate changed from the same version: the second save conflicts,
  and every event of the first is in the log.
"""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from api.settings import Settings
from api.store import open_ledger
from domain.appeal import Appeal
from domain.base import LedgerAggregate
from domain.errors import DomainError
from domain.evaluation import Evaluation
from domain.scoring import DEFAULT_MATRIX
from domain.values import (
    Aspect,
    BerakhlakValue,
    Direction,
    FeedbackSource,
    ItemKind,
    OrganisationalResult,
    Predikat,
    Rating,
)
from tests.domain.spec import events_after, log_position
from tests.scenario import HR, TickingClock, build_world

PERIODS = {"2026-01": 1, "2026-08": 2}   # period -> rubric version it pins
ITEMS = ("a", "b", "c")
RESULT_TOPICS = {"kinerja.evaluation.result-delivered.v1",
                 "kinerja.evaluation.result-changed.v1", "kinerja.appeal.decided.v1"}

#: Version 2 of the rubric moves every cell, so a score computed under the wrong version
#: cannot pass for the right one.
V2_MATRIX = {
    Rating.DI_ATAS: {Rating.DI_BAWAH: Predikat.BUTUH_PERBAIKAN, Rating.SESUAI: Predikat.SANGAT_BAIK,
                     Rating.DI_ATAS: Predikat.BAIK},
    Rating.SESUAI: {Rating.DI_BAWAH: Predikat.SANGAT_KURANG, Rating.SESUAI: Predikat.SANGAT_BAIK,
                    Rating.DI_ATAS: Predikat.KURANG},
    Rating.DI_BAWAH: {Rating.DI_BAWAH: Predikat.BAIK, Rating.SESUAI: Predikat.KURANG,
                      Rating.DI_ATAS: Predikat.SANGAT_KURANG},
}

#: The matrix each period's evaluations must be scored with, from the test's own data.
MATRICES = {"2026-01": DEFAULT_MATRIX, "2026-08": V2_MATRIX}

ratings = st.sampled_from(list(Rating))
#: Mostly valid amounts, boundaries included, for the long valid path.
good_amounts = st.one_of(
    st.decimals(min_value=1, max_value=300, places=2),
    st.sampled_from([Decimal(0), Decimal(40), Decimal(80), Decimal(110), Decimal(50)]))
mostly_reason = st.sampled_from(["alasan tertulis", "Bukti dukung baru", None])
maybe_text = st.sampled_from([None, "", "  ", "alasan tertulis", "Bukti dukung baru"])
amounts = st.one_of(
    st.decimals(min_value=0, max_value=300, places=2),
    st.sampled_from([Decimal(0), Decimal(80), Decimal(110), Decimal(-1)]))


DELIVER_PATH = dict(
    data=st.data(),
    plan=st.lists(st.tuples(st.sampled_from(list(ItemKind)), st.sampled_from(list(Direction)),
                            good_amounts, good_amounts, st.none() | ratings),
                  min_size=1, max_size=3),
    perilaku=st.lists(ratings, min_size=7, max_size=7), reason=mostly_reason)


def aggregate_state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


class LedgerMachine(RuleBasedStateMachine):
    """A unit of three employees, one rater, the unit head as reviewer; evaluations in
    January (rubric v1) and August (rubric v2, published mid-year with another matrix)."""

    store = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.app: Any = None

    # --- setup and plumbing ------------------------------------------------------------

    @initialize()
    def build(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        url = "memory://" if self.store == "memory" else f"sqlite:///{root / 'l.sqlite3'}"
        self.clock = TickingClock()
        self.app = open_ledger(Settings(database_url=url, data_dir=root / "data"),
                               clock=self.clock)
        world = build_world(self.app, self.clock, employees=3)
        self.world = world
        self.app.publish_rubric_version(
            world.rubric_id, version=2, effective_from=date(2026, 7, 1),
            policy={"matrix": {str(h): {str(p): str(v) for p, v in row.items()}
                               for h, row in V2_MATRIX.items()}},
            indicators=[], summary="kuadran baru", actor=HR)
        self.app.open_period(world.cycle_id, period="2026-08", actor=HR)
        self.app.start_evaluations(world.cycle_id, period="2026-08",
                                   employee_ids=world.employees, actor=HR)
        self.evaluations = {world.evaluation_id(e, p): (e, p)
                            for e in world.employees for p in PERIODS}
        self.appeals = {Appeal.id_for(Evaluation.id_for(e, p)): (e, p)
                        for e in world.employees for p in PERIODS}
        self.checked = log_position(self.app)
        self.delivered_ids: list[str] = []
        self.saved: list[Any] = []
        # The rater sees the feedback recorded so far, so PK suggestions and departure
        # reasons are exercised too.
        self.app.feedback_lookup = self.feedback_in_log
        original_save = self.app.save

        def observed_save(*objs: Any, **kwargs: Any) -> Any:
            recordings = original_save(*objs, **kwargs)
            self.saved.extend(o for o in objs if o is not None)
            return recordings
        self.app.save = observed_save

    def feedback_in_log(self, employee_id: str, period: str) -> list[tuple[Any, int]]:
        return [(FeedbackSource(e["source"]), e["score"])
                for e in events_after(self.app, 0)
                if e.topic == "kinerja.feedback.given.v1"
                and (e["employee_id"], e["period"]) == (employee_id, period)]

    def some_evaluation(self, data: Any) -> str:
        """Mostly an evaluation with a delivered result, when there is one."""
        if self.delivered_ids and data.draw(st.booleans()):
            return data.draw(st.sampled_from(self.delivered_ids))
        return data.draw(st.sampled_from(sorted(self.evaluations)))

    def teardown(self) -> None:
        if self.app is not None:
            self.app.close()
            self.tmp.cleanup()

    def attempt(self, command: Any) -> Any:
        """Run one command. Refused: the log did not move. Accepted: every aggregate it
        saved reloads from the store exactly as it was saved."""
        before = log_position(self.app)
        self.saved.clear()
        try:
            result = command()
        except DomainError:
            assert log_position(self.app) == before
            assert events_after(self.app, before) == []
            assert self.saved == []
            return None
        for aggregate in self.saved:
            if isinstance(aggregate, LedgerAggregate.Event):
                # Feedback saves its creation event alone: compare with what it creates.
                aggregate = aggregate.mutate(None)
            reloaded = self.app.repository.get(aggregate.id)
            assert aggregate_state(reloaded) == aggregate_state(aggregate), type(aggregate)
        return result

    def actor(self, who: str, eid: str) -> str:
        employee = self.evaluations[eid][0]
        return {"rater": self.world.rater, "head": self.world.head, "employee": employee,
                "other": self.world.employees[-1] if employee != self.world.employees[-1]
                else self.world.employees[0], "hr": HR}[who]

    # --- rules: planning, rating, delivery ----------------------------------------------

    @rule(data=st.data(), item=st.sampled_from(ITEMS), kind=st.sampled_from(list(ItemKind)),
          direction=st.sampled_from(list(Direction)), goal=amounts)
    def plan(self, data, item, kind, direction, goal):
        eid = data.draw(st.sampled_from(sorted(self.evaluations)))
        self.attempt(lambda: self.app.plan_item(
            eid, item_id=item, kind=kind, aspect=Aspect.KUANTITAS, indicator=f"IKI {item}",
            target=goal, direction=direction, actor=self.world.rater))

    @rule(data=st.data())
    def fix_targets(self, data):
        eid = data.draw(st.sampled_from(sorted(self.evaluations)))
        self.attempt(lambda: self.app.fix_targets(eid, actor=self.world.rater))

    @rule(data=st.data(), item=st.sampled_from(ITEMS), value=amounts)
    def realise(self, data, item, value):
        eid = data.draw(st.sampled_from(sorted(self.evaluations)))
        self.attempt(lambda: self.app.record_realisation(
            eid, item_id=item, value=value, evidence=["bukti"],
            actor=self.evaluations[eid][0]))

    @rule(data=st.data(), item=st.sampled_from(ITEMS), override=st.none() | ratings,
          reason=maybe_text, who=st.sampled_from(["rater", "rater", "head", "employee"]))
    def rate_item(self, data, item, override, reason, who):
        eid = data.draw(st.sampled_from(sorted(self.evaluations)))
        self.attempt(lambda: self.app.rate_item(eid, item_id=item, override=override,
                                                reason=reason, actor=self.actor(who, eid)))

    @rule(data=st.data(), value=st.sampled_from(list(BerakhlakValue)), rating=ratings,
          who=st.sampled_from(["rater", "rater", "other"]))
    def rate_perilaku(self, data, value, rating, who):
        eid = data.draw(st.sampled_from(sorted(self.evaluations)))
        self.attempt(lambda: self.app.rate_perilaku(eid, value=value, rating=rating,
                                                    actor=self.actor(who, eid)))

    def deliver_path(self, data, plan, perilaku, reason):
        """The long valid path, so that results are common: plan, fix, realise, rate,
        rate perilaku, deliver (each step may still be refused by the state)."""
        eid = data.draw(st.sampled_from(sorted(self.evaluations)))
        employee, app, rater = self.evaluations[eid][0], self.app, self.world.rater
        for n, (kind, direction, target, realised, override) in enumerate(plan):
            self.attempt(lambda: app.plan_item(
                eid, item_id=ITEMS[n], kind=ItemKind.UTAMA if n == 0 else kind,
                aspect=Aspect.KUALITAS, indicator="IKI", target=target,
                direction=direction, actor=rater))
        self.attempt(lambda: app.fix_targets(eid, actor=rater))
        for n, (_, _, _, realised, override) in enumerate(plan):
            self.attempt(lambda: app.record_realisation(eid, item_id=ITEMS[n],
                                                        value=realised, evidence=[],
                                                        actor=employee))
            self.attempt(lambda: app.rate_item(eid, item_id=ITEMS[n], override=override,
                                               reason="ditimbang ulang", actor=rater))
        for value, rating in zip(BerakhlakValue, perilaku, strict=True):
            self.attempt(lambda: app.rate_perilaku(eid, value=value, rating=rating,
                                                   actor=rater))
        self.attempt(lambda: app.deliver_result(eid, departure_reason=reason, actor=rater))

    # Two rules on the one path: hypothesis picks among rules evenly, and without the
    # second one most sequences end before any result is delivered.
    @rule(**DELIVER_PATH)
    def complete_and_deliver(self, data, plan, perilaku, reason):
        self.deliver_path(data, plan, perilaku, reason)

    @rule(**DELIVER_PATH)
    def complete_and_deliver_another(self, data, plan, perilaku, reason):
        self.deliver_path(data, plan, perilaku, reason)

    @rule(data=st.data(), hk=ratings, pk=ratings, reason=mostly_reason)
    def calibrate(self, data, hk, pk, reason):
        eid = self.some_evaluation(data)
        self.attempt(lambda: self.app.calibrate_result(eid, session="kalibrasi", hk=hk,
                                                       pk=pk, reason=reason, actor=HR))

    # --- feedback -----------------------------------------------------------------------

    @rule(data=st.data(), source=st.sampled_from(list(FeedbackSource)),
          score=st.integers(min_value=-1, max_value=7),
          ref=st.sampled_from([None, "R-1", "R-2", "R-3"]),
          channel=st.sampled_from([None, "JAKI", "Qlue"]), self_given=st.booleans())
    def feedback(self, data, source, score, ref, channel, self_given):
        employee = data.draw(st.sampled_from(self.world.employees))
        giver = employee if self_given else self.world.head
        self.attempt(lambda: self.app.give_feedback(
            employee_id=employee, period="2026-01", source=source, giver_ref=giver,
            score=score, channel=channel, external_ref=ref, actor=giver))

    # --- appeals, lock, reopening -------------------------------------------------------

    @rule(data=st.data(), by_employee=st.booleans())
    def file_appeal(self, data, by_employee):
        eid = self.some_evaluation(data)
        actor = self.evaluations[eid][0] if by_employee else self.world.rater
        self.attempt(lambda: self.app.file_appeal(eid, grounds="keberatan", actor=actor))

    @rule(data=st.data(), changed=st.booleans(), hk=ratings, pk=ratings,
          who=st.sampled_from(["head", "head", "rater"]))
    def decide_appeal(self, data, changed, hk, pk, who):
        eid = self.some_evaluation(data)
        appeal_id = str(Appeal.id_for(Evaluation.id_for(*self.evaluations[eid])))
        self.attempt(lambda: self.app.decide_appeal(
            appeal_id, outcome="changed" if changed else "kept", hk=hk, pk=pk,
            reasons="putusan", actor=self.actor(who, eid)))

    @precondition(lambda self: bool(self.delivered_ids))
    @rule(data=st.data(), changed=st.booleans(), hk=ratings, pk=ratings,
          withdraw=st.booleans(), explain=st.booleans())
    def appeal_round(self, data, changed, hk, pk, withdraw, explain):
        """File, perhaps ask for an explanation, then withdraw or decide."""
        eid = data.draw(st.sampled_from(self.delivered_ids))
        employee, app = self.evaluations[eid][0], self.app
        appeal_id = str(Appeal.id_for(Evaluation.id_for(*self.evaluations[eid])))
        self.attempt(lambda: app.file_appeal(eid, grounds="keberatan", actor=employee))
        if explain:
            self.attempt(lambda: app.request_explanation(
                appeal_id, party="rater", question="mengapa?", actor=self.world.head))
            self.attempt(lambda: app.give_explanation(appeal_id, text="karena",
                                                      actor=self.world.rater))
        if withdraw:
            self.attempt(lambda: app.withdraw_appeal(appeal_id, reason="dicabut",
                                                     actor=employee))
        else:
            self.attempt(lambda: app.decide_appeal(
                appeal_id, outcome="changed" if changed else "kept", hk=hk, pk=pk,
                reasons="putusan", actor=self.world.head))

    @rule(data=st.data())
    def withdraw_appeal(self, data):
        eid = self.some_evaluation(data)
        appeal_id = str(Appeal.id_for(Evaluation.id_for(*self.evaluations[eid])))
        self.attempt(lambda: self.app.withdraw_appeal(appeal_id, reason="dicabut",
                                                      actor=self.evaluations[eid][0]))

    @rule(data=st.data())
    def record_lapse(self, data):
        eid = self.some_evaluation(data)
        self.attempt(lambda: self.app.record_appeal_lapsed(eid, actor="system"))

    @rule(result=st.sampled_from(list(OrganisationalResult)),
          period=st.sampled_from(sorted(PERIODS)))
    def set_result(self, result, period):
        self.attempt(lambda: self.app.set_organisational_result(
            self.world.cycle_id, period=period, result=result, actor=HR))

    @rule(justification=maybe_text, now=st.integers(min_value=0, max_value=5))
    def lock(self, justification, now):
        if now:
            return  # locks are rare in a real cycle; most sequences should rate first
        self.attempt(lambda: self.app.lock_cycle(self.world.cycle_id,
                                                 justification=justification, actor=HR))

    @rule(reason=st.sampled_from(["Salah input", "SK BKD", None]))
    def reopen(self, reason):
        self.attempt(lambda: self.app.reopen_cycle(self.world.cycle_id, reason=reason,
                                                   authority="SK BKD", actor=HR))

    @rule(data=st.data(), hk=ratings, pk=ratings)
    def correct(self, data, hk, pk):
        eid = self.some_evaluation(data)
        self.attempt(lambda: self.app.correct_result(eid, hk=hk, pk=pk, reason="koreksi",
                                                     actor=HR))

    @rule(days=st.integers(min_value=0, max_value=20))
    def advance_clock(self, days):
        self.clock.advance(days=days)

    # --- commands that are always refused -----------------------------------------------

    @rule(data=st.data(), which=st.integers(min_value=0, max_value=7))
    def invalid_command(self, data, which):
        eid = data.draw(st.sampled_from(sorted(self.evaluations)))
        employee, app = self.evaluations[eid][0], self.app
        command = [
            lambda: app.rate_item(eid, item_id="a", actor="user:orang-luar"),
            lambda: app.rate_perilaku(eid, value=BerakhlakValue.LOYAL, rating=Rating.SESUAI,
                                      actor=employee),
            lambda: app.deliver_result(eid, actor=self.world.head),
            lambda: app.give_feedback(employee_id=employee, period="2026-01",
                                      source=FeedbackSource.PEER, giver_ref="x", score=0,
                                      actor="x"),
            lambda: app.file_appeal(eid, grounds="bukan saya", actor=self.world.rater),
            lambda: app.plan_item(eid, item_id="z", kind=ItemKind.UTAMA,
                                  aspect=Aspect.BIAYA, indicator="x", target=Decimal(-5),
                                  direction=Direction.LOWER_IS_BETTER, actor=self.world.rater),
            lambda: app.calibrate_result(eid, session="k", hk=Rating.SESUAI,
                                         pk=Rating.SESUAI, reason=" ", actor=HR),
            lambda: app.publish_rubric_version(self.world.rubric_id, version=9,
                                               effective_from=date(2027, 1, 1), policy={},
                                               indicators=[], summary="x", actor=HR),
        ][which]
        snapshot = [(n.id, n.topic, n.state) for n in
                    self.app.recorder.select_notifications(1, limit=1_000_000)]
        with pytest.raises(DomainError):
            command()
        assert [(n.id, n.topic, n.state) for n in
                self.app.recorder.select_notifications(1, limit=1_000_000)] == snapshot

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def every_result_follows_the_pinned_matrix(self):
        """Every result event recorded since the last step, and the current result of
        every evaluation those events touched, equal the matrix cell of the pinned
        version (only touched evaluations are reloaded: the others did not change)."""
        if self.app is None:
            return
        touched: set[str] = set()
        for new in events_after(self.app, self.checked):
            if new.topic not in RESULT_TOPICS:
                continue
            if new.topic == "kinerja.appeal.decided.v1":
                period = self.appeals[new.originator_id][1]
            else:
                eid = str(new.originator_id)
                period = self.evaluations[eid][1]
                touched.add(eid)
                if new.topic == "kinerja.evaluation.result-delivered.v1":
                    self.delivered_ids.append(eid)
            assert new["predikat"] == MATRICES[period][new["hasil_kerja"]][
                new["perilaku_kerja"]]
        for eid in touched:
            evaluation = self.app.get_evaluation(eid)
            period = self.evaluations[eid][1]
            assert evaluation.rubric_version == PERIODS[period]
            assert evaluation.result is not None
            result = evaluation.result
            assert result["predikat"] == MATRICES[period][result["hasil_kerja"]][
                result["perilaku_kerja"]]
        self.checked = log_position(self.app)


LedgerMachine.TestCase.settings = settings(
    max_examples=50, stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestLedgerOnMemory = LedgerMachine.TestCase


class SQLiteLedgerMachine(LedgerMachine):
    store = "sqlite"


SQLiteLedgerMachine.TestCase.settings = settings(
    max_examples=6, stateful_step_count=15, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestLedgerOnSQLite = SQLiteLedgerMachine.TestCase


# --- concurrent saves of one aggregate --------------------------------------------------

@pytest.fixture(scope="module")
def shared_world(tmp_path_factory):
    """One memory ledger for the whole property (examples use fresh evaluations)."""
    clock = TickingClock()
    app = open_ledger(Settings(database_url="memory://",
                               data_dir=tmp_path_factory.mktemp("data")), clock=clock)
    world = build_world(app, clock, employees=1)
    yield world
    app.close()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(st.tuples(st.sampled_from(list(BerakhlakValue)), ratings),
                      min_size=1, max_size=4),
       second=st.lists(st.tuples(st.sampled_from(list(BerakhlakValue)), ratings),
                       min_size=1, max_size=4),
       second_is_employee=st.booleans())
def test_concurrent_saves_of_one_aggregate_conflict_and_lose_nothing(
        shared_world, first, second, second_is_employee):
    world, app = shared_world, shared_world.app
    at = world.clock()
    if second_is_employee:
        # Two HR officers changing one employee record from the same version.
        one = app.get_employee(world.employee)
        two = app.get_employee(world.employee)
        for n, _ in enumerate(first):
            one.transfer("Sudinhub Jakarta Pusat", f"Jabatan {n}", date(2026, 2, 1), HR, at)
        for n, _ in enumerate(second):
            two.assign_rater(world.head, date(2026, 3, n + 1), HR, at)
    else:
        one = app.get_evaluation(world.evaluation_id())
        two = app.get_evaluation(world.evaluation_id())
        for value, rating in first:
            one.rate_perilaku(value=value, rating=rating, note="satu",
                              rater_in_force=world.rater, actor=world.rater, at=at)
        for value, rating in second:
            two.rate_perilaku(value=value, rating=rating, note="dua",
                              rater_in_force=world.rater, actor=world.rater, at=at)
    assert one.version == two.version - len(second) + len(first)
    before = log_position(app)
    expected = [(e.originator_id, e.originator_version) for e in one.pending_events]
    app.save(one)
    with pytest.raises(IntegrityError):
        app.save(two)
    new = events_after(app, before)
    assert [(n.originator_id, n.originator_version) for n in new] == expected
    assert aggregate_state(app.repository.get(one.id)) == aggregate_state(one)


def test_a_reloaded_aggregate_equals_the_saved_one_after_a_full_appraisal(app, world):
    """The same reload property, on every store, for a complete appraisal."""
    from tests.scenario import rate_fully
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    app.deliver_result(eid, actor=world.rater)
    evaluation = app.get_evaluation(eid)
    evaluation.change_result(source="calibration", reference="k", hk=Rating.DI_ATAS,
                             pk=Rating.DI_ATAS, reason="kalibrasi",
                             policy=app.get_rubric(world.rubric_id).policy(1), actor=HR,
                             at=world.clock())
    app.save(evaluation)
    assert aggregate_state(app.get_evaluation(eid)) == aggregate_state(evaluation)
    for aggregate_id in (world.employee, world.rater, world.cycle_id, world.rubric_id):
        first = app.repository.get(app_id(aggregate_id))
        assert aggregate_state(app.repository.get(first.id)) == aggregate_state(first)
    assert evaluation.items["violations"]["target"] == Decimal(40)
    assert isinstance(evaluation.starts_on, date)
    assert evaluation.appeal_due - evaluation.delivered_on == timedelta(days=14)


def app_id(value: Any) -> Any:
    from uuid import UUID
    return value if isinstance(value, UUID) else UUID(str(value))
