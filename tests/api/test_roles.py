"""Who may do what: every command refuses every role it does not name (403, nothing
written), every route refuses a missing or bad token (401), and the domain refuses the
wrong person within an allowed role (403)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ALL_ROLES, Api, HttpWorld, build_http_world, plan_and_rate
from tests.scenario import PERIOD


def command_table(world: HttpWorld) -> list[tuple[str, dict[str, Any] | None, set[str]]]:
    """(path, a valid body, roles allowed) for every POST route."""
    e, ev, c = world.employee, world.evaluation_id, world.cycle_id
    appeal = "00000000-0000-4000-8000-000000000001"
    rating = {"hasil_kerja": "sesuai_ekspektasi", "perilaku_kerja": "sesuai_ekspektasi"}
    feedback = {"employee_id": e, "period": PERIOD, "score": 3}
    citizen = {**feedback, "giver_ref": "warga", "channel": "JAKI"}
    admin, rater, employee = {"admin"}, {"rater"}, {"employee"}
    return [
        ("/v1/employees", {"nip": "12345678", "name": "N", "unit": "U", "position": "P"},
         admin),
        (f"/v1/employees/{e}/rater", {"rater_id": world.rater,
                                      "effective_from": "2026-01-01"}, admin),
        (f"/v1/employees/{e}/reviewer", {"reviewer_id": world.head,
                                         "effective_from": "2026-01-01"}, admin),
        (f"/v1/employees/{e}/transfers", {"unit": "U", "position": "P",
                                          "effective_from": "2026-01-01"}, admin),
        (f"/v1/employees/{e}/end-employment", {"effective_on": "2026-12-31",
                                               "reason": "r"}, admin),
        (f"/v1/employees/{e}/forget", {"reason": "r"}, admin),
        ("/v1/rubrics", {"code": "c", "title": "t"}, admin),
        (f"/v1/rubrics/{world.rubric_id}/versions", {
            "version": 2, "effective_from": "2026-07-01", "summary": "s"}, admin),
        ("/v1/cycles", {"unit": "U", "year": 2026, "periodicity": "monthly",
                        "rubric_id": world.rubric_id}, admin),
        (f"/v1/cycles/{c}/periods", {"period": "2026-02"}, admin),
        (f"/v1/cycles/{c}/periods/{PERIOD}/close", None, admin),
        (f"/v1/cycles/{c}/periods/{PERIOD}/organisational-result", {"result": "baik"},
         admin),
        (f"/v1/cycles/{c}/appeal-panel", {"members": ["m"]}, admin),
        (f"/v1/cycles/{c}/lock", {}, admin),
        (f"/v1/cycles/{c}/reopen", {"reason": "r", "authority": "a"}, admin),
        (f"/v1/cycles/{c}/evaluations", {"period": PERIOD, "employee_ids": [e]}, admin),
        (f"/v1/evaluations/{ev}/items", {
            "item_id": "i", "kind": "utama", "aspect": "kuantitas", "indicator": "x",
            "target": 1, "direction": "higher_is_better"}, rater),
        (f"/v1/evaluations/{ev}/fix-targets", None, rater),
        (f"/v1/evaluations/{ev}/items/i/realisations", {"value": 1},
         employee | rater),
        (f"/v1/evaluations/{ev}/items/i/rating", {}, rater),
        (f"/v1/evaluations/{ev}/perilaku", {"value": "loyal",
                                            "rating": "sesuai_ekspektasi"}, rater),
        (f"/v1/evaluations/{ev}/deliver", {}, rater),
        (f"/v1/evaluations/{ev}/calibrations", {"session": "s", "reason": "r", **rating},
         admin),
        (f"/v1/evaluations/{ev}/corrections", {"reason": "r", **rating}, admin),
        (f"/v1/evaluations/{ev}/appeal-lapsed", None, admin),
        (f"/v1/evaluations/{ev}/appeal", {"grounds": "g"}, employee),
        (f"/v1/appeals/{appeal}/explanation-requests", {"party": "rater",
                                                        "question": "q"},
         {"appeal_panel", "rater"}),
        (f"/v1/appeals/{appeal}/explanations", {"text": "t"}, employee | rater),
        (f"/v1/appeals/{appeal}/decision", {"outcome": "kept", "reasons": "r"},
         {"appeal_panel", "rater"}),
        (f"/v1/appeals/{appeal}/withdrawal", {"reason": "r"}, employee),
        ("/v1/feedback", {**feedback, "source": "peer"}, {"peer"}),
        ("/v1/feedback/citizen", citizen, {"citizen_channel"}),
        ("/v1/feedback/citizen/batch", {"items": [citizen]}, {"citizen_channel"}),
    ]


@pytest.fixture(scope="module")
def refusing_world(shared_api: Api) -> HttpWorld:
    """Shared by the tests whose requests are all refused (they write nothing)."""
    return build_http_world(shared_api)


def test_the_table_covers_every_post_route(refusing_world: HttpWorld) -> None:
    http_world = refusing_world
    schema = http_world.api.client.get("/openapi.json").json()
    posts = {path for path, ops in schema["paths"].items() if "post" in ops}
    assert len(posts) == len(command_table(http_world))


def test_every_command_refuses_every_role_it_does_not_name(refusing_world: HttpWorld
                                                          ) -> None:
    http_world = refusing_world
    api = http_world.api
    before = api.log_position()
    wrong = []
    for path, body, allowed in command_table(http_world):
        for role in sorted(set(ALL_ROLES) - allowed):
            response = api.post(path, body, as_=api.auth(http_world.head, role),
                                key=f"{role}{path}"[:200])
            if response.status_code != 403 or response.json()["code"] != \
                    "role-not-permitted":
                wrong.append((path, role, response.status_code))
            assert response.headers["content-type"] == "application/problem+json"
    assert wrong == []
    assert api.log_position() == before


def test_the_inspector_writes_nothing_at_all(refusing_world: HttpWorld) -> None:
    http_world = refusing_world
    api = http_world.api
    inspector = api.auth("inspektorat:budi", "inspector")
    before = api.log_position()
    for path, body, _ in command_table(http_world):
        assert api.post(path, body, as_=inspector).status_code == 403, path
    assert api.log_position() == before


def test_every_route_refuses_a_missing_expired_or_forged_token(refusing_world: HttpWorld
                                                               ) -> None:
    http_world = refusing_world
    api = http_world.api
    from datetime import datetime, timedelta, timezone

    from api.auth import TokenService
    expired = api.runtime.tokens.issue("hr:siti", ["admin"],
                                       now=datetime.now(timezone.utc) - timedelta(days=2))
    forged = TokenService(b"x" * 40).issue("hr:siti", ["admin"])
    before = api.log_position()
    headers: list[dict[str, str]] = [{}, {"Authorization": f"Bearer {expired}"},
                                     {"Authorization": f"Bearer {forged}"},
                                     {"Authorization": "Basic aHI6c2l0aQ=="}]
    for path, body, _ in command_table(http_world):
        for header in headers:
            response = api.client.post(path, json=body, headers=header)
            assert response.status_code == 401, (path, header)
            assert response.json()["code"] == "unauthenticated"
            assert response.headers["www-authenticate"].startswith("Bearer")
    for path in ("/v1/evaluations", f"/v1/employees/{http_world.employee}/history",
                 f"/v1/evaluations/{http_world.evaluation_id}/explain",
                 "/v1/units/X/distribution?period=2026-01", "/v1/events",
                 "/v1/audit?actor=hr:siti"):
        assert api.client.get(path).status_code == 401, path
    assert api.log_position() == before


def test_a_rater_acts_only_on_the_people_they_rate(http_world: HttpWorld) -> None:
    world, api = http_world, http_world.api
    other_rater = api.auth(world.head, "rater")
    base = f"/v1/evaluations/{world.evaluation_id}"
    before = api.log_position()
    plan = {"item_id": "i", "kind": "utama", "aspect": "kuantitas", "indicator": "x",
            "target": 1, "direction": "higher_is_better"}
    assert api.post(f"{base}/items", plan, as_=other_rater,
                    expect=403).json()["code"] == "not-authorised"
    assert api.post(f"{base}/perilaku", {"value": "loyal", "rating": "sesuai_ekspektasi"},
                    as_=other_rater, expect=403).json()["code"] == "not-rater-in-force"
    assert api.log_position() == before


def test_an_employee_acts_only_for_themselves(http_world: HttpWorld) -> None:
    api = http_world.api
    world = http_world
    plan_and_rate(world)
    base = f"/v1/evaluations/{world.evaluation_id}"
    stranger = api.auth(world.head, "employee")
    before = api.log_position()
    assert api.post(f"{base}/items/patrol/realisations", {"value": 50}, as_=stranger,
                    expect=403).json()["code"] == "not-authorised"
    api.post(f"{base}/deliver", {}, as_=world.as_rater, expect=200)
    before = api.log_position()
    assert api.post(f"{base}/appeal", {"grounds": "bukan saya"}, as_=stranger,
                    expect=403).json()["code"] == "not-authorised"
    assert api.log_position() == before


def test_only_the_named_reviewer_decides_an_appeal(http_world: HttpWorld) -> None:
    world, api = http_world, http_world.api
    plan_and_rate(world)
    base = f"/v1/evaluations/{world.evaluation_id}"
    api.post(f"{base}/deliver", {}, as_=world.as_rater, expect=200)
    appeal_id = api.post(f"{base}/appeal", {"grounds": "keberatan"},
                         as_=world.as_employee(), expect=201).json()["appeal_id"]
    before = api.log_position()
    outsider = api.auth("panel:outsider", "appeal_panel")
    refused = api.post(f"/v1/appeals/{appeal_id}/decision",
                       {"outcome": "kept", "reasons": "tetap"}, as_=outsider,
                       expect=403).json()
    assert refused["code"] == "not-appeal-reviewer"
    assert api.log_position() == before
