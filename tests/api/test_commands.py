"""Every command of the service, through HTTP, as the role that may give it; each answer
names the log position of its last event and the events record the caller as actor."""

from __future__ import annotations

import json

from tests.api.conftest import Api, HttpWorld, build_http_world, plan_and_rate
from tests.scenario import HR, PERIOD, UNIT

APPEALED = "kinerja.appeal.filed.v1"


def actors_after(api: Api, position: int) -> list[tuple[str, str]]:
    notes = api.runtime.ledger.recorder.select_notifications(position + 1, 10_000)
    return [(n.topic, api.runtime.ledger.mapper.to_domain_event(n).actor) for n in notes]


def test_setting_up_a_cycle_records_each_step_with_the_admin_as_actor(api: Api) -> None:
    before = api.log_position()
    world = build_http_world(api, employees=2)
    recorded = actors_after(api, before)
    assert {actor for _, actor in recorded} == {HR}
    topics = [t for t, _ in recorded]
    assert topics.count("kinerja.employee.registered.v1") == 4
    assert topics.count("kinerja.evaluation.started.v1") == 2
    assert len(world.evaluation_ids) == 2 and world.cycle_id and world.rubric_id


def test_a_write_answers_the_position_of_its_last_event(http_world: HttpWorld) -> None:
    api = http_world.api
    answer = api.post(f"/v1/cycles/{http_world.cycle_id}/periods", {"period": "2026-02"},
                      as_=http_world.hr, expect=200).json()
    assert answer == {"position": api.log_position()}
    started = api.post(f"/v1/cycles/{http_world.cycle_id}/evaluations",
                       {"period": "2026-02", "employee_ids": http_world.employees},
                       as_=http_world.hr, expect=201).json()
    # Evaluation(s) and the cycle's enrolment: the answer is the last of them.
    assert started["position"] == api.log_position()
    assert len(started["evaluation_ids"]) == 1


def test_the_whole_evaluation_flow_from_plan_to_appeal_decision(http_world: HttpWorld
                                                                ) -> None:
    world, api = http_world, http_world.api
    start = api.log_position()
    plan_and_rate(world)
    base = f"/v1/evaluations/{world.evaluation_id}"
    api.post(f"{base}/deliver", {}, as_=world.as_rater, expect=200)
    appeal = api.post(f"{base}/appeal", {"grounds": "Target pelanggaran tidak realistis"},
                      as_=world.as_employee(), expect=201).json()
    appeal_id = appeal["appeal_id"]
    api.post(f"/v1/appeals/{appeal_id}/explanation-requests",
             {"party": "rater", "question": "Mengapa target 40?"}, as_=world.as_head,
             expect=201)
    api.post(f"/v1/appeals/{appeal_id}/explanations", {"text": "Sesuai data 2025"},
             as_=world.as_rater, expect=201)
    decided = api.post(f"/v1/appeals/{appeal_id}/decision",
                       {"outcome": "changed", "hasil_kerja": "di_atas_ekspektasi",
                        "perilaku_kerja": "di_atas_ekspektasi",
                        "reasons": "Bukti patroli lengkap"},
                       as_=world.as_head, expect=200).json()
    assert decided["position"] == api.log_position()
    recorded = actors_after(api, start)
    by_topic = {t: a for t, a in recorded}
    assert by_topic["kinerja.evaluation.item-planned.v1"] == world.rater
    assert by_topic["kinerja.evaluation.realisation-recorded.v1"] == world.employee
    assert by_topic["kinerja.evaluation.result-delivered.v1"] == world.rater
    assert by_topic[APPEALED] == world.employee
    assert by_topic["kinerja.appeal.decided.v1"] == world.head
    assert recorded[-1][0] == "kinerja.evaluation.result-changed.v1"


def test_an_override_needs_a_reason_and_records_it(http_world: HttpWorld) -> None:
    world, api = http_world, http_world.api
    plan_and_rate(world)
    base = f"/v1/evaluations/{world.evaluation_id}"
    before = api.log_position()
    refused = api.post(f"{base}/items/patrol/rating", {"override": "di_atas_ekspektasi"},
                       as_=world.as_rater, expect=422).json()
    assert refused["code"] == "reason-required"
    assert api.log_position() == before
    api.post(f"{base}/items/patrol/rating",
             {"override": "di_atas_ekspektasi", "reason": "Patroli tambahan saat banjir"},
             as_=world.as_rater, expect=200)
    note = api.runtime.ledger.recorder.select_notifications(api.log_position(), 1)[0]
    event = api.runtime.ledger.mapper.to_domain_event(note)
    assert (event.rating, event.override_reason) == ("di_atas_ekspektasi",
                                                     "Patroli tambahan saat banjir")


