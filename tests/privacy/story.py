"""One appraisal story that writes every kind of personal field, each with a text that
appears nowhere else, so that raw stores can be searched for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from domain.values import BerakhlakValue, FeedbackSource, Rating
from tests.scenario import HR, PERIOD, YEAR, TickingClock, World, build_world, \
    plan_standard_items, rate_fully

NAME = "Dewi Anggraini Lestari"
NIP = "198706152010012003"
CITIZEN = "NIK 3171012345670001"

#: field -> a text written into it about Dewi (all under Dewi's key).
DEWI_TEXTS = {
    "note": "catatan realisasi: lembur bersama Pak Joko Susilo",
    "override_reason": "alasan override: sering izin sakit (diabetes)",
    "perilaku_note": "catatan perilaku: konflik dengan rekan Bambang",
    "departure_reason": "alasan menyimpang: masukan warga tidak representatif",
    "grounds": "keberatan: penilai tidak melihat laporan shift malam",
    "question": "pertanyaan: mengapa laporan shift malam tidak dilampirkan?",
    "text": "penjelasan: laporan tertinggal di kantor Satpel Gambir",
    "reasons": "putusan: bukti shift malam diterima, hasil diubah",
    "comment": "komentar warga: Bu Dewi membantu anak saya menyeberang",
    "end_reason": "alasan berhenti: mengundurkan diri karena pindah ke Surabaya",
}
#: Written about another employee, under that employee's key.
OTHER_WITHDRAW_REASON = "penarikan: sudah dibicarakan langsung dengan Ibu Rina"


def generous_feedback(employee_id: str, period: str) -> list[tuple[FeedbackSource, int]]:
    """Peers and citizens all give 5: a rater who rates every value below expectation
    then departs from the weighted suggestion and must say why."""
    return [(FeedbackSource.PEER, 5), (FeedbackSource.CITIZEN, 5)]


@dataclass
class Story:
    world: World
    dewi: str = ""
    dewi_evaluation: str = ""
    dewi_appeal: str = ""
    other_appeal: str = ""
    feedback_id: str = ""
    results: dict[str, Any] = field(default_factory=dict)


def tell(app: Any, clock: TickingClock) -> Story:
    world = build_world(app, clock)
    story = Story(world=world)
    dewi = app.register_employee(nip=NIP, name=NAME, unit=world_unit(app, world),
                                 position="Petugas Lapangan", actor=HR).ids["employee_id"]
    story.dewi = dewi
    app.assign_rater(dewi, rater_id=world.rater, effective_from=date(YEAR, 1, 1), actor=HR)
    app.assign_reviewer(dewi, reviewer_id=world.head, effective_from=date(YEAR, 1, 1),
                        actor=HR)
    app.start_evaluations(world.cycle_id, period=PERIOD, employee_ids=[dewi], actor=HR)
    evaluation = story.dewi_evaluation = world.evaluation_id(dewi)
    plan_standard_items(world, evaluation)
    app.fix_targets(evaluation, actor=world.rater)
    app.record_realisation(evaluation, item_id="violations", value=Decimal(30),
                           evidence=["doc:bukti/1"], note=DEWI_TEXTS["note"], actor=dewi)
    app.record_realisation(evaluation, item_id="patrol", value=Decimal(95),
                           evidence=["doc:bukti/2"], actor=dewi)
    app.rate_item(evaluation, item_id="violations", override=Rating.SESUAI,
                  reason=DEWI_TEXTS["override_reason"], actor=world.rater)
    app.rate_item(evaluation, item_id="patrol", actor=world.rater)
    for value in BerakhlakValue:
        note = DEWI_TEXTS["perilaku_note"] if value is BerakhlakValue.HARMONIS else None
        app.rate_perilaku(evaluation, value=value, rating=Rating.DI_BAWAH, note=note,
                          actor=world.rater)
    app.deliver_result(evaluation, departure_reason=DEWI_TEXTS["departure_reason"],
                       actor=world.rater)
    appeal = story.dewi_appeal = app.file_appeal(
        evaluation, grounds=DEWI_TEXTS["grounds"], actor=dewi).ids["appeal_id"]
    app.request_explanation(appeal, party="employee", question=DEWI_TEXTS["question"],
                            actor=world.head)
    app.give_explanation(appeal, text=DEWI_TEXTS["text"], actor=dewi)
    app.decide_appeal(appeal, outcome="changed", hk=Rating.SESUAI, pk=Rating.SESUAI,
                      reasons=DEWI_TEXTS["reasons"], actor=world.head)
    story.feedback_id = app.give_feedback(
        employee_id=dewi, period=PERIOD, source=FeedbackSource.CITIZEN, giver_ref=CITIZEN,
        score=5, comment=DEWI_TEXTS["comment"], channel="JAKI", external_ref="jaki-001",
        actor="channel:jaki").ids["feedback_id"]

    other = world.employee
    other_evaluation = world.evaluation_id(other)
    rate_fully(world, other_evaluation, other)
    app.deliver_result(other_evaluation, actor=world.rater)
    story.other_appeal = app.file_appeal(other_evaluation, grounds="keberatan umum",
                                         actor=other).ids["appeal_id"]
    app.withdraw_appeal(story.other_appeal, reason=OTHER_WITHDRAW_REASON, actor=other)

    app.end_employment(dewi, effective_on=date(YEAR, 3, 31),
                       reason=DEWI_TEXTS["end_reason"], actor=HR)
    story.results = results(app, story)
    return story


def world_unit(app: Any, world: World) -> str:
    return app.get_cycle(world.cycle_id).unit


def results(app: Any, story: Story) -> dict[str, Any]:
    """Everything computed from the clear fields: must not change when anyone is shredded."""
    out = {}
    for employee in (story.dewi, story.world.employee):
        evaluation = app.get_evaluation(story.world.evaluation_id(employee))
        out[employee] = (dict(evaluation.result or {}),
                         {k: (v.get("capaian"), v.get("rating")) for k, v in
                          evaluation.items.items()},
                         dict(evaluation.perilaku))
    return out
