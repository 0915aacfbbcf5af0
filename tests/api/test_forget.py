"""Shredding a person's personal data over HTTP (`POST /v1/employees/{id}/forget`): admin
only, with a reason, recorded in the log, irreversible, and refused a second time."""

from __future__ import annotations

from domain.personal_data import SHREDDED
from tests.api.conftest import Api
from tests.scenario import HR

DEWI = {"nip": "199001012015031077", "name": "Dewi Lestari", "unit": "U", "position": "P"}
REASON = {"reason": "masa retensi berakhir (UU 27/2022 pasal 43)"}
SHREDDED_TOPIC = "kinerja.employee.personal-data-shredded.v1"


def _dewi(api: Api) -> str:
    return api.post("/v1/employees", DEWI, as_=api.auth(HR, "admin"),
                    expect=201).json()["employee_id"]


def test_an_administrator_shreds_a_persons_data_with_a_reason(api: Api) -> None:
    dewi = _dewi(api)
    before = api.log_position()
    answer = api.post(f"/v1/employees/{dewi}/forget", REASON,
                      as_=api.auth("bkd:admin-1", "admin"), expect=200).json()
    assert answer == {"position": before + 1, "employee_id": dewi}
    assert api.topics_after(before) == [SHREDDED_TOPIC]
    employee = api.runtime.ledger.get_employee(dewi)
    assert employee.name == SHREDDED and employee.nip == SHREDDED
    ledger = api.runtime.ledger
    (note,) = ledger.recorder.select_notifications(before + 1, 1)
    shredding = ledger.mapper.to_domain_event(note)
    assert (shredding.actor, shredding.reason) == ("bkd:admin-1", REASON["reason"])


def test_only_an_administrator_may_shred_and_a_refusal_writes_nothing(api: Api) -> None:
    dewi = _dewi(api)
    before = api.log_position()
    for role in ("rater", "inspector", "employee", "appeal_panel"):
        refused = api.post(f"/v1/employees/{dewi}/forget", REASON,
                           as_=api.auth(dewi if role == "employee" else "x", role),
                           expect=403).json()
        assert refused["status"] == 403
    assert api.post(f"/v1/employees/{dewi}/forget", {}, as_=api.auth(HR, "admin"),
                    expect=422).json()["status"] == 422
    assert api.post(f"/v1/employees/{dewi}/forget", {"reason": ""},
                    as_=api.auth(HR, "admin"), expect=422)
    assert api.log_position() == before
    assert api.runtime.ledger.get_employee(dewi).name == DEWI["name"]


def test_a_second_shredding_is_refused_and_an_unknown_person_is_not_found(api: Api) -> None:
    dewi = _dewi(api)
    admin = api.auth(HR, "admin")
    api.post(f"/v1/employees/{dewi}/forget", REASON, as_=admin, expect=200)
    position = api.log_position()
    again = api.post(f"/v1/employees/{dewi}/forget", REASON, as_=admin, expect=409).json()
    assert again["code"] == "personal-data-already-shredded"
    missing = api.post("/v1/employees/00000000-0000-4000-8000-000000000001/forget",
                       REASON, as_=admin, expect=404).json()
    assert missing["status"] == 404
    assert api.log_position() == position


def test_a_retried_shredding_with_its_key_answers_the_first_answer(api: Api) -> None:
    dewi = _dewi(api)
    admin = api.auth(HR, "admin")
    first = api.post(f"/v1/employees/{dewi}/forget", REASON, as_=admin, key="shred-1",
                     expect=200)
    again = api.post(f"/v1/employees/{dewi}/forget", REASON, as_=admin, key="shred-1",
                     expect=200)
    assert again.json() == first.json()
    assert again.headers["idempotency-replayed"] == "true"
