"""The appeal lifecycle end to end through the service on an SQLite file, read back
through the read models: what an employee, a panel or an inspector sees at each step.

PP 30/2019 art. 59: filed with grounds within the window after delivery, once; routed to
the rater's superior or to the cycle's panel; explanations; a final decision; withdrawal;
lapse. Calibration and correction after reopening are recorded as such, never as silent
overwrites."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.appeal import Appeal
from domain.errors import (
    AppealAlreadyFiled,
    AppealNotOpen,
    AppealWindowClosed,
    AppealWindowStillOpen,
    CycleLocked,
    NotAppealReviewer,
    NotAuthorised,
    ReasonRequired,
)
from domain.values import Rating
from tests.appeals.conftest import deliver, on_day
from tests.domain.spec import refused, topics, when
from tests.scenario import HR, build_world

ATAS, SESUAI, BAWAH = Rating.DI_ATAS, Rating.SESUAI, Rating.DI_BAWAH
GROUNDS = "Realisasi patroli tidak memperhitungkan penugasan banjir di Jalan Sudirman"


def file(world, evaluation_id, actor=None):
    return world.app.file_appeal(evaluation_id, grounds=GROUNDS,
                                 actor=actor or world.employee).ids["appeal_id"]


def summary(evidence, evaluation_id):
    reads = evidence.reads()
    [item] = reads.list_evaluations(employee_id=reads.evaluation(evaluation_id)[
        "employee_id"])["items"]
    return item


# --- deadlines ---------------------------------------------------------------------------

def test_the_due_date_is_visible_in_queries_from_delivery(world, app, evidence):
    eid = deliver(world)
    evaluation = app.get_evaluation(eid)
    item = summary(evidence, eid)
    assert item["appeal"] == {"appeal_id": None, "status": "not_filed", "outcome": None,
                              "due_by": str(evaluation.delivered_on + timedelta(days=14))}
    file(world, eid)
    assert summary(evidence, eid)["appeal"]["status"] == "filed"
    assert summary(evidence, eid)["appeal"]["due_by"] == str(evaluation.appeal_due)


def test_a_filing_on_the_last_day_is_accepted(world, app):
    eid = deliver(world)
    on_day(world, eid, 14, hour=23)
    new = when(app, lambda: file(world, eid))
    assert topics(new) == ["kinerja.appeal.filed.v1"]


def test_a_late_filing_is_refused_and_records_nothing(world, app, evidence):
    eid = deliver(world)
    on_day(world, eid, 15, hour=0)
    error = refused(app, AppealWindowClosed, lambda: file(world, eid))
    assert error.details["due_by"] == str(app.get_evaluation(eid).appeal_due)
    assert summary(evidence, eid)["appeal"]["status"] == "not_filed"


def test_the_window_lapses_only_after_its_last_day(world, app, evidence):
    eid = deliver(world)
    on_day(world, eid, 14)
    refused(app, AppealWindowStillOpen,
            lambda: app.record_appeal_lapsed(eid, actor=HR))
    on_day(world, eid, 15)
    new = when(app, lambda: app.record_appeal_lapsed(eid, actor=HR))
    assert topics(new) == ["kinerja.evaluation.appeal-lapsed.v1"]
    assert summary(evidence, eid)["appeal"]["status"] == "lapsed"
    # Lapsed means no appeal any more.
    refused(app, AppealWindowClosed, lambda: file(world, eid))


# --- once --------------------------------------------------------------------------------

@pytest.mark.parametrize("ending", ["decided", "withdrawn", "open"])
def test_a_second_appeal_is_refused(world, app, ending):
    eid = deliver(world)
    appeal_id = file(world, eid)
    if ending == "decided":
        app.decide_appeal(appeal_id, outcome="kept", reasons="Realisasi sudah benar",
                          actor=world.head)
    elif ending == "withdrawn":
        app.withdraw_appeal(appeal_id, reason="Sudah dijelaskan atasan", actor=world.employee)
    refused(app, AppealAlreadyFiled, lambda: file(world, eid))


def test_only_the_employee_files(world, app):
    eid = deliver(world)
    for someone in (world.rater, world.head, HR):
        refused(app, NotAuthorised, lambda: file(world, eid, actor=someone))


# --- who decides -------------------------------------------------------------------------

def test_only_the_raters_superior_decides(world, app):
    eid = deliver(world)
    appeal_id = file(world, eid)
    for someone in (world.rater, world.employee, HR, "inspektorat:andi"):
        refused(app, NotAppealReviewer, lambda: app.decide_appeal(
            appeal_id, outcome="changed", hk=ATAS, pk=SESUAI, reasons="Diubah",
            actor=someone))
    new = when(app, lambda: app.decide_appeal(appeal_id, outcome="kept",
                                              reasons="Realisasi sudah benar",
                                              actor=world.head))
    assert topics(new) == ["kinerja.appeal.decided.v1"]


def test_with_a_panel_named_for_the_cycle_only_the_panel_decides(world, app, evidence):
    app.name_appeal_panel(world.cycle_id, members=["panel:ani", "panel:budi"], actor=HR)
    eid = deliver(world)
    appeal_id = file(world, eid)
    appeal = app.get_appeal(appeal_id)
    assert (appeal.reviewer_kind, appeal.reviewers) == ("panel", ["panel:ani", "panel:budi"])
    refused(app, NotAppealReviewer, lambda: app.decide_appeal(
        appeal_id, outcome="kept", reasons="Tetap", actor=world.head))
    new = when(app, lambda: app.decide_appeal(appeal_id, outcome="changed", hk=ATAS,
                                              pk=ATAS, reasons="Bukti banjir diterima",
                                              actor="panel:budi"))
    assert topics(new) == ["kinerja.appeal.decided.v1", "kinerja.evaluation.result-changed.v1"]
    assert summary(evidence, eid)["predikat"] == "sangat_baik"


def test_the_decision_is_final(world, app):
    eid = deliver(world)
    appeal_id = file(world, eid)
    app.decide_appeal(appeal_id, outcome="kept", reasons="Tetap", actor=world.head)
    refused(app, AppealNotOpen, lambda: app.decide_appeal(
        appeal_id, outcome="changed", hk=ATAS, pk=ATAS, reasons="Berubah pikiran",
        actor=world.head))
    refused(app, AppealNotOpen, lambda: app.withdraw_appeal(
        appeal_id, reason="Terlambat", actor=world.employee))


# --- the change supersedes; the old rating stays -----------------------------------------

def test_a_changed_result_supersedes_the_delivered_one_and_history_keeps_both(
        world, app, evidence):
    eid = deliver(world)
    appeal_id = file(world, eid)
    app.request_explanation(appeal_id, party="rater", question="Mengapa patroli 95 %?",
                            actor=world.head)
    app.give_explanation(appeal_id, text="Data GPS menunjukkan 95 %", actor=world.rater)
    new = when(app, lambda: app.decide_appeal(appeal_id, outcome="changed", hk=ATAS,
                                              pk=ATAS, reasons="Penugasan banjir diakui",
                                              actor=world.head))
    decided, changed = new
    assert changed.topic == "kinerja.evaluation.result-changed.v1"
    assert changed["previous"] == {"hasil_kerja": "sesuai_ekspektasi",
                                   "perilaku_kerja": "sesuai_ekspektasi", "predikat": "baik"}
    assert (changed["source"], changed["reference"]) == ("appeal", appeal_id)
    assert changed["predikat"] == "sangat_baik"
    reads = evidence.reads()
    history = reads.history(world.employee)["entries"]
    delivered = [e for e in history if e["topic"].endswith("result-delivered.v1")]
    superseding = [e for e in history if e["topic"].endswith("result-changed.v1")]
    assert [e["change"]["predikat"] for e in delivered] == ["baik"]
    assert [(e["marked"], e["change"]["predikat"]) for e in superseding] == [
        ("appeal_decision", "sangat_baik")]
    assert [e["kind"] for e in history if e["topic"].startswith("kinerja.appeal.")] == [
        "appeal.filed", "appeal.explanation_requested", "appeal.explanation_given",
        "appeal.decided"]
    explained = reads.explain(eid)
    assert explained["predikat"] == "sangat_baik"
    assert [(c["source"], c["previous"]["predikat"], c["new"]["predikat"])
            for c in explained["result_changes"]] == [("appeal", "baik", "sangat_baik")]
    # As of the delivery, the old result is what the log said.
    before = reads.explain(eid, as_of=delivered[0]["position"])
    assert before["predikat"] == "baik"
    assert summary(evidence, eid)["appeal"] == {
        "appeal_id": str(Appeal.id_for(app.get_evaluation(eid).id)), "status": "decided",
        "outcome": "changed", "due_by": str(app.get_evaluation(eid).appeal_due)}


def test_an_explanation_is_given_only_by_the_party_asked(world, app):
    eid = deliver(world)
    appeal_id = file(world, eid)
    app.request_explanation(appeal_id, party="employee", question="Bukti penugasan?",
                            actor=world.head)
    refused(app, NotAuthorised, lambda: app.give_explanation(
        appeal_id, text="Saya atasan", actor=world.head))
    when(app, lambda: app.give_explanation(appeal_id, text="Surat tugas terlampir",
                                           actor=world.employee))


def test_a_withdrawn_appeal_leaves_the_result_as_delivered(world, app, evidence):
    eid = deliver(world)
    appeal_id = file(world, eid)
    refused(app, ReasonRequired, lambda: app.withdraw_appeal(appeal_id, reason=" ",
                                                             actor=world.employee))
    app.withdraw_appeal(appeal_id, reason="Sudah dijelaskan", actor=world.employee)
    item = summary(evidence, eid)
    assert (item["predikat"], item["appeal"]["status"]) == ("baik", "withdrawn")


def test_an_appeal_decision_changes_a_result_in_a_locked_cycle(world, app, evidence):
    eid = deliver(world)
    appeal_id = file(world, eid)
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    app.decide_appeal(appeal_id, outcome="changed", hk=BAWAH, pk=SESUAI,
                      reasons="Temuan inspektorat", actor=world.head)
    assert summary(evidence, eid)["predikat"] == "butuh_perbaikan"


# --- calibration and correction ----------------------------------------------------------

def test_calibration_is_recorded_with_session_and_both_values(world, app, evidence):
    eid = deliver(world)
    new = when(app, lambda: app.calibrate_result(
        eid, session="kalibrasi-2026-01/sesi-1", hk=ATAS, pk=SESUAI,
        reason="Kalibrasi unit: kinerja patroli di atas rekan", actor=HR))
    [changed] = new
    assert changed["source"] == "calibration"
    assert changed["reference"] == "kalibrasi-2026-01/sesi-1"
    assert changed["previous"]["hasil_kerja"] == "sesuai_ekspektasi"
    reads = evidence.reads()
    [change] = reads.explain(eid)["result_changes"]
    assert change["source"] == "calibration"
    assert change["previous"]["hasil_kerja"] == "sesuai_ekspektasi"
    assert change["new"]["hasil_kerja"] == "di_atas_ekspektasi"
    assert change["actor"] == HR
    marked = [e["marked"] for e in reads.history(world.employee)["entries"]
              if e["topic"].endswith("result-changed.v1")]
    assert marked == ["calibration"]


def test_a_correction_needs_an_audited_reopening(world, app, evidence):
    eid = deliver(world)
    app.lock_cycle(world.cycle_id, justification=None, actor=HR)
    refused(app, CycleLocked, lambda: app.correct_result(
        eid, hk=BAWAH, pk=SESUAI, reason="Salah input", actor=HR))
    refused(app, CycleLocked, lambda: app.calibrate_result(
        eid, session="terlambat", hk=BAWAH, pk=SESUAI, reason="Setelah kunci", actor=HR))
    refused(app, ReasonRequired, lambda: app.reopen_cycle(
        world.cycle_id, reason="", authority="SK BKD 12/2026", actor=HR))
    reopened = when(app, lambda: app.reopen_cycle(
        world.cycle_id, reason="Temuan audit realisasi", authority="SK BKD 12/2026",
        actor=HR))
    assert topics(reopened) == ["kinerja.cycle.reopened.v1"]
    [corrected] = when(app, lambda: app.correct_result(
        eid, hk=BAWAH, pk=SESUAI, reason="Realisasi dikoreksi", actor=HR))
    assert corrected["source"] == "correction"
    assert corrected["reference"] == f"{world.cycle_id}/{reopened[0].originator_version}"
    explained = evidence.reads().explain(eid)
    assert [i["role"] for i in explained["inputs"]].count("reopening") == 1
    assert explained["predikat"] == "butuh_perbaikan"


def test_a_world_with_many_employees_keeps_appeals_apart(app, clock, evidence):
    world = build_world(app, clock, employees=3)
    first, second = deliver(world, 0), deliver(world, 1)
    refused(app, NotAuthorised, lambda: file(world, first, actor=world.employees[1]))
    appeal_id = file(world, first, actor=world.employees[0])
    app.decide_appeal(appeal_id, outcome="changed", hk=ATAS, pk=ATAS, reasons="Diterima",
                      actor=world.head)
    assert summary(evidence, first)["predikat"] == "sangat_baik"
    assert summary(evidence, second)["predikat"] == "baik"
