"""Specifications of the performance cycle: periods, the lock with its distribution check,
reopening, and what a locked cycle refuses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.cycle import PerformanceCycle, period_bounds
from domain.errors import (
    AlreadyExists,
    CycleLocked,
    CycleNotLocked,
    DistributionBreach,
    InvalidValue,
    NotFound,
    PeriodAlreadyOpen,
    PeriodNotOpen,
    ReasonRequired,
)
from domain.values import (
    Aspect,
    BerakhlakValue,
    Direction,
    ItemKind,
    OrganisationalResult,
    Periodicity,
    Rating,
)
from tests.domain.spec import only, refused, topics, when
from tests.scenario import HR, PERIOD, UNIT, build_world, rate_fully

ATAS, SESUAI, BAWAH = Rating.DI_ATAS, Rating.SESUAI, Rating.DI_BAWAH


def delivered(world, employee, **rating):
    eid = world.evaluation_id(employee)
    rate_fully(world, eid, employee, **rating)
    world.app.deliver_result(eid, actor=world.rater)
    return eid


# --- starting cycles and opening periods -----------------------------------------------

def test_starting_a_cycle_records_unit_year_periodicity_and_rubric(world, app):
    new = when(app, lambda: app.start_cycle(unit="Sudinhub Jakarta Barat", year=2026,
                                            periodicity=Periodicity.QUARTERLY,
                                            rubric_id=world.rubric_id, actor=HR))
    event = only(new, "kinerja.cycle.started.v1")
    assert event.originator_id == PerformanceCycle.id_for("Sudinhub Jakarta Barat", 2026)
    assert event.fields == {"actor": HR, "at": event["at"], "unit": "Sudinhub Jakarta Barat",
                            "year": 2026, "periodicity": "quarterly",
                            "rubric_id": event["rubric_id"]}
    assert str(event["rubric_id"]) == world.rubric_id


def test_one_cycle_per_unit_and_year(world, app):
    refused(app, AlreadyExists, lambda: app.start_cycle(
        unit=UNIT, year=2026, periodicity=Periodicity.MONTHLY, rubric_id=world.rubric_id,
        actor=HR))


@pytest.mark.parametrize("changes", [
    {"year": 1999}, {"year": 2101}, {"unit": " "}, {"periodicity": "weekly"},
    {"rubric_id": "nope"},
])
def test_an_invalid_cycle_is_refused(world, app, changes):
    command = dict(unit="Sudinhub Jakarta Timur", year=2026,
                   periodicity=Periodicity.MONTHLY, rubric_id=world.rubric_id, actor=HR)
    refused(app, InvalidValue, lambda: app.start_cycle(**{**command, **changes}))


def test_a_cycle_needs_an_existing_rubric(world, app):
    refused(app, NotFound, lambda: app.start_cycle(
        unit="Sudinhub Jakarta Timur", year=2026, periodicity=Periodicity.MONTHLY,
        rubric_id="00000000-0000-0000-0000-000000000001", actor=HR))


def test_opening_a_period_records_its_bounds(world, app):
    new = when(app, lambda: app.open_period(world.cycle_id, period="2026-02", actor=HR))
    assert only(new, "kinerja.cycle.period-opened.v1").fields == {
        "actor": HR, "at": new[0]["at"], "period": "2026-02",
        "starts_on": date(2026, 2, 1), "ends_on": date(2026, 2, 28)}


@pytest.mark.parametrize(("period", "error"), [
    ("2026-01", PeriodAlreadyOpen), ("2025-12", InvalidValue), ("2026-13", InvalidValue),
    ("2026-Q1", InvalidValue), ("Januari", InvalidValue),
])
def test_a_period_opens_once_within_the_cycle_year(world, app, period, error):
    refused(app, error, lambda: app.open_period(world.cycle_id, period=period, actor=HR))


@pytest.mark.parametrize(("period", "periodicity", "bounds"), [
    ("2026-02", Periodicity.MONTHLY, (date(2026, 2, 1), date(2026, 2, 28))),
    ("2028-02", Periodicity.MONTHLY, (date(2028, 2, 1), date(2028, 2, 29))),
    ("2026-12", Periodicity.MONTHLY, (date(2026, 12, 1), date(2026, 12, 31))),
    ("2026-Q1", Periodicity.QUARTERLY, (date(2026, 1, 1), date(2026, 3, 31))),
    ("2026-Q4", Periodicity.QUARTERLY, (date(2026, 10, 1), date(2026, 12, 31))),
])
def test_period_bounds(period, periodicity, bounds):
    assert period_bounds(period, periodicity) == bounds


def test_closing_a_period_refuses_new_evaluations_in_it(world, app, clock):
    new = when(app, lambda: app.close_period(world.cycle_id, period=PERIOD, actor=HR))
    assert topics(new) == ["kinerja.cycle.period-closed.v1"]
    refused(app, PeriodNotOpen, lambda: app.close_period(world.cycle_id, period=PERIOD,
                                                        actor=HR))
    late = app.register_employee(nip="199501012020011001", name="Pegawai Baru", unit=UNIT,
                                 position="Petugas", actor=HR).ids["employee_id"]
    refused(app, PeriodNotOpen, lambda: app.start_evaluations(
        world.cycle_id, period=PERIOD, employee_ids=[late], actor=HR))


def test_setting_the_organisational_result(world, app):
    new = when(app, lambda: app.set_organisational_result(
        world.cycle_id, period=PERIOD, result=OrganisationalResult.ISTIMEWA, actor=HR))
    assert only(new, "kinerja.cycle.organisational-result-set.v1").fields["result"] == (
        "istimewa")
    refused(app, PeriodNotOpen, lambda: app.set_organisational_result(
        world.cycle_id, period="2026-05", result=OrganisationalResult.BAIK, actor=HR))
    refused(app, InvalidValue, lambda: app.set_organisational_result(
        world.cycle_id, period=PERIOD, result="luar_biasa", actor=HR))


# --- the lock and the distribution curve -----------------------------------------------

@pytest.fixture
def unit_of_three(app, clock):
    """Three employees with delivered results: two Baik, one Sangat Baik."""
    world = build_world(app, clock, employees=3)
    delivered(world, world.employees[0])
    delivered(world, world.employees[1])
    delivered(world, world.employees[2], violations="20", patrol="120", perilaku=ATAS)
    return world


def test_a_lock_within_the_curve_records_the_checks(unit_of_three, app):
    world = unit_of_three
    app.set_organisational_result(world.cycle_id, period=PERIOD,
                                  result=OrganisationalResult.ISTIMEWA, actor=HR)
    new = when(app, lambda: app.lock_cycle(world.cycle_id, justification=None, actor=HR))
    event = only(new, "kinerja.cycle.locked.v1")
    assert event.fields == {
        "actor": HR, "at": event["at"], "breaches": [], "justification": None,
        "distribution": {PERIOD: [{"predikat": ["sangat_baik"], "bound": "max_share",
                                   "value": "0.70", "count": 1, "total": 3,
                                   "holds": True}]}}


def test_a_lock_breaching_the_curve_is_refused_without_a_justification(unit_of_three, app):
    world = unit_of_three
    # A unit rated Butuh Perbaikan needs at least 60 % Butuh Perbaikan: it has none.
    app.set_organisational_result(world.cycle_id, period=PERIOD,
                                  result=OrganisationalResult.BUTUH_PERBAIKAN, actor=HR)
    error = refused(app, DistributionBreach, lambda: app.lock_cycle(
        world.cycle_id, justification="  ", actor=HR))
    assert error.details["breaches"] == [
        "2026-01: butuh_perbaikan min_share 0.60 (have 0 of 3)",
        "2026-01: sangat_baik max_share 0.10 (have 1 of 3)"]
    assert not app.get_cycle(world.cycle_id).locked


def test_a_lock_breaching_the_curve_is_accepted_with_a_recorded_justification(
        unit_of_three, app):
    world = unit_of_three
    app.set_organisational_result(world.cycle_id, period=PERIOD,
                                  result=OrganisationalResult.BUTUH_PERBAIKAN, actor=HR)
    new = when(app, lambda: app.lock_cycle(
        world.cycle_id, justification="Nota dinas 12/2026: unit baru dibentuk", actor=HR))
    fields = only(new, "kinerja.cycle.locked.v1").fields
    assert fields["justification"] == "Nota dinas 12/2026: unit baru dibentuk"
    assert fields["breaches"] == ["2026-01: butuh_perbaikan min_share 0.60 (have 0 of 3)",
                                  "2026-01: sangat_baik max_share 0.10 (have 1 of 3)"]
    assert [c["holds"] for c in fields["distribution"][PERIOD]] == [False, False]


def test_a_period_without_an_organisational_result_is_not_checked(unit_of_three, app):
    new = when(app, lambda: app.lock_cycle(unit_of_three.cycle_id, justification=None,
                                           actor=HR))
    assert only(new).fields["distribution"] == {}


def test_the_distribution_counts_the_result_after_calibration(unit_of_three, app):
    world = unit_of_three
    app.set_organisational_result(world.cycle_id, period=PERIOD,
                                  result=OrganisationalResult.ISTIMEWA, actor=HR)
    app.calibrate_result(world.evaluation_id(world.employees[0]), session="kalibrasi-1",
                         hk=ATAS, pk=ATAS, reason="Kalibrasi unit", actor=HR)
    app.calibrate_result(world.evaluation_id(world.employees[1]), session="kalibrasi-1",
                         hk=ATAS, pk=ATAS, reason="Kalibrasi unit", actor=HR)
    # Three of three Sangat Baik now breach the 70 % ceiling.
    refused(app, DistributionBreach, lambda: app.lock_cycle(world.cycle_id,
                                                            justification=None, actor=HR))


def test_a_cycle_locks_once(world, app):
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    refused(app, CycleLocked, lambda: app.lock_cycle(world.cycle_id, justification=None,
                                                    actor=HR))


# --- what a locked cycle refuses -------------------------------------------------------

def test_a_locked_cycle_refuses_new_ratings(world, app):
    eid = world.evaluation_id()
    app.plan_item(eid, item_id="patrol", kind=ItemKind.UTAMA, aspect=Aspect.WAKTU,
                  indicator="Patroli", target=Decimal(100),
                  direction=Direction.HIGHER_IS_BETTER, actor=world.rater)
    app.fix_targets(eid, actor=world.rater)
    app.record_realisation(eid, item_id="patrol", value=Decimal(90), evidence=[],
                           actor=world.employee)
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    refused(app, CycleLocked, lambda: app.rate_item(eid, item_id="patrol",
                                                   actor=world.rater))
    refused(app, CycleLocked, lambda: app.rate_perilaku(
        eid, value=BerakhlakValue.LOYAL, rating=SESUAI, actor=world.rater))
    refused(app, CycleLocked, lambda: app.record_realisation(
        eid, item_id="patrol", value=Decimal(95), evidence=[], actor=world.employee))
    refused(app, CycleLocked, lambda: app.deliver_result(eid, actor=world.rater))


def test_a_locked_cycle_refuses_planning_periods_and_new_evaluations(world, app):
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    refused(app, CycleLocked, lambda: app.plan_item(
        world.evaluation_id(), item_id="x", kind=ItemKind.UTAMA, aspect=Aspect.KUALITAS,
        indicator="x", target=Decimal(1), direction=Direction.HIGHER_IS_BETTER,
        actor=world.rater))
    refused(app, CycleLocked, lambda: app.fix_targets(world.evaluation_id(),
                                                     actor=world.rater))
    refused(app, CycleLocked, lambda: app.open_period(world.cycle_id, period="2026-02",
                                                     actor=HR))
    refused(app, CycleLocked, lambda: app.close_period(world.cycle_id, period=PERIOD,
                                                      actor=HR))
    refused(app, CycleLocked, lambda: app.set_organisational_result(
        world.cycle_id, period=PERIOD, result=OrganisationalResult.BAIK, actor=HR))


def test_a_locked_cycle_refuses_calibration(world, app):
    eid = delivered(world, world.employee)
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    refused(app, CycleLocked, lambda: app.calibrate_result(
        eid, session="kalibrasi", hk=ATAS, pk=ATAS, reason="terlambat", actor=HR))


# --- calibration before the lock -------------------------------------------------------

def test_calibration_supersedes_the_delivered_result_and_keeps_it_in_the_log(world, app):
    eid = delivered(world, world.employee)
    delivered_version = app.get_evaluation(eid).result_version
    new = when(app, lambda: app.calibrate_result(
        eid, session="Rapat kalibrasi 2026-02-03", hk=ATAS, pk=ATAS,
        reason="Capaian lapangan di atas rata-rata unit", actor=HR))
    assert only(new, "kinerja.evaluation.result-changed.v1").fields == {
        "actor": HR, "at": new[0]["at"], "source": "calibration",
        "reference": "Rapat kalibrasi 2026-02-03",
        "previous": {"hasil_kerja": "sesuai_ekspektasi", "perilaku_kerja": "sesuai_ekspektasi",
                     "predikat": "baik"},
        "hasil_kerja": "di_atas_ekspektasi", "perilaku_kerja": "di_atas_ekspektasi",
        "predikat": "sangat_baik", "reason": "Capaian lapangan di atas rata-rata unit",
        "supersedes": delivered_version}


@pytest.mark.parametrize(("changes", "error"), [
    ({"reason": ""}, ReasonRequired), ({"session": ""}, InvalidValue),
    ({"hk": "luar_biasa"}, InvalidValue),
])
def test_an_invalid_calibration_is_refused(world, app, changes, error):
    eid = delivered(world, world.employee)
    command = dict(session="k", hk=ATAS, pk=ATAS, reason="r", actor=HR)
    refused(app, error, lambda: app.calibrate_result(eid, **{**command, **changes}))


def test_an_undelivered_result_is_not_calibrated(world, app):
    from domain.errors import EvaluationNotDelivered
    refused(app, EvaluationNotDelivered, lambda: app.calibrate_result(
        world.evaluation_id(), session="k", hk=ATAS, pk=ATAS, reason="r", actor=HR))


# --- reopening and correction ----------------------------------------------------------

def test_reopening_needs_a_reason_and_an_authority(world, app):
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    refused(app, ReasonRequired, lambda: app.reopen_cycle(
        world.cycle_id, reason="", authority="SK BKD 7/2026", actor=HR))
    refused(app, InvalidValue, lambda: app.reopen_cycle(
        world.cycle_id, reason="Salah input", authority=" ", actor=HR))
    new = when(app, lambda: app.reopen_cycle(world.cycle_id, reason="Salah input realisasi",
                                             authority="SK Kepala BKD 7/2026", actor=HR))
    assert only(new, "kinerja.cycle.reopened.v1").fields == {
        "actor": HR, "at": new[0]["at"], "reason": "Salah input realisasi",
        "authority": "SK Kepala BKD 7/2026"}


def test_only_a_locked_cycle_is_reopened(world, app):
    refused(app, CycleNotLocked, lambda: app.reopen_cycle(
        world.cycle_id, reason="r", authority="a", actor=HR))


def test_after_reopening_a_correction_supersedes_the_result(world, app):
    eid = delivered(world, world.employee)
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    refused(app, CycleLocked, lambda: app.correct_result(
        eid, hk=BAWAH, pk=SESUAI, reason="Realisasi ganda", actor=HR))
    reopened = when(app, lambda: app.reopen_cycle(
        world.cycle_id, reason="Realisasi tercatat ganda", authority="SK BKD 7/2026",
        actor=HR))
    new = when(app, lambda: app.correct_result(eid, hk=BAWAH, pk=SESUAI,
                                               reason="Realisasi tercatat ganda", actor=HR))
    fields = only(new, "kinerja.evaluation.result-changed.v1").fields
    assert fields["source"] == "correction"
    # The correction cites the reopening event that authorised it.
    assert fields["reference"] == f"{world.cycle_id}/{reopened[0].originator_version}"
    assert fields["predikat"] == "butuh_perbaikan"
    assert fields["previous"]["predikat"] == "baik"
    # Locked again, no further correction is accepted.
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    refused(app, CycleLocked, lambda: app.correct_result(
        eid, hk=SESUAI, pk=SESUAI, reason="lagi", actor=HR))


def test_a_correction_needs_a_reopened_cycle(world, app):
    eid = delivered(world, world.employee)
    refused(app, CycleNotLocked, lambda: app.correct_result(
        eid, hk=BAWAH, pk=SESUAI, reason="sebelum kunci", actor=HR))


def test_after_reopening_an_undelivered_evaluation_can_be_rated_again(world, app):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    refused(app, CycleLocked, lambda: app.deliver_result(eid, actor=world.rater))
    app.reopen_cycle(world.cycle_id, reason="Terlambat", authority="SK BKD 8/2026", actor=HR)
    assert topics(when(app, lambda: app.deliver_result(eid, actor=world.rater))) == [
        "kinerja.evaluation.result-delivered.v1"]


def test_naming_an_appeal_panel(world, app):
    new = when(app, lambda: app.name_appeal_panel(world.cycle_id,
                                                  members=["panel:b", "panel:a", "panel:a"],
                                                  actor=HR))
    assert only(new, "kinerja.cycle.appeal-panel-named.v1").fields["members"] == [
        "panel:a", "panel:b"]
    refused(app, InvalidValue, lambda: app.name_appeal_panel(world.cycle_id, members=[],
                                                             actor=HR))
