"""Specifications of the appeal (keberatan, PP 30/2019 art. 59): filed by the employee
within the window, once; decided finally by the rater's superior or the panel; a change
supersedes the result on the evaluation in the same transaction; withdrawn; lapsed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from domain.appeal import Appeal
from domain.errors import (
    AppealAlreadyFiled,
    AppealNotOpen,
    AppealWindowClosed,
    AppealWindowStillOpen,
    EvaluationNotDelivered,
    InvalidValue,
    NotAppealReviewer,
    NotAuthorised,
    ReasonRequired,
)
from domain.values import Rating
from tests.domain.spec import all_events, only, refused, topics, when
from tests.scenario import HR, build_world, rate_fully

ATAS, SESUAI, BAWAH = Rating.DI_ATAS, Rating.SESUAI, Rating.DI_BAWAH
GROUNDS = "Realisasi patroli tidak memperhitungkan penugasan banjir"


def on_day(clock, delivered_on, days, hour=12):
    """Move the clock to `days` calendar days after delivery."""
    day = delivered_on + timedelta(days=days)
    clock.now = datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


@pytest.fixture
def delivered(world, app):
    """The world's evaluation, fully rated and delivered (Baik); returns its id."""
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    app.deliver_result(eid, actor=world.rater)
    return eid


def file(app, world, eid, **changes):
    command = dict(grounds=GROUNDS, actor=world.employee)
    return app.file_appeal(eid, **{**command, **changes})


# --- filing within the window, once ----------------------------------------------------

def test_the_employee_files_on_day_14(world, app, clock, delivered):
    evaluation = app.get_evaluation(delivered)
    on_day(clock, evaluation.delivered_on, 14, hour=23)
    new = when(app, lambda: file(app, world, delivered))
    event = only(new, "kinerja.appeal.filed.v1")
    assert event.originator_id == Appeal.id_for(evaluation.id)
    assert event.fields == {
        "actor": world.employee, "at": event["at"], "evaluation_id": evaluation.id,
        "employee_id": world.employee, "rater_id": world.rater, "grounds": GROUNDS,
        "reviewer_kind": "superior", "reviewers": [world.head],
        "filed_on": evaluation.delivered_on + timedelta(days=14),
        "window_due": evaluation.appeal_due}


def test_a_filing_on_day_15_is_refused(world, app, clock, delivered):
    evaluation = app.get_evaluation(delivered)
    on_day(clock, evaluation.delivered_on, 15, hour=0)
    error = refused(app, AppealWindowClosed, lambda: file(app, world, delivered))
    assert error.details["due_by"] == str(evaluation.appeal_due)


def test_the_window_is_a_policy_field_of_the_rubric(app, clock):
    world = build_world(app, clock, policy={"appeal_window_days": 3})
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    app.deliver_result(eid, actor=world.rater)
    delivered_on = app.get_evaluation(eid).delivered_on
    on_day(clock, delivered_on, 4)
    refused(app, AppealWindowClosed, lambda: file(app, world, eid))
    on_day(clock, delivered_on, 3)
    assert topics(when(app, lambda: file(app, world, eid))) == ["kinerja.appeal.filed.v1"]


def test_an_appeal_is_filed_once(world, app, delivered):
    file(app, world, delivered)
    refused(app, AppealAlreadyFiled, lambda: file(app, world, delivered))


def test_a_withdrawn_appeal_is_not_filed_again(world, app, delivered):
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    app.withdraw_appeal(appeal_id, reason="Sudah dijelaskan atasan", actor=world.employee)
    refused(app, AppealAlreadyFiled, lambda: file(app, world, delivered))


def test_only_the_evaluated_employee_files(world, app, delivered):
    refused(app, NotAuthorised, lambda: file(app, world, delivered, actor=world.rater))
    refused(app, NotAuthorised, lambda: file(app, world, delivered, actor="user:kawan"))


def test_an_appeal_needs_grounds(world, app, delivered):
    refused(app, ReasonRequired, lambda: file(app, world, delivered, grounds="  "))


def test_an_undelivered_result_is_not_appealed(world, app):
    refused(app, EvaluationNotDelivered, lambda: file(app, world, world.evaluation_id()))


def test_an_appeal_needs_someone_to_decide_it(app, clock):
    world = build_world(app, clock)
    lone = app.register_employee(nip="199202022015032002", name="Tanpa Atasan",
                                 unit=world.app.get_employee(world.rater).unit,
                                 position="Petugas", actor=HR).ids["employee_id"]
    from datetime import date
    app.assign_rater(lone, rater_id=world.rater, effective_from=date(2026, 1, 1), actor=HR)
    app.start_evaluations(world.cycle_id, period="2026-01", employee_ids=[lone], actor=HR)
    eid = world.evaluation_id(lone)
    rate_fully(world, eid, lone)
    app.deliver_result(eid, actor=world.rater)
    refused(app, InvalidValue, lambda: app.file_appeal(eid, grounds=GROUNDS, actor=lone))


# --- deciding: only the rater's superior or the panel ----------------------------------

