"""Specifications of employees (registration, raters, transfer, end of employment) and of
rubrics (whole versions, the next number only, the version in force, pinning)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from domain.errors import (
    AlreadyExists,
    EmploymentEnded,
    InvalidValue,
    NoRubricInForce,
    NotFound,
    ReasonRequired,
    RubricVersionConflict,
)
from domain.evaluation import Evaluation
from domain.rubric import Rubric
from domain.values import Periodicity, Rating
from tests.domain.spec import all_events, only, refused, topics, when
from tests.scenario import HR, PERIOD, UNIT, build_world, rate_fully

OTHER_UNIT = "Sudinhub Jakarta Utara"


def register(app, **changes):
    command = dict(nip="199003032015031003", name="Dewi Lestari", unit=UNIT,
                   position="Petugas Lapangan", actor=HR)
    return app.register_employee(**{**command, **changes}).ids["employee_id"]


# --- employees -------------------------------------------------------------------------

def test_registering_an_employee_records_the_personal_fields_once(app):
    new = when(app, lambda: register(app, nip="1990 0303 2015 0310 03"))
    assert only(new, "kinerja.employee.registered.v1").fields == {
        "actor": HR, "at": new[0]["at"], "nip": "199003032015031003", "name": "Dewi Lestari",
        "unit": UNIT, "position": "Petugas Lapangan"}


@pytest.mark.parametrize("changes", [
    {"nip": "1234567"}, {"nip": "1" * 19}, {"nip": "19900303201503100X"}, {"nip": ""},
    {"name": " "}, {"unit": ""}, {"position": ""}, {"name": "x" * 201},
])
def test_an_invalid_registration_is_refused(app, changes):
    refused(app, InvalidValue, lambda: register(app, **changes))


def test_an_employee_id_is_registered_once(app):
    employee_id = "6f1c6bd8-8e9a-4c43-9a8f-3f0e1e0c1d11"
    register(app, employee_id=employee_id)
    refused(app, AlreadyExists, lambda: register(app, employee_id=employee_id))


def test_assigning_a_rater_records_the_effective_date(world, app):
    new = when(app, lambda: app.assign_rater(world.employee, rater_id=world.head,
                                             effective_from=date(2026, 3, 1), actor=HR))
    assert only(new, "kinerja.employee.rater-assigned.v1").fields == {
        "actor": HR, "at": new[0]["at"], "rater_id": world.head,
        "effective_from": date(2026, 3, 1)}
    employee = app.get_employee(world.employee)
    assert employee.rater_on(date(2026, 2, 28)) == world.rater
    assert employee.rater_on(date(2026, 3, 1)) == world.head
    assert employee.rater_on(date(2025, 12, 31)) is None


def test_a_later_assignment_with_the_same_date_wins(world, app):
    app.assign_rater(world.employee, rater_id=world.head, effective_from=date(2026, 1, 1),
                     actor=HR)
    assert app.get_employee(world.employee).rater_on(date(2026, 1, 1)) == world.head


def test_an_employee_is_not_their_own_rater_or_reviewer(world, app):
    refused(app, InvalidValue, lambda: app.assign_rater(
        world.employee, rater_id=world.employee, effective_from=date(2026, 1, 1), actor=HR))
    refused(app, InvalidValue, lambda: app.assign_reviewer(
        world.employee, reviewer_id=world.employee, effective_from=date(2026, 1, 1),
        actor=HR))


def test_a_rater_must_be_a_registered_employee(world, app):
    refused(app, NotFound, lambda: app.assign_rater(
        world.employee, rater_id="0b6a1f4e-0000-4000-8000-000000000000",
        effective_from=date(2026, 1, 1), actor=HR))
    refused(app, InvalidValue, lambda: app.assign_rater(
        world.employee, rater_id="rina", effective_from=date(2026, 1, 1), actor=HR))


def test_a_transfer_moves_later_evaluations_to_the_new_unit(world, app):
    new = when(app, lambda: app.transfer_employee(
        world.employee, unit=OTHER_UNIT, position="Petugas Terminal",
        effective_from=date(2026, 3, 1), actor=HR))
    assert only(new, "kinerja.employee.transferred.v1").fields == {
        "actor": HR, "at": new[0]["at"], "unit": OTHER_UNIT, "position": "Petugas Terminal",
        "effective_from": date(2026, 3, 1)}
    app.open_period(world.cycle_id, period="2026-02", actor=HR)
    app.open_period(world.cycle_id, period="2026-03", actor=HR)
    # February still belongs to the old unit; March no longer does.
    assert topics(when(app, lambda: app.start_evaluations(
        world.cycle_id, period="2026-02", employee_ids=[world.employee], actor=HR))) == [
        "kinerja.cycle.evaluations-enrolled.v1", "kinerja.evaluation.started.v1"]
    refused(app, InvalidValue, lambda: app.start_evaluations(
        world.cycle_id, period="2026-03", employee_ids=[world.employee], actor=HR))
    other = app.start_cycle(unit=OTHER_UNIT, year=2026, periodicity=Periodicity.MONTHLY,
                            rubric_id=world.rubric_id, actor=HR).ids["cycle_id"]
    app.open_period(other, period="2026-03", actor=HR)
    new = when(app, lambda: app.start_evaluations(other, period="2026-03",
                                                  employee_ids=[world.employee], actor=HR))
    assert new[1]["unit"] == OTHER_UNIT


def test_ending_employment_needs_a_reason_and_stops_later_changes(world, app):
    refused(app, ReasonRequired, lambda: app.end_employment(
        world.employee, effective_on=date(2026, 2, 15), reason=" ", actor=HR))
    new = when(app, lambda: app.end_employment(world.employee, effective_on=date(2026, 2, 15),
                                               reason="Pensiun", actor=HR))
    assert only(new, "kinerja.employee.employment-ended.v1").fields == {
        "actor": HR, "at": new[0]["at"], "effective_on": date(2026, 2, 15),
        "reason": "Pensiun"}
    refused(app, EmploymentEnded, lambda: app.assign_rater(
        world.employee, rater_id=world.head, effective_from=date(2026, 2, 1), actor=HR))
    refused(app, EmploymentEnded, lambda: app.transfer_employee(
        world.employee, unit=OTHER_UNIT, position="x", effective_from=date(2026, 2, 1),
        actor=HR))
    refused(app, EmploymentEnded, lambda: app.end_employment(
        world.employee, effective_on=date(2026, 2, 20), reason="lagi", actor=HR))


def test_an_employee_who_left_gets_no_evaluation_after_leaving(world, app):
    app.end_employment(world.employee, effective_on=date(2026, 2, 15), reason="Mutasi ke luar",
                       actor=HR)
    app.open_period(world.cycle_id, period="2026-02", actor=HR)
    app.open_period(world.cycle_id, period="2026-03", actor=HR)
    assert topics(when(app, lambda: app.start_evaluations(
        world.cycle_id, period="2026-02", employee_ids=[world.employee], actor=HR)))[1] == (
        "kinerja.evaluation.started.v1")
    refused(app, InvalidValue, lambda: app.start_evaluations(
        world.cycle_id, period="2026-03", employee_ids=[world.employee], actor=HR))


def test_personal_fields_appear_only_in_the_registration(world, app):
    rate_fully(world, world.evaluation_id(), world.employee)
    app.transfer_employee(world.employee, unit=OTHER_UNIT, position="Petugas",
                          effective_from=date(2026, 6, 1), actor=HR)
    for event in all_events(app):
        if event.topic != "kinerja.employee.registered.v1":
            assert not {"nip", "name"} & set(event.fields), event.topic


# --- starting evaluations --------------------------------------------------------------

def test_starting_evaluations_enrols_them_in_the_cycle_in_one_transaction(app, clock):
    world = build_world(app, clock, employees=2)
    app.open_period(world.cycle_id, period="2026-02", actor=HR)
    new = when(app, lambda: app.start_evaluations(
        world.cycle_id, period="2026-02", employee_ids=world.employees, actor=HR))
    assert topics(new) == ["kinerja.cycle.evaluations-enrolled.v1",
                           "kinerja.evaluation.started.v1", "kinerja.evaluation.started.v1"]
    ids = [str(Evaluation.id_for(e, "2026-02")) for e in world.employees]
    assert new[0]["evaluation_ids"] == ids
    assert new[1].fields == {
        "actor": HR, "at": new[1]["at"], "employee_id": world.employees[0], "unit": UNIT,
        "cycle_id": new[1]["cycle_id"], "period": "2026-02", "starts_on": date(2026, 2, 1),
        "ends_on": date(2026, 2, 28), "rubric_id": new[1]["rubric_id"], "rubric_version": 1}
    assert str(new[1]["cycle_id"]) == world.cycle_id
    assert [n.originator_version for n in new] == [
        app.get_cycle(world.cycle_id).version, 1, 1]


@pytest.mark.parametrize("which", ["twice_named", "already_started", "unknown", "none"])
def test_invalid_starts_are_refused(world, app, which):
    app.open_period(world.cycle_id, period="2026-02", actor=HR)
    employees = {
        "twice_named": [world.employee, world.employee],
        "already_started": [world.employee],
        "unknown": ["0b6a1f4e-0000-4000-8000-000000000000"],
        "none": [],
    }[which]
    period = PERIOD if which == "already_started" else "2026-02"
    error = {"twice_named": InvalidValue, "already_started": AlreadyExists,
             "unknown": NotFound, "none": InvalidValue}[which]
    refused(app, error, lambda: app.start_evaluations(world.cycle_id, period=period,
                                                      employee_ids=employees, actor=HR))


def test_a_start_naming_one_bad_employee_starts_none(app, clock):
    world = build_world(app, clock, employees=2)
    app.open_period(world.cycle_id, period="2026-02", actor=HR)
    app.end_employment(world.employees[1], effective_on=date(2026, 1, 31), reason="Pensiun",
                       actor=HR)
    refused(app, InvalidValue, lambda: app.start_evaluations(
        world.cycle_id, period="2026-02", employee_ids=world.employees, actor=HR))


# --- rubrics ---------------------------------------------------------------------------

def publish(app, world, version, effective_from, policy=None, **changes):
    command = dict(version=version, effective_from=effective_from, policy=policy or {},
                   indicators=[], summary=f"versi {version}", actor=HR)
    return app.publish_rubric_version(world.rubric_id, **{**command, **changes})


def test_establishing_a_rubric_names_it_by_its_code(app):
    new = when(app, lambda: app.establish_rubric(code="pelayanan-terminal",
                                                 title="Petugas terminal", actor=HR))
    event = only(new, "kinerja.rubric.established.v1")
    assert event.originator_id == Rubric.id_for("pelayanan-terminal")
    assert event.fields == {"actor": HR, "at": event["at"], "code": "pelayanan-terminal",
                            "title": "Petugas terminal"}
    refused(app, AlreadyExists, lambda: app.establish_rubric(
        code="pelayanan-terminal", title="lagi", actor=HR))


def test_a_version_is_published_whole_in_canonical_form(world, app):
    new = when(app, lambda: publish(
        app, world, 2, date(2026, 7, 1), policy={"above_threshold": 120},
        indicators=[{"code": "PLG-1", "indicator": "Penurunan pelanggaran",
                     "direction": "lower_is_better"}]))
    fields = only(new, "kinerja.rubric.version-published.v1").fields
    assert fields["version"] == 2
    assert fields["effective_from"] == date(2026, 7, 1)
    assert fields["policy"]["above_threshold"] == "120"
    assert fields["policy"]["below_threshold"] == "80"   # defaults filled in
    assert fields["indicators"] == [{
        "code": "PLG-1", "indicator": "Penurunan pelanggaran", "kind": "utama",
        "aspect": "kuantitas", "direction": "lower_is_better", "unit_of_measure": ""}]


@pytest.mark.parametrize("version", [1, 3, 0, -1])
def test_only_the_next_version_number_is_published(world, app, version):
    error = refused(app, RubricVersionConflict, lambda: publish(app, world, version,
                                                                date(2026, 7, 1)))
    assert "the next version is 2" in error.message


@pytest.mark.parametrize("changes", [
    {"policy": {"below_threshold": "120"}},
    {"indicators": [{"code": "A", "indicator": "x"}, {"code": "A", "indicator": "y"}]},
    {"indicators": [{"code": "A", "indicator": "x", "kind": "wajib"}]},
    {"indicators": [{"code": "", "indicator": "x"}]},
    {"summary": ""},
])
def test_an_invalid_version_is_refused(world, app, changes):
    refused(app, InvalidValue, lambda: publish(app, world, 2, date(2026, 7, 1), **changes))


def test_the_version_in_force_is_the_latest_effective_on_the_day(world, app):
    publish(app, world, 2, date(2026, 7, 1))
    publish(app, world, 3, date(2026, 7, 1))      # same date: the later published wins
    publish(app, world, 4, date(2027, 1, 1))
    rubric = app.get_rubric(world.rubric_id)
    assert [rubric.version_in_force(d) for d in (
        date(2026, 1, 1), date(2026, 6, 30), date(2026, 7, 1), date(2026, 12, 31),
        date(2027, 1, 1))] == [1, 1, 3, 3, 4]
    with pytest.raises(NoRubricInForce):
        rubric.version_in_force(date(2025, 12, 31))


def test_a_mid_year_rubric_change_gives_later_periods_the_new_version(world, app):
    publish(app, world, 2, date(2026, 7, 15), policy={"appeal_window_days": 21})
    for period in ("2026-06", "2026-07", "2026-08"):
        app.open_period(world.cycle_id, period=period, actor=HR)
        app.start_evaluations(world.cycle_id, period=period, employee_ids=[world.employee],
                              actor=HR)
    pinned = {p: app.get_evaluation(world.evaluation_id(period=p)).rubric_version
              for p in (PERIOD, "2026-06", "2026-07", "2026-08")}
    # July starts before the 15th, so it keeps version 1; August starts under version 2.
    assert pinned == {PERIOD: 1, "2026-06": 1, "2026-07": 1, "2026-08": 2}


def test_an_evaluation_keeps_its_pinned_version_after_a_new_one_is_published(world, app,
                                                                            clock):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    # Version 2 takes effect retroactively for the whole year with a different kuadran and
    # window; the evaluation started under version 1 is still scored under version 1.
    matrix = app.get_rubric(world.rubric_id).policy(1).to_dict()["matrix"]
    matrix["sesuai_ekspektasi"]["sesuai_ekspektasi"] = "sangat_baik"
    publish(app, world, 2, date(2026, 1, 1),
            policy={"matrix": matrix, "appeal_window_days": 30})
    new = when(app, lambda: app.deliver_result(eid, actor=world.rater))
    fields = only(new).fields
    assert (fields["rubric_version"], fields["predikat"]) == (1, "baik")
    assert (fields["appeal_due"] - fields["delivered_on"]).days == 14


def test_evaluations_need_a_rubric_version_in_force_on_the_period_start(app, clock):
    rubric_id = app.establish_rubric(code="baru", title="Baru", actor=HR).ids["rubric_id"]
    app.publish_rubric_version(rubric_id, version=1, effective_from=date(2026, 2, 1),
                               policy={}, indicators=[], summary="mulai Februari", actor=HR)
    cycle_id = app.start_cycle(unit=UNIT, year=2026, periodicity=Periodicity.MONTHLY,
                               rubric_id=rubric_id, actor=HR).ids["cycle_id"]
    app.open_period(cycle_id, period="2026-01", actor=HR)
    employee = register(app)
    refused(app, NoRubricInForce, lambda: app.start_evaluations(
        cycle_id, period="2026-01", employee_ids=[employee], actor=HR))


def test_a_matrix_published_in_a_rubric_sets_the_predikat(app, clock):
    matrix = {hk: {pk: "baik" for pk in Rating} for hk in Rating}
    matrix[Rating.SESUAI][Rating.SESUAI] = "sangat_baik"
    world = build_world(app, clock, policy={"matrix": {str(h): {str(p): v for p, v in row.items()}
                                                       for h, row in matrix.items()}})
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    new = when(app, lambda: app.deliver_result(eid, actor=world.rater))
    assert only(new).fields["predikat"] == "sangat_baik"


def test_the_recording_clock_stamps_every_event_of_a_command_with_one_instant(app):
    fixed = datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc)
    app.clock = lambda: fixed
    new = when(app, lambda: register(app))
    assert new[0].event.timestamp == fixed
    assert new[0]["at"] == fixed


def test_realisations_accept_decimal_strings(world, app):
    eid = world.evaluation_id()
    from tests.scenario import plan_standard_items
    plan_standard_items(world, eid)
    app.fix_targets(eid, actor=world.rater)
    new = when(app, lambda: app.record_realisation(eid, item_id="patrol", value="97.5",
                                                   evidence=[], actor=world.employee))
    assert new[0]["value"] == Decimal("97.5")
