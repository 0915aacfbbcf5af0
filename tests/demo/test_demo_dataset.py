"""The demo dataset: one seed gives one log, byte for byte, holding every kind of event
a newcomer, an inspector or an appeal panel should find in it."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.demo import (
    APPEAL_UNITS,
    CITIZEN_CHANNELS,
    StoreNotEmpty,
    load_demo,
)
from api.service import AppraisalLedger
from api.settings import Settings
from domain.appeal import Appeal
from domain.errors import InvalidValue
from domain.evaluation import Evaluation

SIZE = {"employees": 12, "months": 3}


def sqlite_settings(folder: Path) -> Settings:
    folder.mkdir(parents=True, exist_ok=True)
    return Settings(database_url=f"sqlite:///{folder / 'ledger.sqlite3'}",
                    data_dir=folder / "data")


def plain_ledger(folder: Path) -> AppraisalLedger:
    """The bare service on an SQLite file: what it stores is exactly what the demo
    decided (no encryption layer with its random nonces in between). The aggregate cache
    only saves replays; it changes no decision."""
    return AppraisalLedger({**sqlite_settings(folder).library_env(),
                            "AGGREGATE_CACHE_MAXSIZE": "5000"})


def read_log(app: AppraisalLedger) -> tuple[list[tuple[int, str, str, int, bytes]],
                                            list[Any]]:
    """Every notification as (id, topic, originator id, version, state bytes), and the
    events decoded from them."""
    rows, events, start = [], [], 1
    while True:
        page = app.recorder.select_notifications(start, 500)
        rows += [(n.id, n.topic, str(n.originator_id), n.originator_version, bytes(n.state))
                 for n in page]
        events += [app.mapper.to_domain_event(n) for n in page]
        if len(page) < 500:
            return rows, events
        start = page[-1].id + 1


class Run:
    def __init__(self, folder: Path, seed: int) -> None:
        self.app = plain_ledger(folder)
        self.summary = load_demo(self.app, seed=seed, **SIZE)
        self.log, self.events = read_log(self.app)

    def of(self, topic: str) -> list[Any]:
        return [e for e, row in zip(self.events, self.log, strict=True) if row[1] == topic]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    made = {"first": Run(tmp_path_factory.mktemp("first"), seed=7),
            "again": Run(tmp_path_factory.mktemp("again"), seed=7),
            "other seed": Run(tmp_path_factory.mktemp("other"), seed=8)}
    yield made
    for run in made.values():
        run.app.close()


@pytest.fixture(scope="module")
def run(runs: dict[str, Run]) -> Run:
    return runs["first"]


def test_one_seed_gives_the_same_log_byte_for_byte(runs: dict[str, Run]) -> None:
    first, again = runs["first"].log, runs["again"].log
    assert len(first) > 1000
    assert first == again


def test_another_seed_gives_another_log(runs: dict[str, Run]) -> None:
    first, other = runs["first"].log, runs["other seed"].log
    assert [row[4] for row in first[:50]] != [row[4] for row in other[:50]]
    assert {row[2] for row in first} != {row[2] for row in other}


def test_the_summary_counts_what_the_log_holds(run: Run) -> None:
    summary = run.summary
    assert summary.events == len(run.log) == sum(summary.events_by_topic.values())
    assert summary.last_position == run.log[-1][0]
    assert Counter(row[1] for row in run.log) == summary.events_by_topic
    assert summary.units and sum(summary.units.values()) == SIZE["employees"]
    assert summary.evaluations == SIZE["employees"] * SIZE["months"]
    assert summary.periods == ["2026-01", "2026-02", "2026-03"]
    assert set(summary.actors) == {"admin", "rater", "employee", "peer", "citizen_channel",
                                   "inspector", "appeal_panel"}


def test_the_dataset_holds_every_kind_of_event_the_issue_lists(run: Run) -> None:
    topics = Counter(row[1] for row in run.log)
    published = run.of("kinerja.rubric.version-published.v1")
    assert [e.version for e in published] == [1, 2]
    assert {e.rubric_version for e in run.of("kinerja.evaluation.started.v1")} == {1, 2}
    assert topics["kinerja.cycle.locked.v1"] == 2
    assert topics["kinerja.cycle.reopened.v1"] == 1
    assert topics["kinerja.cycle.appeal-panel-named.v1"] == 1
    assert topics["kinerja.cycle.organisational-result-set.v1"] == 6 * SIZE["months"]
    changes = run.of("kinerja.evaluation.result-changed.v1")
    assert {e.source for e in changes} == {"calibration", "correction", "appeal"}
    assert {e.outcome for e in run.of("kinerja.appeal.decided.v1")} == {"kept", "changed"}
    assert topics["kinerja.appeal.withdrawn.v1"] == 1
    assert topics["kinerja.appeal.explanation-requested.v1"] >= 2
    assert topics["kinerja.appeal.explanation-given.v1"] >= 2
    assert topics["kinerja.evaluation.appeal-lapsed.v1"] > 0
    feedback = run.of("kinerja.feedback.given.v1")
    citizen = [e for e in feedback if e.source == "citizen"]
    assert {e.channel for e in citizen} == {c for c, _, _ in CITIZEN_CHANNELS}
    assert all(e.external_ref for e in feedback)
    assert any(e.source == "peer" and e.value for e in feedback)
    realisations = run.of("kinerja.evaluation.realisation-recorded.v1")
    assert realisations and all(
        re.fullmatch(r"https://e-kinerja\.jakarta\.go\.id/bukti/[0-9a-f]{16}\.pdf", ref)
        for e in realisations for ref in e.evidence)
    overrides = [e for e in run.of("kinerja.evaluation.item-rated.v1") if e.override_reason]
    assert overrides and all(e.rating != e.computed_rating for e in overrides)
    assert len(run.of("kinerja.evaluation.perilaku-rated.v1")) == 7 * run.summary.evaluations
    assert topics["kinerja.evaluation.result-delivered.v1"] == run.summary.evaluations


def test_a_late_appeal_is_refused_and_leaves_no_trace(run: Run) -> None:
    assert run.summary.highlights["late appeals refused"] == 1
    filed = run.of("kinerja.appeal.filed.v1")
    assert len(filed) == len(APPEAL_UNITS) - 1  # kept, changed, withdrawn; not the late one
    units_appealed = {run.app.get_evaluation(e.evaluation_id).unit for e in filed}
    assert APPEAL_UNITS["late"] not in units_appealed


def test_the_panel_decides_in_its_cycle_and_the_superior_elsewhere(run: Run) -> None:
    filed = {run.app.get_evaluation(e.evaluation_id).unit: e
             for e in run.of("kinerja.appeal.filed.v1")}
    assert filed[APPEAL_UNITS["changed"]].reviewer_kind == "panel"
    assert filed[APPEAL_UNITS["kept"]].reviewer_kind == "superior"


def test_evaluations_from_mid_year_pin_the_second_rubric_version(run: Run) -> None:
    effective = run.of("kinerja.rubric.version-published.v1")[1].effective_from
    for started in run.of("kinerja.evaluation.started.v1"):
        assert started.rubric_version == (2 if started.starts_on >= effective else 1)


def test_the_log_follows_one_simulated_calendar_in_jakarta_time(run: Run) -> None:
    stamps = [e.timestamp for e in run.events]
    assert stamps == sorted(stamps)
    assert all(s.utcoffset() == timedelta(hours=7) for s in stamps)
    assert stamps[0].date() == date(2025, 12, 15)
    assert all(e.at == e.timestamp for e in run.events)


def test_every_employee_has_an_indonesian_name_and_a_valid_nip(run: Run) -> None:
    registered = run.of("kinerja.employee.registered.v1")
    assert len(registered) == run.summary.employees_registered
    assert len({e.nip for e in registered}) == len(registered)
    for employee in registered:
        nip = employee.nip
        assert re.fullmatch(r"\d{18}", nip)
        born = datetime.strptime(nip[:8], "%Y%m%d").date()
        appointed = datetime.strptime(nip[8:14], "%Y%m").date()
        assert 1960 < born.year < appointed.year <= 2024
        assert nip[14] in "12"
        assert employee.name.strip() and employee.unit.startswith(("Sudinhub", "Dinas"))


def test_the_sample_is_an_appealed_evaluation_changed_after_the_as_of_day(run: Run) -> None:
    summary = run.summary
    evaluation = run.app.get_evaluation(summary.sample_evaluation_id)
    assert evaluation.employee_id == summary.sample_employee_id
    assert run.app.exists(Appeal.id_for(evaluation.id))
    assert evaluation.delivered_on is not None
    assert evaluation.delivered_on <= summary.as_of
    change = next(e for e in run.of("kinerja.evaluation.result-changed.v1")
                  if e.originator_id == evaluation.id)
    assert change.source == "appeal" and change.at.date() > summary.as_of
    assert summary.actors["employee"] == evaluation.employee_id
    assert summary.actors["rater"] == evaluation.delivered_by


def test_a_store_that_holds_events_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    app = plain_ledger(tmp_path)
    try:
        app.register_employee(nip="199001012015031001", name="Sudah Ada", unit="Lain",
                              position="Staf", actor="bkd:admin")
        before = app.recorder.max_notification_id()
        with pytest.raises(StoreNotEmpty):
            load_demo(app, employees=6, months=1)
        assert app.recorder.max_notification_id() == before
    finally:
        app.close()


@pytest.mark.parametrize("size", [{"employees": 5}, {"months": 0}, {"months": 13},
                                  {"employees": True}])
def test_sizes_the_demo_cannot_hold_are_refused(tmp_path: Path, size: dict[str, Any]) -> None:
    app = plain_ledger(tmp_path)
    try:
        with pytest.raises(InvalidValue):
            load_demo(app, **size)
        assert not app.recorder.max_notification_id()
    finally:
        app.close()


def test_the_clock_of_the_ledger_is_given_back(tmp_path: Path) -> None:
    app = plain_ledger(tmp_path)
    try:
        clock = app.clock
        load_demo(app, employees=6, months=1, seed=1)
        assert app.clock is clock
    finally:
        app.close()


def test_evaluation_ids_name_employee_and_period(run: Run) -> None:
    for started in run.of("kinerja.evaluation.started.v1"):
        assert started.originator_id == Evaluation.id_for(started.employee_id,
                                                          started.period)
