"""Idempotency-Key: a retried POST returns the first answer (status and body) and records
nothing twice, across restarts and workers; the same key with another body is refused."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from api.settings import Settings
from tests.api.conftest import Api, HttpWorld, open_api
from tests.scenario import HR, PERIOD

EMPLOYEE = {"nip": "199001012015031099", "name": "Baru", "unit": "U", "position": "P"}


def test_a_retried_write_answers_the_first_answer_and_records_nothing(api: Api) -> None:
    hr = api.auth(HR, "admin")
    first = api.post("/v1/employees", EMPLOYEE, as_=hr, key="reg-1", expect=201)
    position = api.log_position()
    again = api.post("/v1/employees", EMPLOYEE, as_=hr, key="reg-1", expect=201)
    assert again.json() == first.json()
    assert again.headers["idempotency-replayed"] == "true"
    assert "idempotency-replayed" not in first.headers
    assert api.log_position() == position


def test_key_order_and_spacing_of_the_body_do_not_make_another_request(api: Api) -> None:
    hr = api.auth(HR, "admin")
    api.post("/v1/rubrics", {"code": "a", "title": "A"}, as_=hr, key="k", expect=201)
    response = api.client.post("/v1/rubrics", content=b'{ "title":"A",  "code":"a" }',
                               headers={**hr, "Idempotency-Key": "k",
                                        "Content-Type": "application/json"})
    assert response.status_code == 201
    assert response.headers["idempotency-replayed"] == "true"


def test_the_same_key_with_another_body_is_refused(api: Api) -> None:
    hr = api.auth(HR, "admin")
    api.post("/v1/employees", EMPLOYEE, as_=hr, key="reg-1", expect=201)
    position = api.log_position()
    refused = api.post("/v1/employees", {**EMPLOYEE, "name": "Lain"}, as_=hr, key="reg-1",
                       expect=422).json()
    assert refused["code"] == "idempotency-key-reused"
    assert refused["type"] == "https://kinerja-ledger.id/problems/idempotency-key-reused"
    assert api.log_position() == position


def test_the_same_key_on_another_route_is_another_request(api: Api) -> None:
    hr = api.auth(HR, "admin")
    api.post("/v1/rubrics", {"code": "a", "title": "A"}, as_=hr, key="k", expect=201)
    refused = api.post("/v1/cycles", {"unit": "U", "year": 2026, "periodicity": "monthly",
                                      "rubric_id": "00000000-0000-4000-8000-000000000000"},
                       as_=hr, key="k", expect=422).json()
    assert refused["code"] == "idempotency-key-reused"


def test_keys_are_scoped_to_the_caller(api: Api) -> None:
    api.post("/v1/rubrics", {"code": "a", "title": "A"}, as_=api.auth(HR, "admin"),
             key="k", expect=201)
    other = api.post("/v1/rubrics", {"code": "b", "title": "B"},
                     as_=api.auth("hr:other", "admin"), key="k", expect=201)
    assert "idempotency-replayed" not in other.headers


def test_a_refusal_is_the_first_answer_too(api: Api) -> None:
    hr = api.auth(HR, "admin")
    missing = "/v1/employees/00000000-0000-4000-8000-000000000000/transfers"
    body = {"unit": "U", "position": "P", "effective_from": "2026-01-01"}
    first = api.post(missing, body, as_=hr, key="t", expect=404)
    again = api.post(missing, body, as_=hr, key="t", expect=404)
    assert again.json() == first.json()
    assert again.headers["content-type"] == "application/problem+json"
    assert again.headers["idempotency-replayed"] == "true"


def test_a_malformed_key_is_refused(api: Api) -> None:
    hr = api.auth(HR, "admin")
    bad = api.client.post("/v1/rubrics", json={"code": "a", "title": "A"},
                          headers={**hr, "Idempotency-Key": "spaces are not allowed"})
    assert bad.status_code == 400 and bad.json()["code"] == "idempotency-key-invalid"
    assert api.log_position() == 0


@pytest.mark.parametrize("size", [50, 600], ids=["batch", "streamed batch"])
def test_a_retried_feedback_batch_answers_the_same_ids(http_world: HttpWorld,
                                                       size: int) -> None:
    world, api = http_world, http_world.api
    channel = api.auth("channel:qlue", "citizen_channel")
    items = [{"employee_id": world.employee, "period": PERIOD, "giver_ref": f"w{n}",
              "score": 4, "channel": "Qlue"} for n in range(size)]
    first = api.post("/v1/feedback/citizen/batch", {"items": items}, as_=channel,
                     key="batch-7", expect=201).json()
    position = api.log_position()
    again = api.post("/v1/feedback/citizen/batch", {"items": items}, as_=channel,
                     key="batch-7", expect=201).json()
    assert again == first and len(set(first["feedback_ids"])) == size
    assert api.log_position() == position
    assert first["position"] == position


def test_keys_survive_a_restart(sql_settings: Settings, tmp_path: Path) -> None:
    body = {"code": "a", "title": "A"}
    apis = open_api(sql_settings)
    api = next(apis)
    first = api.post("/v1/rubrics", body, as_=api.auth(HR, "admin"), key="r", expect=201)
    apis.close()
    reopened = open_api(sql_settings)
    restarted = next(reopened)
    again = restarted.post("/v1/rubrics", body, as_=restarted.auth(HR, "admin"), key="r",
                           expect=201)
    assert again.json() == first.json()
    assert restarted.log_position() == 1
    reopened.close()


def test_a_key_raced_by_another_worker_records_the_write_once(
        sql_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers (two apps on one store) get the same keyed request; the second looked
    before the first had written. Its key row collides inside its events' transaction, so
    its events roll back and it answers the first worker's answer."""
    one = open_api(sql_settings)
    two = open_api(sql_settings)
    first_api, second_api = next(one), next(two)
    assert second_api.runtime.idempotency.transactional
    hr = first_api.auth(HR, "admin")
    body = {"nip": "199001012015031099", "name": "Baru", "unit": "U", "position": "P",
            "employee_id": "0f0e0d0c-0b0a-4908-8706-050403020100"}
    first = first_api.post("/v1/employees", body, as_=hr, key="race", expect=201)
    store = second_api.runtime.idempotency
    looked = []
    real_lookup = store.lookup

    def blind_once(actor: str, key: str):  # type: ignore[no-untyped-def]
        looked.append(key)
        return None if len(looked) == 1 else real_lookup(actor, key)
    monkeypatch.setattr(store, "lookup", blind_once)
    second = second_api.post("/v1/employees", body, as_=second_api.auth(HR, "admin"),
                             key="race")
    assert (second.status_code, second.json()) == (201, first.json())
    assert second.headers["idempotency-replayed"] == "true"
    assert first_api.topics_after(0) == ["kinerja.employee.registered.v1"]
    one.close()
    two.close()


