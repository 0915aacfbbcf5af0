"""The published schema: OpenAPI 3.1, stable operation ids, problem+json for every error
answer, the Idempotency-Key on every POST, and a bearer token on every route but health."""

from __future__ import annotations

from tests.api.conftest import Api

#: Generated clients name their methods after these: renaming one breaks them.
OPERATION_IDS = {
    "register_employee", "assign_rater", "assign_reviewer", "transfer_employee",
    "end_employment", "establish_rubric", "publish_rubric_version", "start_cycle",
    "open_period", "close_period", "set_organisational_result", "name_appeal_panel",
    "lock_cycle", "reopen_cycle", "start_evaluations", "plan_item", "fix_targets",
    "record_realisation", "rate_item", "rate_perilaku", "deliver_result",
    "calibrate_result", "correct_result", "record_appeal_lapsed", "file_appeal",
    "request_explanation", "give_explanation", "decide_appeal", "withdraw_appeal",
    "give_peer_feedback", "give_citizen_feedback", "give_citizen_feedback_batch",
    "list_evaluations", "explain_evaluation", "employee_history", "unit_distribution",
    "list_events", "audit_actor", "healthz",
}


def operations(schema: dict) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    return [(path, method, op) for path, ops in schema["paths"].items()
            for method, op in ops.items()]


def test_the_schema_is_openapi_3_1_with_stable_operation_ids(shared_api: Api) -> None:
    schema = shared_api.client.get("/openapi.json").json()
    assert schema["openapi"] == "3.1.0"
    ids = [op["operationId"] for _, _, op in operations(schema)]
    assert len(ids) == len(set(ids))
    assert OPERATION_IDS <= set(ids)
    assert shared_api.client.get("/docs").status_code == 200


def test_every_error_answer_is_documented_as_a_problem(shared_api: Api) -> None:
    schema = shared_api.client.get("/openapi.json").json()
    for path, method, op in operations(schema):
        errors = {s: r for s, r in op["responses"].items() if s.isdigit() and int(s) >= 400}
        if path == "/healthz":
            continue
        assert {"401", "403", "422"} <= errors.keys(), (path, method)
        for response in errors.values():
            assert list(response["content"]) == ["application/problem+json"]


def test_every_post_takes_an_idempotency_key_and_every_route_a_token(shared_api: Api
                                                                     ) -> None:
    schema = shared_api.client.get("/openapi.json").json()
    for path, method, op in operations(schema):
        if method == "post":
            headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
            assert "Idempotency-Key" in headers, path
        assert bool(op.get("security")) == (path != "/healthz"), path
