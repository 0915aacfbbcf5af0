"""Queries through HTTP: the contract's fields, as_of and read-your-writes, read scopes
per role, and a peer's identity hidden from the person rated."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.api.conftest import Api, HttpWorld, build_http_world, plan_and_rate
from tests.scenario import PERIOD, UNIT

ROW_FIELDS = {"evaluation_id", "employee_id", "unit", "period", "hasil_kerja",
              "perilaku_kerja", "predikat", "status"}
EXPLAIN_FIELDS = {"evaluation_id", "employee_id", "period", "rubric", "items",
                  "perilaku_values", "hasil_kerja", "perilaku_kerja", "predikat", "inputs",
                  "as_of"}
ITEM_FIELDS = {"item_id", "kind", "target", "realisation", "direction", "capaian", "rating",
               "override"}


@pytest.fixture(scope="module")
def delivered(shared_api: Api) -> tuple[HttpWorld, int]:
    """Two employees; the first rated and delivered after a peer's feedback. Shared by
    the module's tests, which only read."""
    api = shared_api
    world = build_http_world(api, employees=2)
    plan_and_rate(world)
    api.post("/v1/feedback", {"employee_id": world.employee, "period": PERIOD,
                              "source": "peer", "score": 4},
             as_=api.auth(world.employees[1], "peer"), expect=201)
    position = api.post(f"/v1/evaluations/{world.evaluation_id}/deliver", {},
                        as_=world.as_rater, expect=200).json()["position"]
    return world, position


def test_a_delivered_result_is_read_at_the_position_of_its_write(
        delivered: tuple[HttpWorld, int]) -> None:
    world, position = delivered
    api = world.api
    page = api.get("/v1/evaluations", as_=world.hr, as_of=str(position), unit=UNIT,
                   period=PERIOD, expect=200).json()
    assert page["as_of"] == {"position": position} and page["next_cursor"] is None
    rows = {row["evaluation_id"]: row for row in page["items"]}
    row = rows[world.evaluation_id]
    assert ROW_FIELDS <= row.keys()
    assert (row["hasil_kerja"], row["perilaku_kerja"], row["predikat"], row["status"]) == (
        "sesuai_ekspektasi", "sesuai_ekspektasi", "baik", "delivered")


def test_explain_shows_every_input_of_the_score(delivered: tuple[HttpWorld, int]) -> None:
    world, position = delivered
    api = world.api
    explained = api.get(f"/v1/evaluations/{world.evaluation_id}/explain",
                        as_=api.auth("inspektorat:budi", "inspector"), as_of=str(position),
                        expect=200).json()
    assert EXPLAIN_FIELDS <= explained.keys()
    assert explained["rubric"] == {"rubric_id": world.rubric_id, "version": 1}
    items = {i["item_id"]: i for i in explained["items"]}
    assert ITEM_FIELDS <= items["violations"].keys()
    assert (items["violations"]["target"], items["violations"]["realisation"],
            items["violations"]["capaian"], items["violations"]["direction"]) == (
        "40", "30", "133.33", "lower_is_better")
    assert len(explained["perilaku_values"]) == 7
    assert {"position", "topic", "ledger_index", "leaf_hash"} <= explained["inputs"][0].keys()
    assert max(i["position"] for i in explained["inputs"]) == position


def test_as_of_a_time_or_an_earlier_position_shows_the_past(
        delivered: tuple[HttpWorld, int]) -> None:
    world, position = delivered
    api = world.api
    before = api.get("/v1/evaluations", as_=world.hr, as_of=str(position - 1),
                     employee_id=world.employee, expect=200).json()
    assert before["items"][0]["status"] == "in_progress"
    assert before["items"][0]["predikat"] is None
    at_start = api.get("/v1/evaluations", as_=world.hr, as_of="2026-01-01T00:00:00Z",
                       expect=200).json()
    assert at_start["items"] == [] and at_start["as_of"] == {"position": 0}


def test_as_of_beyond_the_log_or_malformed_is_refused(delivered: tuple[HttpWorld, int]
                                                      ) -> None:
    world, position = delivered
    api = world.api
    beyond = api.get("/v1/evaluations", as_=world.hr, as_of=str(position + 1000),
                     expect=422).json()
    assert beyond["code"] == "as-of-beyond-log"
    assert api.get("/v1/evaluations", as_=world.hr, as_of="yesterday",
                   expect=422).json()["code"] == "invalid-as-of"


def test_a_lagging_projection_answers_503_rather_than_an_old_answer(api: Api) -> None:
    world = build_http_world(api)
    api.runtime.runner.stop()
    api.runtime.read_wait_seconds = 0
    position = api.post(f"/v1/cycles/{world.cycle_id}/periods", {"period": "2026-02"},
                        as_=world.hr, expect=200).json()["position"]
    lagging = api.get("/v1/evaluations", as_=world.hr, as_of=str(position), expect=503)
    assert lagging.json()["code"] == "projection-lagging"
    assert lagging.headers["retry-after"] == "1"