def test_keys_on_the_memory_store_are_kept_after_the_write(tmp_path: Path) -> None:
    settings = Settings(database_url="memory://", data_dir=tmp_path / "data")
    apis = open_api(settings)
    api = next(apis)
    assert not api.runtime.idempotency.transactional
    hr = api.auth(HR, "admin")
    first = api.post("/v1/employees", EMPLOYEE, as_=hr, key="m", expect=201)
    again = api.post("/v1/employees", EMPLOYEE, as_=hr, key="m", expect=201)
    assert again.json() == first.json() and api.log_position() == 1
    apis.close()


def _age_key(api: Api, key: str, days: float) -> None:
    """Make `key` look stored `days` ago (the rows carry the real time they were made)."""
    moment = datetime.now(timezone.utc) - timedelta(days=days)
    with api.runtime.idempotency.db.transaction() as cursor:
        cursor.execute("UPDATE kinerja_idempotency SET created_at = ? WHERE idem_key = ?",
                       (moment.isoformat(), key))


def test_keys_older_than_their_kept_days_are_forgotten_when_the_api_starts(
        sql_settings: Settings) -> None:
    settings = sql_settings.model_copy(update={"idempotency_key_days": 7})
    apis = open_api(settings)
    api = next(apis)
    hr = api.auth(HR, "admin")
    api.post("/v1/rubrics", {"code": "a", "title": "A"}, as_=hr, key="old", expect=201)
    api.post("/v1/rubrics", {"code": "b", "title": "B"}, as_=hr, key="recent", expect=201)
    _age_key(api, "old", days=7.01)
    _age_key(api, "recent", days=6.99)
    apis.close()

    restarted_apis = open_api(settings)
    restarted = next(restarted_apis)
    hr = restarted.auth(HR, "admin")
    store = restarted.runtime.idempotency
    deadline = time.monotonic() + 10  # forgetting runs beside the app's start
    while store.lookup(HR, "old") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.lookup(HR, "old") is None
    assert store.lookup(HR, "recent") is not None
    position = restarted.log_position()
    # The forgotten key now names a new request; the kept one still answers the first.
    again = restarted.post("/v1/rubrics", {"code": "b", "title": "B"}, as_=hr,
                           key="recent", expect=201)
    assert again.headers["idempotency-replayed"] == "true"
    assert restarted.log_position() == position
    fresh = restarted.post("/v1/rubrics", {"code": "c", "title": "C"}, as_=hr, key="old",
                           expect=201)
    assert "idempotency-replayed" not in fresh.headers
    assert restarted.log_position() == position + 1
    restarted_apis.close()


def test_forgetting_counts_only_keys_stored_before_the_moment(api: Api) -> None:
    hr = api.auth(HR, "admin")
    for n in range(3):
        api.post("/v1/rubrics", {"code": f"r{n}", "title": "R"}, as_=hr, key=f"k{n}",
                 expect=201)
    _age_key(api, "k0", days=40)
    _age_key(api, "k1", days=31)
    store = api.runtime.idempotency
    moment = datetime.now(timezone.utc) - timedelta(days=30)
    assert store.forget_before(moment) == 2
    assert store.forget_before(moment) == 0
    assert [store.lookup(HR, f"k{n}") is None for n in range(3)] == [True, True, False]


def test_the_days_a_key_is_kept_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="idempotency_key_days"):
        Settings(database_url="memory://", data_dir=tmp_path, idempotency_key_days=0)