def test_calibration_lock_reopen_and_correction(http_world: HttpWorld) -> None:
    world, api = http_world, http_world.api
    hr = world.hr
    plan_and_rate(world)
    base = f"/v1/evaluations/{world.evaluation_id}"
    api.post(f"{base}/deliver", {}, as_=world.as_rater, expect=200)
    api.post(f"{base}/calibrations", {"session": "kalibrasi-2026-01",
                                      "hasil_kerja": "di_atas_ekspektasi",
                                      "perilaku_kerja": "sesuai_ekspektasi",
                                      "reason": "Sesi kalibrasi unit"}, as_=hr, expect=200)
    cycle = f"/v1/cycles/{world.cycle_id}"
    api.post(f"{cycle}/appeal-panel", {"members": ["panel:a", "panel:b"]}, as_=hr,
             expect=200)
    api.post(f"{cycle}/periods/{PERIOD}/organisational-result", {"result": "istimewa"},
             as_=hr, expect=200)
    api.post(f"{cycle}/periods/{PERIOD}/close", as_=hr, expect=200)
    api.post(f"{cycle}/lock", {}, as_=hr, expect=200)
    locked = api.post(f"{base}/calibrations", {"session": "late",
                                               "hasil_kerja": "sesuai_ekspektasi",
                                               "perilaku_kerja": "sesuai_ekspektasi",
                                               "reason": "x"}, as_=hr, expect=422).json()
    assert locked["code"] == "cycle-locked"
    api.post(f"{cycle}/reopen", {"reason": "Salah input", "authority": "SK BKD 12/2026"},
             as_=hr, expect=200)
    api.post(f"{base}/corrections", {"hasil_kerja": "sesuai_ekspektasi",
                                     "perilaku_kerja": "sesuai_ekspektasi",
                                     "reason": "Koreksi setelah pembukaan kembali"},
             as_=hr, expect=200)
    api.post(f"{cycle}/lock", {"justification": None}, as_=hr, expect=200)
    assert api.topics_after(0).count("kinerja.evaluation.result-changed.v1") == 2


def test_an_appeal_window_lapses_only_after_it_closes(http_world: HttpWorld) -> None:
    world, api = http_world, http_world.api
    plan_and_rate(world)
    base = f"/v1/evaluations/{world.evaluation_id}"
    api.post(f"{base}/deliver", {}, as_=world.as_rater, expect=200)
    early = api.post(f"{base}/appeal-lapsed", as_=world.hr, expect=422).json()
    assert early["code"] == "appeal-window-still-open"
    api.clock.advance(days=15)
    api.post(f"{base}/appeal-lapsed", as_=world.hr, expect=200)
    late = api.post(f"{base}/appeal", {"grounds": "terlambat"}, as_=world.as_employee(),
                    expect=422).json()
    assert late["code"] == "appeal-window-closed"


def test_an_appeal_can_be_withdrawn_by_the_employee(http_world: HttpWorld) -> None:
    world, api = http_world, http_world.api
    plan_and_rate(world)
    base = f"/v1/evaluations/{world.evaluation_id}"
    api.post(f"{base}/deliver", {}, as_=world.as_rater, expect=200)
    appeal_id = api.post(f"{base}/appeal", {"grounds": "keberatan"},
                         as_=world.as_employee(), expect=201).json()["appeal_id"]
    api.post(f"/v1/appeals/{appeal_id}/withdrawal", {"reason": "Sudah dijelaskan"},
             as_=world.as_employee(), expect=200)
    again = api.post(f"/v1/appeals/{appeal_id}/decision",
                     {"outcome": "kept", "reasons": "tetap"}, as_=world.as_head,
                     expect=409).json()
    assert again["code"] == "appeal-not-open"


def test_employee_records_transfer_and_end_of_employment(http_world: HttpWorld) -> None:
    world, api = http_world, http_world.api
    employee = f"/v1/employees/{world.employee}"
    api.post(f"{employee}/transfers", {"unit": "Sudinhub Jakarta Barat",
                                       "position": "Petugas", "effective_from": "2026-03-01"},
             as_=world.hr, expect=200)
    api.post(f"{employee}/end-employment", {"effective_on": "2026-06-30",
                                            "reason": "Pensiun"}, as_=world.hr, expect=200)
    ended = api.post(f"{employee}/transfers", {"unit": "X", "position": "Y",
                                               "effective_from": "2026-07-01"},
                     as_=world.hr, expect=422).json()
    assert ended["code"] == "employment-ended"


def test_a_rubric_version_carries_its_policy_and_indicators(api: Api) -> None:
    hr = api.auth(HR, "admin")
    rubric = api.post("/v1/rubrics", {"code": "r", "title": "R"}, as_=hr,
                      expect=201).json()["rubric_id"]
    api.post(f"/v1/rubrics/{rubric}/versions", {
        "version": 1, "effective_from": "2026-01-01", "summary": "ketat",
        "policy": {"above_threshold": "120", "appeal_window_days": 21,
                   "quotas": {"istimewa": [{"predikat": ["sangat_baik"],
                                            "bound": "max_share", "value": 0.5}]}},
        "indicators": [{"code": "v", "indicator": "Pelanggaran",
                        "direction": "lower_is_better"}]}, as_=hr, expect=201)
    note = api.runtime.ledger.recorder.select_notifications(api.log_position(), 1)[0]
    event = api.runtime.ledger.mapper.to_domain_event(note)
    assert event.policy["appeal_window_days"] == 21
    assert event.indicators[0]["direction"] == "lower_is_better"
    conflict = api.post(f"/v1/rubrics/{rubric}/versions", {
        "version": 3, "effective_from": "2026-01-01", "summary": "x"}, as_=hr,
        expect=409).json()
    assert conflict["code"] == "rubric-version-conflict"