@pytest.mark.parametrize("who", ["rater", "employee", "outsider"])
def test_only_the_superior_decides(world, app, delivered, who):
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    actor = {"rater": world.rater, "employee": world.employee, "outsider": "user:x"}[who]
    refused(app, NotAppealReviewer, lambda: app.decide_appeal(
        appeal_id, outcome="kept", reasons="Hasil sudah sesuai", actor=actor))


def test_the_superior_keeps_the_result(world, app, delivered):
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    before = app.get_evaluation(delivered).result
    new = when(app, lambda: app.decide_appeal(appeal_id, outcome="kept",
                                              reasons="Realisasi sudah benar",
                                              actor=world.head))
    assert only(new, "kinerja.appeal.decided.v1").fields == {
        "actor": world.head, "at": new[0]["at"], "outcome": "kept",
        "hasil_kerja": "sesuai_ekspektasi", "perilaku_kerja": "sesuai_ekspektasi",
        "predikat": "baik", "reasons": "Realisasi sudah benar"}
    assert app.get_evaluation(delivered).result == before


def test_a_changed_result_supersedes_the_delivered_one_in_the_same_transaction(
        world, app, delivered):
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    delivered_version = app.get_evaluation(delivered).result_version
    new = when(app, lambda: app.decide_appeal(
        appeal_id, outcome="changed", hk=ATAS, pk=SESUAI,
        reasons="Penugasan banjir dihitung", actor=world.head))
    assert topics(new) == ["kinerja.appeal.decided.v1", "kinerja.evaluation.result-changed.v1"]
    decided, changed = new
    assert decided.fields["predikat"] == "baik"
    assert changed.fields == {
        "actor": world.head, "at": decided["at"], "source": "appeal", "reference": appeal_id,
        "previous": {"hasil_kerja": "sesuai_ekspektasi", "perilaku_kerja": "sesuai_ekspektasi",
                     "predikat": "baik"},
        "hasil_kerja": "di_atas_ekspektasi", "perilaku_kerja": "sesuai_ekspektasi",
        "predikat": "baik", "reason": "Penugasan banjir dihitung",
        "supersedes": delivered_version}
    # The old result is still in the log, unchanged.
    delivered_events = [e for e in all_events(app)
                        if e.topic == "kinerja.evaluation.result-delivered.v1"]
    assert [e.originator_version for e in delivered_events] == [delivered_version]
    assert delivered_events[0]["predikat"] == "baik"
    assert delivered_events[0]["hasil_kerja"] == "sesuai_ekspektasi"


def test_a_change_follows_the_pinned_matrix(world, app, delivered):
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    new = when(app, lambda: app.decide_appeal(
        appeal_id, outcome="changed", hk=ATAS, pk=ATAS, reasons="Bukti baru",
        actor=world.head))
    assert [n["predikat"] for n in new] == ["sangat_baik", "sangat_baik"]
    assert app.get_evaluation(delivered).result["predikat"] == "sangat_baik"


@pytest.mark.parametrize(("command", "error"), [
    (dict(outcome="changed", hk=SESUAI, pk=SESUAI, reasons="sama"), InvalidValue),
    (dict(outcome="changed", hk=ATAS, reasons="tanpa pk"), InvalidValue),
    (dict(outcome="changed", hk="hebat", pk=ATAS, reasons="x"), InvalidValue),
    (dict(outcome="dismissed", reasons="x"), InvalidValue),
    (dict(outcome="kept", reasons=" "), ReasonRequired),
    (dict(outcome="changed", hk=ATAS, pk=ATAS, reasons=""), ReasonRequired),
])
def test_an_invalid_decision_is_refused(world, app, delivered, command, error):
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    refused(app, error, lambda: app.decide_appeal(appeal_id, actor=world.head, **command))


def test_the_decision_is_final(world, app, delivered):
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    app.decide_appeal(appeal_id, outcome="kept", reasons="Sesuai", actor=world.head)
    refused(app, AppealNotOpen, lambda: app.decide_appeal(
        appeal_id, outcome="changed", hk=ATAS, pk=ATAS, reasons="berubah pikiran",
        actor=world.head))
    refused(app, AppealNotOpen, lambda: app.withdraw_appeal(
        appeal_id, reason="terlambat", actor=world.employee))


def test_a_named_panel_decides_instead_of_the_superior(world, app, delivered):
    app.name_appeal_panel(world.cycle_id, members=["panel:ani", "panel:bayu"], actor=HR)
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    appeal = app.get_appeal(appeal_id)
    assert (appeal.reviewer_kind, appeal.reviewers) == ("panel", ["panel:ani", "panel:bayu"])
    refused(app, NotAppealReviewer, lambda: app.decide_appeal(
        appeal_id, outcome="kept", reasons="x", actor=world.head))
    new = when(app, lambda: app.decide_appeal(appeal_id, outcome="kept",
                                              reasons="Panel: hasil tetap",
                                              actor="panel:bayu"))
    assert only(new).fields["actor"] == "panel:bayu"


def test_the_rater_cannot_sit_on_the_panel_of_their_own_rating(world, app, delivered):
    app.name_appeal_panel(world.cycle_id, members=["panel:ani", world.rater], actor=HR)
    refused(app, InvalidValue, lambda: file(app, world, delivered))


