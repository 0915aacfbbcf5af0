"""Specifications of the evaluation (SKP): planning, realisations, ratings and delivery.

Each test: given the world's events, when one command, then exactly these new events, or
this typed error and nothing recorded. Runs on memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.errors import (
    EvaluationAlreadyDelivered,
    EvaluationIncomplete,
    InvalidValue,
    NotFound,
    NotRaterInForce,
    RealisationMissing,
    ReasonRequired,
    SelfRatingRefused,
    TargetsAlreadyFixed,
    TargetsNotFixed,
    UnknownItem,
)
from domain.values import Aspect, BerakhlakValue, Direction, FeedbackSource, ItemKind, Rating
from tests.domain.spec import only, refused, topics, when
from tests.scenario import plan_standard_items, rate_fully

ATAS, SESUAI, BAWAH = Rating.DI_ATAS, Rating.SESUAI, Rating.DI_BAWAH


def realise(world, evaluation_id, *, violations="30", patrol="95"):
    """Standard items planned, targets fixed, both realised; nothing rated yet."""
    app = world.app
    plan_standard_items(world, evaluation_id)
    app.fix_targets(evaluation_id, actor=world.rater)
    app.record_realisation(evaluation_id, item_id="violations", value=Decimal(violations),
                           evidence=["bukti/1"], actor=world.employee)
    app.record_realisation(evaluation_id, item_id="patrol", value=Decimal(patrol),
                           evidence=["bukti/2"], actor=world.employee)


# --- planning: targets are fixed before realisations -----------------------------------

def test_planning_an_item_records_the_rhk_row(world, app):
    eid = world.evaluation_id()
    new = when(app, lambda: app.plan_item(
        eid, item_id="complaints", kind=ItemKind.UTAMA, aspect=Aspect.WAKTU,
        indicator="Aduan warga selesai dalam 7 hari", target=Decimal("90"),
        direction=Direction.HIGHER_IS_BETTER, unit_of_measure="%", supports="RHK-atasan-2",
        actor=world.rater))
    event = only(new, "kinerja.evaluation.item-planned.v1")
    assert event.fields == {
        "actor": world.rater, "at": event["at"], "item_id": "complaints", "kind": "utama",
        "aspect": "waktu", "indicator": "Aduan warga selesai dalam 7 hari",
        "target": Decimal("90"), "direction": "higher_is_better", "unit_of_measure": "%",
        "supports": "RHK-atasan-2"}
    assert str(event.originator_id) == eid


def test_fixing_targets_records_one_event(world, app):
    eid = world.evaluation_id()
    plan_standard_items(world, eid)
    new = when(app, lambda: app.fix_targets(eid, actor=world.rater))
    assert only(new, "kinerja.evaluation.targets-fixed.v1").fields["actor"] == world.rater
    assert app.get_evaluation(eid).status == "in_progress"


def test_a_realisation_before_targets_are_fixed_is_refused(world, app):
    eid = world.evaluation_id()
    plan_standard_items(world, eid)
    refused(app, TargetsNotFixed, lambda: app.record_realisation(
        eid, item_id="patrol", value=Decimal(90), evidence=[], actor=world.employee))


def test_a_rating_before_targets_are_fixed_is_refused(world, app):
    eid = world.evaluation_id()
    plan_standard_items(world, eid)
    refused(app, TargetsNotFixed, lambda: app.rate_item(eid, item_id="patrol",
                                                       actor=world.rater))


def test_no_item_is_added_once_targets_are_fixed(world, app):
    eid = world.evaluation_id()
    plan_standard_items(world, eid)
    app.fix_targets(eid, actor=world.rater)
    refused(app, TargetsAlreadyFixed, lambda: app.plan_item(
        eid, item_id="late", kind=ItemKind.TAMBAHAN, aspect=Aspect.KUALITAS,
        indicator="Laporan", target=Decimal(1), direction=Direction.HIGHER_IS_BETTER,
        actor=world.rater))
    refused(app, TargetsAlreadyFixed, lambda: app.fix_targets(eid, actor=world.rater))


def test_targets_are_fixed_only_with_at_least_one_utama_item(world, app):
    eid = world.evaluation_id()
    refused(app, EvaluationIncomplete, lambda: app.fix_targets(eid, actor=world.rater))
    app.plan_item(eid, item_id="extra", kind=ItemKind.TAMBAHAN, aspect=Aspect.KUALITAS,
                  indicator="Laporan", target=Decimal(1),
                  direction=Direction.HIGHER_IS_BETTER, actor=world.rater)
    refused(app, EvaluationIncomplete, lambda: app.fix_targets(eid, actor=world.rater))


@pytest.mark.parametrize(("changes", "error"), [
    ({"item_id": "violations"}, InvalidValue),          # already planned
    ({"item_id": "  "}, InvalidValue),
    ({"kind": "wajib"}, InvalidValue),
    ({"aspect": "kecepatan"}, InvalidValue),
    ({"direction": "sideways"}, InvalidValue),
    ({"target": Decimal(-1)}, InvalidValue),
    ({"target": "banyak"}, InvalidValue),
    ({"target": Decimal("NaN")}, InvalidValue),
    ({"target": Decimal(0)}, InvalidValue),             # higher-is-better needs a target
    ({"indicator": ""}, InvalidValue),
])
def test_an_invalid_rhk_item_is_refused(world, app, changes, error):
    eid = world.evaluation_id()
    plan_standard_items(world, eid)
    item = dict(item_id="new", kind=ItemKind.UTAMA, aspect=Aspect.KUANTITAS,
                indicator="Penindakan", target=Decimal(10),
                direction=Direction.HIGHER_IS_BETTER, actor=world.rater)
    refused(app, error, lambda: app.plan_item(eid, **{**item, **changes}))


def test_a_command_on_an_unknown_evaluation_is_refused(world, app):
    refused(app, NotFound, lambda: app.fix_targets(world.evaluation_id(period="2026-02"),
                                                   actor=world.rater))
    refused(app, InvalidValue, lambda: app.fix_targets("not-a-uuid", actor=world.rater))


# --- realisations ---------------------------------------------------------------------

def test_a_realisation_records_its_evidence(world, app):
    eid = world.evaluation_id()
    plan_standard_items(world, eid)
    app.fix_targets(eid, actor=world.rater)
    new = when(app, lambda: app.record_realisation(
        eid, item_id="violations", value=Decimal(31), note=" CCTV count ",
        evidence=["https://bukti.example/cctv-jan.pdf"], actor=world.employee))
    assert only(new, "kinerja.evaluation.realisation-recorded.v1").fields == {
        "actor": world.employee, "at": new[0]["at"], "item_id": "violations",
        "value": Decimal(31), "evidence": ["https://bukti.example/cctv-jan.pdf"],
        "note": "CCTV count", "supersedes": None}


def test_a_new_realisation_supersedes_the_earlier_one_and_needs_a_new_rating(world, app):
    eid = world.evaluation_id()
    realise(world, eid)
    app.rate_item(eid, item_id="violations", actor=world.rater)
    first = app.get_evaluation(eid).items["violations"]["realisation_version"]
    new = when(app, lambda: app.record_realisation(
        eid, item_id="violations", value=Decimal(60), evidence=["bukti/3"],
        actor=world.employee))
    assert only(new).fields["supersedes"] == first
    assert app.get_evaluation(eid).items["violations"]["rating"] is None


@pytest.mark.parametrize(("item_id", "value", "evidence", "error"), [
    ("nope", Decimal(1), [], UnknownItem),
    ("patrol", Decimal(-3), [], InvalidValue),
    ("patrol", "tinggi", [], InvalidValue),
    ("patrol", Decimal("Infinity"), [], InvalidValue),
    ("patrol", Decimal(90), [""], InvalidValue),
    ("patrol", Decimal(90), [f"bukti/{n}" for n in range(21)], InvalidValue),
])
def test_an_invalid_realisation_is_refused(world, app, item_id, value, evidence, error):
    eid = world.evaluation_id()
    plan_standard_items(world, eid)
    app.fix_targets(eid, actor=world.rater)
    refused(app, error, lambda: app.record_realisation(
        eid, item_id=item_id, value=value, evidence=evidence, actor=world.employee))


# --- only the rater in force rates; nobody rates themselves ----------------------------

def test_the_rater_in_force_rates_an_item_from_its_capaian(world, app):
    eid = world.evaluation_id()
    realise(world, eid)
    new = when(app, lambda: app.rate_item(eid, item_id="violations", actor=world.rater))
    event = only(new, "kinerja.evaluation.item-rated.v1")
    assert event.fields == {
        "actor": world.rater, "at": event["at"], "item_id": "violations",
        "capaian": "133.33", "computed_rating": "di_atas_ekspektasi",
        "rating": "di_atas_ekspektasi", "override_reason": None, "supersedes": None}


@pytest.mark.parametrize("who", ["head", "someone"])
def test_anyone_but_the_rater_in_force_is_refused(world, app, who):
    eid = world.evaluation_id()
    realise(world, eid)
    actor = world.head if who == "head" else "user:tetangga"
    refused(app, NotRaterInForce, lambda: app.rate_item(eid, item_id="patrol", actor=actor))
    refused(app, NotRaterInForce, lambda: app.rate_perilaku(
        eid, value=BerakhlakValue.LOYAL, rating=SESUAI, actor=actor))


def test_nobody_rates_themselves(world, app):
    eid = world.evaluation_id()
    realise(world, eid)
    refused(app, SelfRatingRefused, lambda: app.rate_item(eid, item_id="patrol",
                                                         actor=world.employee))
    refused(app, SelfRatingRefused, lambda: app.rate_perilaku(
        eid, value=BerakhlakValue.AKUNTABEL, rating=ATAS, actor=world.employee))
    refused(app, SelfRatingRefused, lambda: app.deliver_result(eid, actor=world.employee))


def test_a_reassigned_rater_is_refused_from_the_effective_date_and_the_new_one_accepted(
        world, app, clock):
    eid = world.evaluation_id()
    realise(world, eid)
    new_rater = app.register_employee(nip="198505052010011002", name="Budi Pengganti",
                                      unit="Sudinhub Jakarta Pusat", position="Kepala Satpel",
                                      actor="hr:siti").ids["employee_id"]
    app.assign_rater(world.employee, rater_id=new_rater, effective_from=date(2026, 1, 20),
                     actor="hr:siti")
    # Before the effective date the old rater is still in force.
    refused(app, NotRaterInForce, lambda: app.rate_item(eid, item_id="patrol",
                                                       actor=new_rater))
    assert topics(when(app, lambda: app.rate_item(eid, item_id="patrol",
                                                  actor=world.rater))) == [
        "kinerja.evaluation.item-rated.v1"]
    clock.now = clock.now.replace(month=1, day=20, hour=0)
    refused(app, NotRaterInForce, lambda: app.rate_item(eid, item_id="violations",
                                                       actor=world.rater))
    new = when(app, lambda: app.rate_item(eid, item_id="violations", actor=new_rater))
    assert only(new, "kinerja.evaluation.item-rated.v1").fields["actor"] == new_rater


def test_an_employee_without_a_rater_cannot_be_rated(app, clock):
    from tests.scenario import build_world
    world = build_world(app, clock)
    orphan = app.register_employee(nip="199912312020121001", name="Tanpa Penilai",
                                   unit="Sudinhub Jakarta Pusat", position="Petugas",
                                   actor="hr:siti").ids["employee_id"]
    app.start_evaluations(world.cycle_id, period="2026-01", employee_ids=[orphan],
                          actor="hr:siti")
    eid = world.evaluation_id(orphan)
    refused(app, NotRaterInForce, lambda: app.rate_perilaku(
        eid, value=BerakhlakValue.LOYAL, rating=SESUAI, actor=world.rater))


# --- rating an item: the computed rating and overrides ---------------------------------

def test_a_rating_needs_a_realisation(world, app):
    eid = world.evaluation_id()
    plan_standard_items(world, eid)
    app.fix_targets(eid, actor=world.rater)
    refused(app, RealisationMissing, lambda: app.rate_item(eid, item_id="patrol",
                                                          actor=world.rater))
    refused(app, UnknownItem, lambda: app.rate_item(eid, item_id="nope", actor=world.rater))


@pytest.mark.parametrize(("violations", "patrol", "ratings"), [
    ("50", "80", ("sesuai_ekspektasi", "sesuai_ekspektasi")),       # both exactly 80 %
    ("50.01", "79.99", ("di_bawah_ekspektasi", "di_bawah_ekspektasi")),
    ("0", "110", ("di_atas_ekspektasi", "sesuai_ekspektasi")),      # no violations at all
    ("36", "110.01", ("di_atas_ekspektasi", "di_atas_ekspektasi")),  # 111.1 %, 110.01 %
])
def test_the_computed_rating_follows_the_bands(world, app, violations, patrol, ratings):
    eid = world.evaluation_id()
    realise(world, eid, violations=violations, patrol=patrol)
    new = when(app, lambda: (app.rate_item(eid, item_id="violations", actor=world.rater),
                             app.rate_item(eid, item_id="patrol", actor=world.rater)))
    assert tuple(n["computed_rating"] for n in new) == ratings
    assert tuple(n["rating"] for n in new) == ratings


def test_an_override_needs_a_written_reason(world, app):
    eid = world.evaluation_id()
    realise(world, eid)
    refused(app, ReasonRequired, lambda: app.rate_item(eid, item_id="patrol", override=ATAS,
                                                      actor=world.rater))
    refused(app, ReasonRequired, lambda: app.rate_item(eid, item_id="patrol", override=ATAS,
                                                      reason="   ", actor=world.rater))


def test_an_override_records_both_the_computed_and_the_final_rating(world, app):
    eid = world.evaluation_id()
    realise(world, eid)
    new = when(app, lambda: app.rate_item(
        eid, item_id="patrol", override=ATAS, reason="Banjir: patroli dialihkan",
        actor=world.rater))
    assert only(new).fields == {
        "actor": world.rater, "at": new[0]["at"], "item_id": "patrol", "capaian": "95.00",
        "computed_rating": "sesuai_ekspektasi", "rating": "di_atas_ekspektasi",
        "override_reason": "Banjir: patroli dialihkan", "supersedes": None}


def test_an_override_equal_to_the_computed_rating_needs_no_reason(world, app):
    eid = world.evaluation_id()
    realise(world, eid)
    new = when(app, lambda: app.rate_item(eid, item_id="patrol", override=SESUAI,
                                          actor=world.rater))
    assert only(new).fields["override_reason"] is None


def test_an_unknown_override_value_is_refused(world, app):
    eid = world.evaluation_id()
    realise(world, eid)
    refused(app, InvalidValue, lambda: app.rate_item(
        eid, item_id="patrol", override="luar_biasa", reason="why not", actor=world.rater))


def test_a_second_rating_of_an_item_supersedes_the_first(world, app):
    eid = world.evaluation_id()
    realise(world, eid)
    first = when(app, lambda: app.rate_item(eid, item_id="patrol", actor=world.rater))
    second = when(app, lambda: app.rate_item(eid, item_id="patrol", override=BAWAH,
                                             reason="Laporan terlambat", actor=world.rater))
    assert only(second).fields["supersedes"] == first[0].originator_version


@pytest.mark.parametrize(("value", "rating"), [("ramah", SESUAI), ("loyal", "hebat")])
def test_an_invalid_perilaku_rating_is_refused(world, app, value, rating):
    refused(app, InvalidValue, lambda: app.rate_perilaku(
        world.evaluation_id(), value=value, rating=rating, actor=world.rater))


def test_a_perilaku_rating_is_recorded_per_berakhlak_value(world, app):
    new = when(app, lambda: app.rate_perilaku(
        world.evaluation_id(), value=BerakhlakValue.BERORIENTASI_PELAYANAN, rating=ATAS,
        note="Sigap membantu pengguna jalan", actor=world.rater))
    assert only(new, "kinerja.evaluation.perilaku-rated.v1").fields == {
        "actor": world.rater, "at": new[0]["at"], "value": "berorientasi_pelayanan",
        "rating": "di_atas_ekspektasi", "note": "Sigap membantu pengguna jalan"}


# --- delivery: HK, PK and predikat under the pinned rubric ------------------------------

def test_delivery_derives_the_result_under_the_pinned_rubric(world, app):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee, violations="30", patrol="95")
    new = when(app, lambda: app.deliver_result(eid, actor=world.rater))
    event = only(new, "kinerja.evaluation.result-delivered.v1")
    delivered_on = event["at"].date()
    assert event.fields == {
        "actor": world.rater, "at": event["at"],
        # violations 133 % above (utama), patrol 95 % meets: 1 of 2 is not most -> Sesuai
        "hasil_kerja": "sesuai_ekspektasi", "perilaku_kerja": "sesuai_ekspektasi",
        "predikat": "baik", "rubric_version": 1, "feedback": {},
        "perilaku_suggestion": "sesuai_ekspektasi", "departure_reason": None,
        "delivered_on": delivered_on, "appeal_due": delivered_on + timedelta(days=14)}
    assert app.get_evaluation(eid).status == "delivered"


def test_delivery_needs_every_item_and_all_seven_values_rated(world, app):
    eid = world.evaluation_id()
    realise(world, eid)
    app.rate_item(eid, item_id="violations", actor=world.rater)
    error = refused(app, EvaluationIncomplete, lambda: app.deliver_result(
        eid, actor=world.rater))
    assert error.details["unrated"] == ["patrol"]
    app.rate_item(eid, item_id="patrol", actor=world.rater)
    for value in list(BerakhlakValue)[:6]:
        app.rate_perilaku(eid, value=value, rating=SESUAI, actor=world.rater)
    error = refused(app, EvaluationIncomplete, lambda: app.deliver_result(
        eid, actor=world.rater))
    assert error.details["missing"] == ["kolaboratif"]


def test_delivery_before_planning_is_refused(world, app):
    refused(app, EvaluationIncomplete, lambda: app.deliver_result(
        world.evaluation_id(), actor=world.rater))


def test_a_perilaku_departing_from_the_weighted_suggestion_needs_a_reason(world, app):
    eid = world.evaluation_id()
    # Peers and citizens all score 1: the suggestion falls to Di Bawah while the rater's
    # seven values say Sesuai.
    app.feedback_lookup = lambda employee, period: [(FeedbackSource.PEER, 1)] * 3 + [
        (FeedbackSource.CITIZEN, 1)] * 5
    rate_fully(world, eid, world.employee)
    refused(app, ReasonRequired, lambda: app.deliver_result(eid, actor=world.rater))
    new = when(app, lambda: app.deliver_result(
        eid, departure_reason="Aduan warga sudah ditindaklanjuti", actor=world.rater))
    fields = only(new).fields
    assert fields["perilaku_kerja"] == "sesuai_ekspektasi"
    assert fields["perilaku_suggestion"] == "di_bawah_ekspektasi"
    assert fields["departure_reason"] == "Aduan warga sudah ditindaklanjuti"
    assert fields["feedback"] == {"peer": {"count": 3, "mean": "1.00"},
                                  "citizen": {"count": 5, "mean": "1.00"}}


def test_nothing_is_rated_after_delivery(world, app):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    app.deliver_result(eid, actor=world.rater)
    refused(app, EvaluationAlreadyDelivered, lambda: app.rate_item(
        eid, item_id="patrol", override=ATAS, reason="x", actor=world.rater))
    refused(app, EvaluationAlreadyDelivered, lambda: app.rate_perilaku(
        eid, value=BerakhlakValue.LOYAL, rating=ATAS, actor=world.rater))
    refused(app, EvaluationAlreadyDelivered, lambda: app.record_realisation(
        eid, item_id="patrol", value=Decimal(100), evidence=[], actor=world.employee))
    refused(app, EvaluationAlreadyDelivered, lambda: app.deliver_result(
        eid, actor=world.rater))


@pytest.mark.parametrize(("perilaku", "violations", "patrol", "predikat"), [
    (ATAS, "20", "120", "sangat_baik"),     # HK above, PK above
    (BAWAH, "20", "120", "kurang"),         # HK above, PK below
    (ATAS, "80", "50", "butuh_perbaikan"),  # HK below, PK above
    (BAWAH, "80", "50", "sangat_kurang"),
])
def test_the_predikat_delivered_is_the_matrix_cell(world, app, perilaku, violations, patrol,
                                                   predikat):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee, violations=violations, patrol=patrol,
               perilaku=perilaku)
    new = when(app, lambda: app.deliver_result(eid, actor=world.rater))
    assert only(new).fields["predikat"] == predikat


def test_a_rater_whose_employment_ended_is_no_longer_in_force(world, app, clock):
    eid = world.evaluation_id()
    realise(world, eid)
    app.end_employment(world.rater, effective_on=date(2026, 1, 10), reason="Pensiun",
                       actor="hr:siti")
    app.rate_item(eid, item_id="patrol", actor=world.rater)   # still employed today
    clock.now = clock.now.replace(day=10)
    refused(app, NotRaterInForce, lambda: app.rate_item(eid, item_id="violations",
                                                       actor=world.rater))
    app.assign_rater(world.employee, rater_id=world.head, effective_from=date(2026, 1, 10),
                     actor="hr:siti")
    assert topics(when(app, lambda: app.rate_item(eid, item_id="violations",
                                                  actor=world.head))) == [
        "kinerja.evaluation.item-rated.v1"]