def test_peer_feedback_names_the_caller_as_giver(http_world: HttpWorld) -> None:
    world, api = http_world, http_world.api
    peer = world.rater  # any colleague; the giver is whoever the token names
    answer = api.post("/v1/feedback", {"employee_id": world.employee, "period": PERIOD,
                                       "source": "peer", "score": 4,
                                       "value": "kolaboratif"},
                      as_=api.auth(peer, "peer"), expect=201).json()
    note = api.runtime.ledger.recorder.select_notifications(answer["position"], 1)[0]
    event = api.runtime.ledger.mapper.to_domain_event(note)
    assert str(note.originator_id) == answer["feedback_id"]
    assert (event.giver_ref, event.actor, event.source) == (peer, peer, "peer")


def test_peer_feedback_refuses_a_giver_named_in_the_body(http_world: HttpWorld) -> None:
    world, api = http_world, http_world.api
    before = api.log_position()
    refused = api.post("/v1/feedback", {"employee_id": world.employee, "period": PERIOD,
                                        "source": "peer", "score": 4, "giver_ref": "x",
                                        "actor": "someone-else"},
                       as_=api.auth("peer:1", "peer"), expect=422).json()
    assert refused["code"] == "validation-failed"
    assert api.log_position() == before


def test_a_citizen_channel_sends_thousands_of_items_in_one_batch(http_world: HttpWorld
                                                                ) -> None:
    world, api = http_world, http_world.api
    channel = api.auth("channel:jaki", "citizen_channel")
    items = [{"employee_id": world.employee, "period": PERIOD, "giver_ref": f"warga-{n}",
              "score": 1 + n % 5, "channel": "JAKI", "external_ref": f"JAKI-{n:06d}"}
             for n in range(2000)]
    items.append({"employee_id": world.employee, "period": PERIOD, "giver_ref": "anon",
                  "score": 3, "channel": "Qlue"})
    before = api.log_position()
    answer = api.post("/v1/feedback/citizen/batch", {"items": items}, as_=channel,
                      expect=201).json()
    assert len(answer["feedback_ids"]) == 2001 and len(set(answer["feedback_ids"])) == 2001
    assert api.log_position() - before == 2001 or answer["position"] == api.log_position()
    assert api.topics_after(before).count("kinerja.feedback.given.v1") == 2001
    # A resent batch (the channel's own references) records nothing new.
    again = api.post("/v1/feedback/citizen/batch", {"items": items[:2000]}, as_=channel,
                     expect=201).json()
    assert again["position"] is None
    assert again["feedback_ids"] == answer["feedback_ids"][:2000]


def test_single_citizen_feedback_pseudonymises_nothing_it_should_not(http_world: HttpWorld
                                                                     ) -> None:
    world, api = http_world, http_world.api
    answer = api.post("/v1/feedback/citizen", {
        "employee_id": world.employee, "period": PERIOD, "giver_ref": "warga-1",
        "score": 5, "channel": "CRM", "external_ref": "CRM/2026/000001",
        "comment": "Cepat tanggap"}, as_=api.auth("channel:crm", "citizen_channel"),
        expect=201).json()
    note = api.runtime.ledger.recorder.select_notifications(answer["position"], 1)[0]
    event = api.runtime.ledger.mapper.to_domain_event(note)
    assert event.actor == "channel:crm" and event.source == "citizen"
    assert str(note.originator_id) == answer["feedback_id"]
    assert json.loads(json.dumps(answer))["feedback_id"]


def test_an_actor_in_a_command_body_is_refused(http_world: HttpWorld) -> None:
    world, api = http_world, http_world.api
    before = api.log_position()
    api.post(f"/v1/cycles/{world.cycle_id}/periods", {"period": "2026-03",
                                                       "actor": "hr:other"},
             as_=world.hr, expect=422)
    assert api.log_position() == before


def test_start_evaluations_refuses_an_employee_of_another_unit(http_world: HttpWorld
                                                               ) -> None:
    world, api = http_world, http_world.api
    other = api.post("/v1/employees", {"nip": "199901012020011001", "name": "B",
                                       "unit": "Lain", "position": "P"},
                     as_=world.hr, expect=201).json()["employee_id"]
    api.post(f"/v1/cycles/{world.cycle_id}/periods", {"period": "2026-02"}, as_=world.hr,
             expect=200)
    before = api.log_position()
    refused = api.post(f"/v1/cycles/{world.cycle_id}/evaluations",
                       {"period": "2026-02", "employee_ids": [world.employee, other]},
                       as_=world.hr, expect=422).json()
    assert refused["code"] == "invalid-value" and UNIT in refused["detail"]
    assert api.log_position() == before
