"""Property: however the log is cut into batches, and however often the runner restarts,
the read models equal a from-scratch replay byte for byte; and every query asked as of a
position answers what it answered live at that position.

The log comes from random commands against the service (refused ones record nothing),
on the world of tests/scenario.py with three employees.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.values import (
    Aspect,
    BerakhlakValue,
    Direction,
    FeedbackSource,
    ItemKind,
    OrganisationalResult,
    Rating,
)
from projections.queries import ReadModels
from projections.runner import ProjectionRunner
from tests.projections.conftest import fresh_settings
from tests.projections.story import assert_same_as_replay, read_model_db
from tests.scenario import HR, PERIOD, UNIT, YEAR, TickingClock, World, build_world

EMPLOYEE = st.integers(0, 2)
ITEM = st.sampled_from(["a", "b"])
RATING = st.sampled_from(list(Rating))
NUMBER = st.integers(0, 150).map(Decimal)

#: Moves one evaluation a stage on (prepare, deliver, appeal, ask, answer, decide), so
#: that random sequences reach deliveries, appeals and their decisions often.
ADVANCE = st.tuples(st.just("advance"), EMPLOYEE, st.integers(1, 120), st.integers(1, 150),
                    RATING, RATING, RATING)
OTHER = st.one_of(
    st.tuples(st.just("prepare"), EMPLOYEE, st.integers(1, 120), st.integers(1, 150),
              RATING),
    st.tuples(st.just("plan"), EMPLOYEE, ITEM, st.sampled_from(list(ItemKind)),
              st.sampled_from(list(Direction)), st.integers(1, 100).map(Decimal)),
    st.tuples(st.just("fix"), EMPLOYEE),
    st.tuples(st.just("realise"), EMPLOYEE, ITEM, NUMBER, st.booleans()),
    st.tuples(st.just("rate"), EMPLOYEE, ITEM, st.none() | RATING),
    st.tuples(st.just("perilaku"), EMPLOYEE, st.sampled_from(list(BerakhlakValue)), RATING),
    st.tuples(st.just("feedback"), EMPLOYEE, st.sampled_from(list(FeedbackSource)),
              st.integers(1, 5)),
    st.tuples(st.just("deliver"), EMPLOYEE),
    st.tuples(st.just("org_result"), st.sampled_from(list(OrganisationalResult))),
    st.tuples(st.just("appeal"), EMPLOYEE),
    st.tuples(st.just("ask"), EMPLOYEE),
    st.tuples(st.just("answer"), EMPLOYEE),
    st.tuples(st.just("decide"), EMPLOYEE, st.booleans(), RATING, RATING),
    st.tuples(st.just("calibrate"), EMPLOYEE, RATING, RATING),
    st.tuples(st.just("lock"), st.booleans()),
    st.tuples(st.just("reopen")),
    st.tuples(st.just("correct"), EMPLOYEE, RATING, RATING),
    st.tuples(st.just("lapse"), EMPLOYEE),
    st.tuples(st.just("publish")),
    st.tuples(st.just("reassign"), EMPLOYEE),
)
COMMAND = st.integers(0, 9).flatmap(lambda n: ADVANCE if n < 5 else OTHER)
#: After a command: nothing, catch up in batches of n, or restart the runner first.
AFTER = st.one_of(st.just(("none", 0)),
                  st.tuples(st.sampled_from(["catch_up", "restart"]), st.integers(1, 9)))
STEPS = st.lists(st.tuples(COMMAND, AFTER), min_size=8, max_size=24)


def run(command: tuple, app: Any, world: World, clock: TickingClock) -> str:
    """Run one command; the name of what it ran."""
    name, *args = command
    emp = world.employees
    evaluation = world.evaluation_id(emp[args[0]]) if args and name not in (
        "org_result", "lock") else None
    appeal = None
    if evaluation is not None:
        from domain.appeal import Appeal
        appeal = str(Appeal.id_for(__import__("uuid").UUID(evaluation)))
    rater, head = world.rater, world.head
    if name == "advance":
        name, args = _stage(app, evaluation, appeal, args)
    if name == "prepare":
        _, violations, patrol, perilaku = args
        for item, direction, target in (("a", Direction.LOWER_IS_BETTER, 40),
                                        ("b", Direction.HIGHER_IS_BETTER, 100)):
            app.plan_item(evaluation, item_id=item, kind=ItemKind.UTAMA, aspect=Aspect.WAKTU,
                          indicator=f"indikator {item}", target=Decimal(target),
                          direction=direction, actor=rater)
        app.fix_targets(evaluation, actor=rater)
        for item, value in (("a", violations), ("b", patrol)):
            app.record_realisation(evaluation, item_id=item, value=Decimal(value),
                                   evidence=["bukti"], actor=emp[args[0]])
            app.rate_item(evaluation, item_id=item, actor=rater)
        for value in BerakhlakValue:
            app.rate_perilaku(evaluation, value=value, rating=perilaku, actor=rater)
    elif name == "plan":
        _, item, kind, direction, target = args
        app.plan_item(evaluation, item_id=item, kind=kind, aspect=Aspect.KUANTITAS,
                      indicator="indikator", target=target, direction=direction,
                      actor=rater)
    elif name == "fix":
        app.fix_targets(evaluation, actor=rater)
    elif name == "realise":
        _, item, value, noted = args
        app.record_realisation(evaluation, item_id=item, value=value, evidence=["bukti"],
                               note="catatan" if noted else None, actor=emp[args[0]])
    elif name == "rate":
        _, item, override = args
        app.rate_item(evaluation, item_id=item, override=override, reason="alasan",
                      actor=rater)
    elif name == "perilaku":
        _, value, rating = args
        app.rate_perilaku(evaluation, value=value, rating=rating, actor=rater)
    elif name == "feedback":
        _, source, score = args
        citizen = source is FeedbackSource.CITIZEN
        app.give_feedback(employee_id=emp[args[0]], period=PERIOD, source=source,
                          giver_ref="warga" if citizen else head, score=score,
                          channel="jaki" if citizen else None,
                          actor="channel:jaki" if citizen else head)
    elif name == "deliver":
        app.deliver_result(evaluation, departure_reason="alasan menyimpang", actor=rater)
    elif name == "org_result":
        app.set_organisational_result(world.cycle_id, period=PERIOD, result=args[0],
                                      actor=HR)
    elif name == "appeal":
        app.file_appeal(evaluation, grounds="keberatan", actor=emp[args[0]])
    elif name == "ask":
        app.request_explanation(appeal, party="rater", question="mengapa?", actor=head)
    elif name == "answer":
        app.give_explanation(appeal, text="karena", actor=rater)
    elif name == "decide":
        _, changed, hk, pk = args
        app.decide_appeal(appeal, outcome="changed" if changed else "kept", hk=hk, pk=pk,
                          reasons="putusan", actor=head)
    elif name == "calibrate":
        app.calibrate_result(evaluation, session="kalibrasi", hk=args[1], pk=args[2],
                             reason="sebaran", actor=HR)
    elif name == "lock":
        app.lock_cycle(world.cycle_id, justification="alasan" if args[0] else None,
                       actor=HR)
    elif name == "reopen":
        app.reopen_cycle(world.cycle_id, reason="koreksi", authority="SK 1", actor=HR)
    elif name == "correct":
        app.correct_result(evaluation, hk=args[1], pk=args[2], reason="koreksi", actor=HR)
    elif name == "lapse":
        clock.advance(days=15)
        app.record_appeal_lapsed(evaluation, actor=HR)
    elif name == "publish":
        rubric = app.get_rubric(world.rubric_id)
        app.publish_rubric_version(world.rubric_id, version=rubric.latest_version + 1,
                                   effective_from=date(YEAR, 1, 1),
                                   policy={"majority_share": "0.4"}, indicators=[],
                                   summary="versi baru", actor=HR)
    elif name == "reassign":
        app.assign_rater(emp[args[0]], rater_id=head, effective_from=date(YEAR, 1, 1),
                         actor=HR)
    return name


def _stage(app: Any, evaluation: str, appeal: str, args: list) -> tuple[str, list]:
    """The command that takes this evaluation to its next stage."""
    employee, violations, patrol, perilaku, hk, pk = args
    state = app.get_evaluation(evaluation)
    if not state.items:
        return "prepare", [employee, violations, patrol, perilaku]
    if state.delivered_on is None:
        return "deliver", [employee]
    if not app.exists(__import__("uuid").UUID(appeal)):
        return "appeal", [employee]
    filed = app.get_appeal(appeal)
    if filed.status == "filed":
        return "ask", [employee]
    if filed.open_requests:
        return "answer", [employee]
    return "decide", [employee, True, hk, pk]


def answers(models: ReadModels, world: World, as_of: int | None = None) -> dict[str, Any]:
    """Everything the API would ask, at once."""
    evaluations = [world.evaluation_id(e) for e in world.employees]
    return {
        "list": models.list_evaluations(unit=UNIT, period=PERIOD, as_of=as_of, limit=2),
        "evaluations": [models.evaluation(e, as_of=as_of) for e in evaluations],
        "explain": [models.explain(e, as_of=as_of) for e in evaluations],
        "history": [models.history(e, as_of=as_of) for e in world.employees],
        "distribution": models.distribution(UNIT, PERIOD, as_of=as_of),
        "audit": [models.audit(a, as_of=as_of, limit=500) for a in (HR, world.rater)],
    }


def check_property(kind: str, steps: list, final_batch: int) -> None:
    with TemporaryDirectory() as directory, fresh_settings(kind, Path(directory)) as config:
        from api.store import open_ledger

        clock = TickingClock()
        app = open_ledger(config, clock=clock, group_commit=False)
        db = read_model_db(config)
        try:
            world = build_world(app, clock, employees=3)
            models = ReadModels(db, app)
            runner = ProjectionRunner(app, db, batch_size=5)
            seen: dict[int, dict[str, Any]] = {}
            for command, (after, batch) in steps:
                try:
                    event(f"recorded: {run(command, app, world, clock)}")  # --hypothesis-show-statistics
                except DomainError:
                    pass  # refused: nothing recorded
                if after == "none":
                    continue
                if after == "restart":
                    runner = ProjectionRunner(app, db, batch_size=batch)
                position = runner.catch_up(batch)
                seen[position] = answers(models, world)
            ProjectionRunner(app, db, batch_size=final_batch).catch_up()
            assert_same_as_replay(app, db)
            for position, live in seen.items():
                assert answers(models, world, as_of=position) == live, position
        finally:
            db.close()
            app.close()


def bounded(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@bounded(12)
@given(steps=STEPS, final_batch=st.integers(1, 50))
def test_incremental_projection_equals_a_replay_on_sqlite(steps, final_batch):
    check_property("sqlite", steps, final_batch)


@bounded(8)
@given(steps=STEPS, final_batch=st.integers(1, 50))
def test_incremental_projection_equals_a_replay_on_memory(steps, final_batch):
    check_property("memory", steps, final_batch)
