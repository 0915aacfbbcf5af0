"""The citizen feedback fast path answers exactly what the route answers, and hands
everything it does not take to the route."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from api.app import create_app
from domain.feedback import FeedbackItem
from tests.api.conftest import Api, build_http_world
from tests.scenario import PERIOD, TickingClock

PATH = "/v1/feedback/citizen"


@contextmanager
def _api(settings, clock: TickingClock, *, fast_path: bool) -> Iterator[Api]:
    app = create_app(settings, clock=clock, read_wait_seconds=5.0, fast_path=fast_path)
    with TestClient(app) as client:
        yield Api(client=client, runtime=app.state.kinerja, clock=clock)


def _item(employee: str, ref: str, **changes) -> dict:
    return {"employee_id": employee, "period": PERIOD, "giver_ref": f"warga-{ref}",
            "score": 4, "channel": "JAKI", "external_ref": ref, **changes}


def _post(api: Api, body: bytes, headers: dict[str, str]):
    return api.client.post(PATH, content=body, headers=headers)


def _answered(api: Api) -> int:
    return api.client.app.state.fast_path_answered


def _warm(api: Api, employee: str, headers: dict[str, str]) -> None:
    """The first item of an employee, or of a channel's key window, needs the database
    before the write: it takes the route, and teaches the ledger what the next need not."""
    ref = f"warm-{uuid.uuid4()}"
    assert _post(api, json.dumps(_item(employee, ref)).encode(), headers).status_code == 201


def test_the_fast_path_answers_exactly_what_the_route_answers(sql_settings):
    clock = TickingClock()
    answers = []
    for fast_path, ref in ((True, "JAKI-1"), (False, "JAKI-2")):
        with _api(sql_settings, clock, fast_path=fast_path) as api:
            if fast_path:
                world = build_http_world(api, employees=1)
                employee = world.employee
            channel = api.auth("kanal:jaki", "citizen_channel")
            headers = {**channel, "Content-Type": "application/json"}
            _warm(api, employee, headers)
            before = api.log_position()
            response = _post(api, json.dumps(_item(employee, ref)).encode(), headers)
            answers.append((response, before, ref))
            assert _answered(api) == (1 if fast_path else 0)
    (fast, fast_before, fast_ref), (routed, routed_before, routed_ref) = answers
    for response, before, ref in answers:
        assert response.status_code == 201
        assert response.json() == {
            "position": before + 1,
            "feedback_id": str(FeedbackItem.id_for_channel_item("JAKI", ref))}
    assert fast.headers["content-type"] == routed.headers["content-type"]
    assert sorted(fast.headers) == sorted(routed.headers)
    as_routed = routed.content.replace(str(routed_before + 1).encode(),
                                       str(fast_before + 1).encode())
    as_routed = as_routed.replace(
        str(FeedbackItem.id_for_channel_item("JAKI", routed_ref)).encode(),
        str(FeedbackItem.id_for_channel_item("JAKI", fast_ref)).encode())
    assert fast.content == as_routed


def test_what_the_fast_path_does_not_take_the_route_answers_in_full(sql_settings):
    """The same requests, on the same store, through an app with the fast path and one
    without: the same status and the same body, and no error writes anything."""
    clock = TickingClock()
    with _api(sql_settings, clock, fast_path=True) as fast:
        world = build_http_world(fast, employees=1)
        channel = fast.auth("kanal:jaki", "citizen_channel")
        peer = fast.auth(world.rater, "peer")
        good = json.dumps(_item(world.employee, "JAKI-9")).encode()
        as_json = {"Content-Type": "application/json"}
        _warm(fast, world.employee, {**channel, **as_json})  # else nothing would be taken
        refused = [
            ("no token", good, as_json),
            ("a peer's token", good, {**peer, **as_json}),
            ("a token that is not one", good, {"Authorization": "Bearer x.y.z", **as_json}),
            ("a body that is not JSON", b"{score: 4", {**channel, **as_json}),
            ("a score out of range", json.dumps(_item(world.employee, "JAKI-8", score=9))
             .encode(), {**channel, **as_json}),
            ("an unknown employee", json.dumps(_item(str(uuid.uuid4()), "JAKI-7")).encode(),
             {**channel, **as_json}),
            ("a body not sent as JSON", good, {**channel, "Content-Type": "text/plain"}),
        ]
        before = fast.log_position()
        fast_answers = [_post(fast, body, headers) for _, body, headers in refused]
        assert _answered(fast) == 0
        assert fast.log_position() == before
    with _api(sql_settings, clock, fast_path=False) as routed:
        for (case, body, headers), answer in zip(refused, fast_answers, strict=True):
            expected = _post(routed, body, headers)
            assert answer.status_code == expected.status_code >= 400, case
            assert answer.json() == expected.json(), case
            assert answer.headers["content-type"] == "application/problem+json", case
        assert routed.log_position() == before


def test_keyed_and_repeated_items_go_the_route_s_way(sql_settings):
    clock = TickingClock()
    with _api(sql_settings, clock, fast_path=True) as api:
        world = build_http_world(api, employees=1)
        headers = {**api.auth("kanal:jaki", "citizen_channel"),
                   "Content-Type": "application/json"}
        _warm(api, world.employee, headers)
        assert _answered(api) == 0
        body = json.dumps(_item(world.employee, "JAKI-5")).encode()
        first = _post(api, body, headers)
        assert first.status_code == 201 and _answered(api) == 1
        again = _post(api, body, headers)  # already recorded: the route says so
        assert again.status_code == 201 and again.json()["position"] is None
        assert _answered(api) == 1
        keyed = {**headers, "Idempotency-Key": "jaki-batch-6"}
        body = json.dumps(_item(world.employee, "JAKI-6")).encode()
        made = _post(api, body, keyed)
        replayed = _post(api, body, keyed)
        assert made.status_code == replayed.status_code == 201
        assert replayed.headers["Idempotency-Replayed"] == "true"
        assert replayed.json() == made.json()
        assert _answered(api) == 1
