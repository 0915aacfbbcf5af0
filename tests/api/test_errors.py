"""RFC 9457 problem details everywhere, with one stable `type` per error code."""

from __future__ import annotations

import domain.errors as domain_errors
import domain.personal_data  # noqa: F401 - its errors are domain errors too
from api.errors import PROBLEM_BASE, STATUS_BY_KIND, problem_for
from tests.api.conftest import Api, HttpWorld
from tests.scenario import HR

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code"}


def all_domain_errors() -> list[type[domain_errors.DomainError]]:
    found, todo = [], [domain_errors.DomainError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_domain_error_maps_to_its_own_type_and_the_status_of_its_kind() -> None:
    seen: dict[str, type] = {}
    for cls in all_domain_errors():
        status, body, _ = problem_for(cls("refused"), "/v1/x")
        assert body["type"] == PROBLEM_BASE + cls.code
        assert status == body["status"] == STATUS_BY_KIND[cls.kind]
        assert PROBLEM_KEYS <= body.keys()
        assert seen.setdefault(cls.code, cls) is cls or cls.code == "domain-error", cls
    assert STATUS_BY_KIND == {"invalid": 422, "not-found": 404, "conflict": 409,
                              "forbidden": 403, "rule": 422}


def test_an_unexpected_error_reveals_nothing(api: Api) -> None:
    status, body, _ = problem_for(RuntimeError("password=hunter2"), "/v1/x")
    assert status == 500 and "hunter2" not in str(body)


def assert_problem(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert PROBLEM_KEYS <= body.keys()
    assert (body["status"], body["code"], body["type"]) == (status, code,
                                                            PROBLEM_BASE + code)
    assert body["instance"] == response.request.url.path
    return body


def test_framework_errors_are_problems_too(api: Api) -> None:
    hr = api.auth(HR, "admin")
    assert_problem(api.client.get("/v1/nowhere"), 404, "route-not-found")
    assert api.client.delete("/v1/rubrics").headers["allow"] == "POST"
    assert_problem(api.client.delete("/v1/rubrics"), 405, "method-not-allowed")
    body = assert_problem(api.client.post("/v1/rubrics", json={"code": "a"}, headers=hr),
                          422, "validation-failed")
    assert body["errors"][0]["loc"] == ["body", "title"]
    assert_problem(api.client.post("/v1/rubrics", content=b"{nope",
                                   headers={**hr, "Content-Type": "application/json"}),
                   400, "malformed-request")
    assert_problem(api.client.get("/v1/events", params={"limit": 0}, headers=hr),
                   422, "validation-failed")
    assert api.log_position() == 0


def test_domain_refusals_answer_by_kind_and_write_nothing(http_world: HttpWorld) -> None:
    world, api = http_world, http_world.api
    hr = world.hr
    before = api.log_position()
    missing = "00000000-0000-4000-8000-00000000abcd"
    assert_problem(api.post(f"/v1/cycles/{missing}/periods", {"period": "2026-02"},
                            as_=hr), 404, "not-found")
    assert_problem(api.post(f"/v1/cycles/{world.cycle_id}/periods", {"period": "2026-01"},
                            as_=hr), 409, "period-already-open")
    assert_problem(api.post(f"/v1/evaluations/{world.evaluation_id}/fix-targets",
                            as_=world.as_rater), 422, "evaluation-incomplete")
    assert_problem(api.post(f"/v1/cycles/{world.cycle_id}/periods", {"period": "2027-01"},
                            as_=hr), 422, "invalid-value")
    assert_problem(api.post(f"/v1/evaluations/{world.evaluation_id}/items/nope/rating", {},
                            as_=world.as_rater), 422, "targets-not-fixed")
    assert_problem(api.post(f"/v1/evaluations/{world.evaluation_id}/items/nope/realisations",
                            {"value": 1}, as_=world.as_employee()), 422, "targets-not-fixed")
    assert api.log_position() == before


def test_docs_api_md_lists_every_problem_code() -> None:
    from pathlib import Path

    from api.errors import API_PROBLEMS
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    # The verifiable ledger's own problems (`ledger-*`) are listed in docs/ledger.md.
    codes = {cls.code for cls in all_domain_errors()
             if cls.__module__.startswith("domain.") and cls.code != "domain-error"}
    codes |= set(API_PROBLEMS) | {"invalid-as-of", "invalid-cursor", "store-not-empty"}
    assert sorted(c for c in codes if f"`{c}`" not in text) == []