def test_an_appeal_decision_corrects_a_locked_cycle(world, app, delivered):
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    new = when(app, lambda: app.decide_appeal(
        appeal_id, outcome="changed", hk=BAWAH, pk=SESUAI, reasons="Bukti palsu",
        actor=world.head))
    assert topics(new) == ["kinerja.appeal.decided.v1", "kinerja.evaluation.result-changed.v1"]
    assert new[1]["predikat"] == "butuh_perbaikan"


# --- explanations ----------------------------------------------------------------------

def test_the_reviewer_asks_and_the_party_explains(world, app, delivered):
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    refused(app, InvalidValue, lambda: app.give_explanation(
        appeal_id, text="tanpa diminta", actor=world.rater))
    asked = when(app, lambda: app.request_explanation(
        appeal_id, party="rater", question="Mengapa patroli dinilai sesuai?",
        actor=world.head))
    assert only(asked, "kinerja.appeal.explanation-requested.v1").fields["party"] == "rater"
    refused(app, InvalidValue, lambda: app.give_explanation(
        appeal_id, text="belum diminta", actor=world.employee))
    refused(app, NotAuthorised, lambda: app.give_explanation(
        appeal_id, text="orang luar", actor="user:x"))
    given = when(app, lambda: app.give_explanation(
        appeal_id, text="Data patroli dari aplikasi", actor=world.rater))
    assert only(given, "kinerja.appeal.explanation-given.v1").fields == {
        "actor": world.rater, "at": given[0]["at"], "party": "rater",
        "text": "Data patroli dari aplikasi"}
    assert app.get_appeal(appeal_id).status == "under_review"


@pytest.mark.parametrize(("party", "actor", "error"), [
    ("atasan", "head", InvalidValue), ("rater", "rater", NotAppealReviewer),
])
def test_an_invalid_request_for_explanation_is_refused(world, app, delivered, party, actor,
                                                        error):
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    who = world.head if actor == "head" else world.rater
    refused(app, error, lambda: app.request_explanation(appeal_id, party=party,
                                                        question="?", actor=who))


# --- withdrawal and lapse --------------------------------------------------------------

def test_the_employee_withdraws(world, app, delivered):
    appeal_id = file(app, world, delivered).ids["appeal_id"]
    refused(app, NotAuthorised, lambda: app.withdraw_appeal(appeal_id, reason="x",
                                                            actor=world.head))
    refused(app, ReasonRequired, lambda: app.withdraw_appeal(appeal_id, reason="",
                                                             actor=world.employee))
    new = when(app, lambda: app.withdraw_appeal(appeal_id, reason="Sudah dijelaskan",
                                                actor=world.employee))
    assert only(new, "kinerja.appeal.withdrawn.v1").fields["reason"] == "Sudah dijelaskan"
    refused(app, AppealNotOpen, lambda: app.decide_appeal(
        appeal_id, outcome="kept", reasons="x", actor=world.head))


def test_the_window_lapses_on_day_15_without_an_appeal(world, app, clock, delivered):
    evaluation = app.get_evaluation(delivered)
    on_day(clock, evaluation.delivered_on, 14, hour=23)
    refused(app, AppealWindowStillOpen, lambda: app.record_appeal_lapsed(delivered,
                                                                         actor="system"))
    on_day(clock, evaluation.delivered_on, 15, hour=0)
    new = when(app, lambda: app.record_appeal_lapsed(delivered, actor="system"))
    assert only(new, "kinerja.evaluation.appeal-lapsed.v1").fields == {
        "actor": "system", "at": new[0]["at"], "due": evaluation.appeal_due}
    refused(app, InvalidValue, lambda: app.record_appeal_lapsed(delivered, actor="system"))
    refused(app, AppealWindowClosed, lambda: file(app, world, delivered))


def test_a_window_with_an_appeal_does_not_lapse(world, app, clock, delivered):
    file(app, world, delivered)
    on_day(clock, app.get_evaluation(delivered).delivered_on, 30)
    refused(app, AppealAlreadyFiled, lambda: app.record_appeal_lapsed(delivered,
                                                                      actor="system"))


def test_an_undelivered_result_does_not_lapse(world, app):
    refused(app, EvaluationNotDelivered, lambda: app.record_appeal_lapsed(
        world.evaluation_id(), actor="system"))


def test_a_superior_who_left_is_not_routed_an_appeal(world, app, delivered):
    today = app.get_evaluation(delivered).delivered_on
    app.end_employment(world.head, effective_on=today, reason="Mutasi", actor=HR)
    refused(app, InvalidValue, lambda: file(app, world, delivered))
    successor = app.register_employee(nip="197505052000031005", name="Kepala Baru",
                                      unit="Sudinhub Jakarta Pusat", position="Kepala",
                                      actor=HR).ids["employee_id"]
    app.assign_reviewer(world.employee, reviewer_id=successor, effective_from=today,
                        actor=HR)
    new = when(app, lambda: file(app, world, delivered))
    assert only(new).fields["reviewers"] == [successor]