def test_an_employee_reads_only_their_own_records(delivered: tuple[HttpWorld, int]) -> None:
    world, position = delivered
    api = world.api
    mine = world.as_employee(1)
    page = api.get("/v1/evaluations", as_=mine, as_of=str(position), expect=200).json()
    assert {row["employee_id"] for row in page["items"]} == {world.employees[1]}
    other = world.employee
    for path in (f"/v1/employees/{other}/history",
                 f"/v1/evaluations/{world.evaluation_id}/explain"):
        assert api.get(path, as_=mine, expect=403).json()["code"] == "out-of-scope"
    assert api.get("/v1/evaluations", as_=mine, employee_id=other,
                   expect=403).json()["code"] == "out-of-scope"
    for path in ("/v1/events", "/v1/audit?actor=x",
                 f"/v1/units/{quote(UNIT)}/distribution?period={PERIOD}"):
        assert api.get(path, as_=mine, expect=403).json()["code"] == "role-not-permitted"


def test_a_rater_reads_the_people_they_rate_and_no_one_else(
        delivered: tuple[HttpWorld, int]) -> None:
    world, position = delivered
    api = world.api
    page = api.get("/v1/evaluations", as_=api.auth(world.rater, "rater"),
                   as_of=str(position), expect=200).json()
    assert {row["employee_id"] for row in page["items"]} == set(world.employees)
    api.get(f"/v1/evaluations/{world.evaluation_id}/explain",
            as_=api.auth(world.rater, "rater"), expect=200)
    stranger = api.auth(world.head, "rater")
    assert api.get("/v1/evaluations", as_=stranger, expect=200).json()["items"] == []
    assert api.get(f"/v1/employees/{world.employee}/history", as_=stranger,
                   expect=403).json()["code"] == "out-of-scope"


@pytest.mark.parametrize("role", ["admin", "inspector", "appeal_panel"])
def test_admin_inspector_and_panel_read_everything(delivered: tuple[HttpWorld, int],
                                                   role: str) -> None:
    world, position = delivered
    api = world.api
    reader = api.auth(f"{role}:1", role)
    page = api.get("/v1/evaluations", as_=reader, as_of=str(position), expect=200).json()
    assert {row["employee_id"] for row in page["items"]} == set(world.employees)
    api.get(f"/v1/employees/{world.employee}/history", as_=reader, expect=200)
    api.get(f"/v1/evaluations/{world.evaluation_id}/explain", as_=reader, expect=200)
    api.get(f"/v1/units/{quote(UNIT)}/distribution", as_=reader, period=PERIOD,
            expect=200)
    raw = api.get("/v1/events", as_=reader)
    assert raw.status_code == (403 if role == "appeal_panel" else 200)


@pytest.mark.parametrize("role", ["peer", "citizen_channel"])
def test_feedback_givers_read_nothing(delivered: tuple[HttpWorld, int], role: str) -> None:
    world, _ = delivered
    api = world.api
    giver = api.auth(world.employees[1], role)
    for path in ("/v1/evaluations", f"/v1/employees/{world.employee}/history",
                 f"/v1/evaluations/{world.evaluation_id}/explain", "/v1/events"):
        assert api.get(path, as_=giver, expect=403).json()["code"] == "role-not-permitted"


def test_a_peers_identity_is_hidden_from_the_person_rated(
        delivered: tuple[HttpWorld, int]) -> None:
    world, position = delivered
    api = world.api
    peer = world.employees[1]
    seen_by_hr = api.get(f"/v1/employees/{world.employee}/history", as_=world.hr,
                         as_of=str(position), expect=200).json()
    givers = [e["giver_ref"] for e in seen_by_hr["entries"] if e.get("giver_ref")]
    assert givers == [peer]
    seen_by_self = api.get(f"/v1/employees/{world.employee}/history",
                           as_=world.as_employee(0), as_of=str(position),
                           expect=200).text
    assert peer not in seen_by_self
    explained = api.get(f"/v1/evaluations/{world.evaluation_id}/explain",
                        as_=world.as_employee(0), expect=200).text
    assert peer not in explained


def test_the_raw_log_pages_in_order_and_stops_at_as_of(delivered: tuple[HttpWorld, int]
                                                       ) -> None:
    world, position = delivered
    api = world.api
    inspector = api.auth("inspektorat:budi", "inspector")
    first = api.get("/v1/events", as_=inspector, limit=5, expect=200).json()
    assert [e["position"] for e in first["items"]] == [1, 2, 3, 4, 5]
    assert first["next_after"] == 5
    event = first["items"][0]
    assert {"position", "topic", "originator_id", "originator_version", "recorded_at",
            "actor", "payload"} <= event.keys()
    upto = api.get("/v1/events", as_=inspector, after=position - 3, limit=100,
                   as_of=str(position - 1), expect=200).json()
    assert [e["position"] for e in upto["items"]] == [position - 2, position - 1]
    assert upto["next_after"] is None
    audit = api.get("/v1/audit", as_=inspector, actor=world.rater, expect=200).json()
    assert audit["items"] and audit["actor"] == world.rater


def test_unknown_records_are_404(delivered: tuple[HttpWorld, int]) -> None:
    world, _ = delivered
    api = world.api
    missing = "00000000-0000-4000-8000-000000000000"
    assert api.get(f"/v1/evaluations/{missing}/explain", as_=world.hr,
                   expect=404).json()["code"] == "not-found"
    assert api.get("/v1/units/Nowhere/distribution", as_=world.hr, period=PERIOD,
                   expect=404).json()["code"] == "not-found"


def test_health_needs_no_token_and_shows_the_lag(delivered: tuple[HttpWorld, int]) -> None:
    world, position = delivered
    health = world.api.client.get("/healthz").json()
    assert health["status"] == "ok" and health["log_position"] >= position
