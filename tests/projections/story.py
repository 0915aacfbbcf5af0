"""A cycle told through the service that touches every read model: deliveries with
different predikat, an override, feedback, an organisational result, an appeal decided
with a change, a calibration, a lock with a justified breach, a reopening with a
correction, a lapsed appeal window, a transfer, a second rubric version.

Also the helpers every projection test shares: opening the read-model database beside a
ledger, and comparing live read models with a from-scratch replay.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from domain.values import FeedbackSource, OrganisationalResult, Rating
from projections.catalog import NAMES, all_tables, model_digest, table_rows
from projections.db import Database, open_database
from projections.replay import scratch_database
from projections.runner import ProjectionRunner
from tests.scenario import HR, PERIOD, UNIT, YEAR, TickingClock, World, build_world, \
    rate_fully


@dataclass
class Story:
    world: World
    positions: dict[str, int] = field(default_factory=dict)

    @property
    def employees(self) -> list[str]:
        return self.world.employees

    def evaluation(self, n: int) -> str:
        return self.world.evaluation_id(self.world.employees[n])


def tell(app: Any, clock: TickingClock) -> Story:
    world = build_world(app, clock, employees=4)
    story = Story(world=world)
    rater, head = world.rater, world.head
    e = story.evaluation
    emp = world.employees

    # e0: meets expectation; a peer and a citizen give feedback first.
    app.give_feedback(employee_id=emp[0], period=PERIOD, source=FeedbackSource.PEER,
                      giver_ref=head, score=4, actor=head)
    app.give_feedback(employee_id=emp[0], period=PERIOD, source=FeedbackSource.CITIZEN,
                      giver_ref="warga-17", score=3, channel="jaki", external_ref="J-1",
                      actor="channel:jaki")
    rate_fully(world, e(0), emp[0])
    app.deliver_result(e(0), actor=rater)
    # e1: violations far above target (lower is better: below expectation), patrol
    # overridden upwards with a reason; perilaku above expectation.
    rate_fully(world, e(1), emp[1], violations="60", perilaku=Rating.DI_ATAS)
    app.rate_item(e(1), item_id="patrol", override=Rating.DI_ATAS,
                  reason="patroli tambahan saat banjir", actor=rater)
    app.deliver_result(e(1), actor=rater)
    # e2: perilaku below expectation: kurang.
    rate_fully(world, e(2), emp[2], perilaku=Rating.DI_BAWAH)
    app.deliver_result(e(2), actor=rater)
    # e3: both items above expectation.
    rate_fully(world, e(3), emp[3], violations="20", patrol="120")
    story.positions["delivered"] = app.deliver_result(e(3), actor=rater).position

    app.set_organisational_result(world.cycle_id, period=PERIOD,
                                  result=OrganisationalResult.BAIK, actor=HR)
    # e2 appeals; the unit head asks the rater, then changes the result.
    appeal = app.file_appeal(e(2), grounds="laporan shift malam tidak dilihat",
                             actor=emp[2]).ids["appeal_id"]
    app.request_explanation(appeal, party="rater", question="mengapa?", actor=head)
    app.give_explanation(appeal, text="laporan tertinggal", actor=rater)
    story.positions["appeal_decided"] = app.decide_appeal(
        appeal, outcome="changed", hk=Rating.SESUAI, pk=Rating.SESUAI,
        reasons="bukti diterima", actor=head).position
    app.calibrate_result(e(3), session="kalibrasi-2026-01", hk=Rating.SESUAI,
                         pk=Rating.SESUAI, reason="sebaran unit", actor=HR)
    app.lock_cycle(world.cycle_id, justification="unit kecil; sebaran tidak bermakna",
                   actor=HR)
    story.positions["locked"] = app.recorder.max_notification_id()
    app.reopen_cycle(world.cycle_id, reason="salah input target", authority="SK BKD 12/2026",
                     actor=HR)
    story.positions["corrected"] = app.correct_result(
        e(0), hk=Rating.DI_ATAS, pk=Rating.DI_ATAS, reason="koreksi target", actor=HR).position
    app.lock_cycle(world.cycle_id, justification="koreksi selesai", actor=HR)
    clock.advance(days=20)
    app.record_appeal_lapsed(e(1), actor=HR)
    app.transfer_employee(emp[3], unit="Sudinhub Jakarta Barat", position="Petugas",
                          effective_from=date(YEAR, 3, 1), actor=HR)
    app.publish_rubric_version(world.rubric_id, version=2, effective_from=date(YEAR, 2, 1),
                               policy={"above_threshold": "120"}, indicators=[],
                               summary="ambang baru", actor=HR)
    story.positions["end"] = app.recorder.max_notification_id()
    return story


def read_model_db(settings: Any) -> Database:
    return open_database(settings.store(), pool_size=2)


@contextmanager
def replayed(app: Any, db: Database, *, stop: int | None = None,
             batch_size: int = 1000) -> Iterator[Database]:
    """The read models rebuilt from scratch (in a scratch database beside `db`)."""
    with scratch_database(db) as scratch:
        ProjectionRunner(app, scratch, batch_size=batch_size).catch_up(stop=stop)
        yield scratch


def contents(db: Database) -> dict[str, Any]:
    """Every row of every table (working state included), and every model's digest."""
    result: dict[str, Any] = {t.name: table_rows(db, t) for t in all_tables()}
    result["digests"] = {name: model_digest(db, name) for name in NAMES}
    return result


def assert_same_as_replay(app: Any, db: Database) -> None:
    live = contents(db)
    with replayed(app, db) as scratch:
        rebuilt = contents(scratch)
    for table in live:
        assert live[table] == rebuilt[table], f"{table} differs from a replay"


__all__ = ["Decimal", "UNIT", "PERIOD", "HR", "Story", "tell", "read_model_db", "replayed",
           "contents", "assert_same_as_replay"]
