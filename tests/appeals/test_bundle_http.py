"""The bundle over HTTP: `GET /v1/evaluations/{id}/bundle` (JSON) and `.../bundle.html`,
read in the explanation's scope, checked offline with the log key obtained separately."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.routes.bundle import EvidenceBundle
from api.settings import Settings
from projections.bundle_verify import verify_bundle
from tests.api.conftest import Api, HttpWorld, build_http_world, open_api, plan_and_rate
from tests.scenario import PERIOD, TickingClock


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from open_api(settings, TickingClock())


@pytest.fixture
def appealed(api: Api) -> HttpWorld:
    """Rated, with peer and citizen feedback before delivery, delivered, appealed and
    decided, all through the API."""
    world = build_http_world(api)
    plan_and_rate(world)
    api.post("/v1/feedback", {"employee_id": world.employee, "period": PERIOD,
                              "source": "peer", "score": 4},
             as_=api.auth("peer:dodi", "peer"), expect=201)
    api.post("/v1/feedback/citizen", {"employee_id": world.employee, "period": PERIOD,
                                      "giver_ref": "warga-77", "score": 3, "channel": "JAKI",
                                      "external_ref": "jaki-1"},
             as_=api.auth("channel:jaki", "citizen_channel"), expect=201)
    base = f"/v1/evaluations/{world.evaluation_id}"
    api.post(f"{base}/deliver", {}, as_=world.as_rater, expect=200)
    appeal_id = api.post(f"{base}/appeal", {"grounds": "Patroli dialihkan ke banjir"},
                         as_=world.as_employee(), expect=201).json()["appeal_id"]
    api.post(f"/v1/appeals/{appeal_id}/decision",
             {"outcome": "changed", "hasil_kerja": "di_atas_ekspektasi",
              "perilaku_kerja": "sesuai_ekspektasi", "reasons": "Bukti diterima"},
             as_=world.as_head, expect=200)
    return world


def key(api: Api) -> str:
    """The log key, as an auditor holds it (not taken from the bundle)."""
    return api.client.app.state.merkle_ledger.public_key


def test_an_inspector_gets_a_bundle_that_verifies_offline(api, appealed):
    bundle = api.get(f"/v1/evaluations/{appealed.evaluation_id}/bundle",
                     as_=api.auth("inspektorat:andi", "inspector"), expect=200).json()
    EvidenceBundle.model_validate(bundle)  # the answer is what the OpenAPI schema says
    report = verify_bundle(bundle, key(api))
    assert report.ok, report.problems
    assert report.result["predikat"] == "baik"
    assert report.result["source"] == "appeal"
    feedback = [e for e in bundle["events"] if e["role"] == "feedback"]
    assert len(feedback) == 2
    assert bundle["derivation"]["feedback_counted"] == [e["leaf_index"] for e in feedback]
    assert bundle["derivation"]["delivery"]["feedback"] == {
        "peer": {"count": 1, "mean": "4.00"}, "citizen": {"count": 1, "mean": "3.00"}}


def test_the_person_rated_gets_no_feedback_items_and_still_a_verifying_bundle(api, appealed):
    bundle = api.get(f"/v1/evaluations/{appealed.evaluation_id}/bundle",
                     as_=appealed.as_employee(), expect=200).json()
    assert not [e for e in bundle["events"] if e["topic"] == "kinerja.feedback.given.v1"]
    assert "peer:dodi" not in str(bundle)
    assert any("Feedback items are not included" in note for note in bundle["notes"])
    assert verify_bundle(bundle, key(api)).ok


@pytest.mark.parametrize("who", ["rater", "panel", "admin"])
def test_the_rater_panel_and_admin_read_the_bundle(api, appealed, who):
    caller = {"rater": appealed.as_rater, "panel": api.auth("panel:ani", "appeal_panel"),
              "admin": appealed.hr}[who]
    bundle = api.get(f"/v1/evaluations/{appealed.evaluation_id}/bundle", as_=caller,
                     expect=200).json()
    assert bundle["evaluation_id"] == appealed.evaluation_id


def test_a_bundle_is_refused_outside_the_callers_scope(api, appealed):
    path = f"/v1/evaluations/{appealed.evaluation_id}/bundle"
    other = api.auth("8f14e45f-ceea-467a-9575-b9d1e7a6d3c1", "employee")
    assert api.get(path, as_=other, expect=403).json()["code"] == "out-of-scope"
    assert api.get(path, as_=api.auth("peer:dodi", "peer"),
                   expect=403).json()["code"] == "role-not-permitted"
    assert api.get(path + ".html", as_=other, expect=403).json()["code"] == "out-of-scope"
    assert api.client.get(path).status_code == 401


def test_an_unknown_evaluation_has_no_bundle(api, appealed):
    answer = api.get("/v1/evaluations/8f14e45f-ceea-467a-9575-b9d1e7a6d3c1/bundle",
                     as_=appealed.hr, expect=404)
    assert answer.headers["content-type"] == "application/problem+json"


def test_the_printable_page_renders_for_the_panel(api, appealed):
    page = api.get(f"/v1/evaluations/{appealed.evaluation_id}/bundle.html",
                   as_=api.auth("panel:ani", "appeal_panel"), expect=200)
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "<script" not in text
    assert "Derivation of hasil kerja" in text and "Capaian %" in text
    assert "Timeline" in text and "Appeal filed by the employee" in text
    assert "Proof status" in text and "events verified against the signed checkpoint" in text
    assert "Patroli dialihkan ke banjir" in text  # the grounds, decrypted for the panel
