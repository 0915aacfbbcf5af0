"""The ledger over HTTP, checked the way an outsider would: trust only the verifier key,
verify the signed checkpoint, then check every proof against its root with the RFC 9162
functions."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from api.settings import Settings
from domain.merkle import verify_consistency, verify_inclusion
from projections.checkpoint import verify_checkpoint
from tests.api.conftest import Api, open_api
from tests.scenario import HR, TickingClock, build_world

CHECKPOINT_FIELDS = {"size", "root_hash", "note", "public_key"}
ENTRY_FIELDS = {"index", "position", "leaf_data", "leaf_hash", "topic", "originator_id",
                "originator_version"}


@pytest.fixture
def api(sql_settings: Settings) -> Iterator[Api]:
    yield from open_api(sql_settings, TickingClock())


@pytest.fixture
def published(api: Api) -> tuple[Api, Any, str]:
    """A world written through the service, all of it under a fresh checkpoint."""
    world = build_world(api.runtime.ledger, api.clock)
    merkle = api.client.app.state.merkle_ledger
    merkle.catch_up()
    return api, world, merkle.publish_checkpoint()


def inspector(api: Api) -> dict[str, str]:
    return api.auth("inspektorat:andi", "inspector")


def _unhex(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def test_an_outsider_verifies_every_leaf_from_the_checkpoint_and_its_proofs(
        published: tuple[Api, Any, str]) -> None:
    api, _, note = published
    body = api.get("/v1/ledger/checkpoint", as_=inspector(api), expect=200).json()
    assert set(body) == CHECKPOINT_FIELDS
    assert body["note"] == note
    # Trust comes from the key (obtained out of band), not from the fields beside the note.
    checkpoint = verify_checkpoint(body["note"], api.client.app.state.merkle_ledger.public_key,
                                   expected_origin=Settings().ledger_origin)
    assert body["public_key"] == api.client.app.state.merkle_ledger.public_key
    assert (body["size"], body["root_hash"]) == (checkpoint.size, checkpoint.root_hash.hex())
    for index in range(checkpoint.size):
        entry = api.get(f"/v1/ledger/entries/{index}", as_=inspector(api), expect=200).json()
        assert set(entry) == ENTRY_FIELDS
        leaf_hash = hashlib.sha256(b"\x00" + base64.b64decode(entry["leaf_data"])).digest()
        assert leaf_hash.hex() == entry["leaf_hash"]
        proof = api.get("/v1/ledger/proof/inclusion", as_=inspector(api), expect=200,
                        index=index, size=checkpoint.size).json()
        assert set(proof) == {"index", "size", "leaf_hash", "root_hash", "proof"}
        assert proof["leaf_hash"] == entry["leaf_hash"]
        assert all(h == h.lower() and len(h) == 64 for h in proof["proof"])
        verify_inclusion(leaf_hash, index, checkpoint.size, _unhex(proof["proof"]),
                         checkpoint.root_hash)


def test_consistency_between_two_checkpoints_verifies(
        published: tuple[Api, Any, str]) -> None:
    api, world, first_note = published
    api.runtime.ledger.assign_rater(world.employee, rater_id=world.head,
                                    effective_from=api.clock.now.date(), actor=HR)
    merkle = api.client.app.state.merkle_ledger
    merkle.catch_up()
    merkle.publish_checkpoint()
    key = merkle.public_key
    latest = api.get("/v1/ledger/checkpoint", as_=inspector(api), expect=200).json()
    first = verify_checkpoint(first_note, key)
    older = api.get("/v1/ledger/checkpoint", as_=inspector(api), expect=200,
                    size=first.size).json()
    assert older["note"] == first_note
    second = verify_checkpoint(latest["note"], key)
    assert second.size > first.size
    body = api.get("/v1/ledger/proof/consistency", as_=inspector(api), expect=200,
                   first=first.size, second=second.size).json()
    assert body["first"] == first.size and body["second"] == second.size
    verify_consistency(first.size, second.size, _unhex(body["proof"]), first.root_hash,
                       second.root_hash)
    default = api.get("/v1/ledger/proof/consistency", as_=inspector(api), expect=200,
                      first=first.size).json()
    assert default == body  # `second` defaults to the latest checkpoint


@pytest.mark.parametrize("role", ["inspector", "admin", "appeal_panel", "rater", "employee",
                                  "peer", "citizen_channel"])
def test_any_authenticated_role_reads_checkpoints_and_proofs(
        published: tuple[Api, Any, str], role: str) -> None:
    api, _, _ = published
    as_role = api.auth("someone", role)
    size = api.get("/v1/ledger/checkpoint", as_=as_role, expect=200).json()["size"]
    api.get("/v1/ledger/proof/inclusion", as_=as_role, expect=200, index=0)
    api.get("/v1/ledger/proof/consistency", as_=as_role, expect=200, first=size)
    entry = api.get("/v1/ledger/entries/0", as_=as_role)
    # An entry is the stored event itself: only the roles that may read the raw log.
    assert entry.status_code == (200 if role in ("inspector", "admin") else 403)


def test_requests_without_a_token_are_refused(published: tuple[Api, Any, str]) -> None:
    api, _, _ = published
    for path in ("/v1/ledger/checkpoint", "/v1/ledger/entries/0",
                 "/v1/ledger/proof/inclusion?index=0", "/v1/ledger/proof/consistency?first=1"):
        response = api.client.get(path)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_bad_requests_are_answered_with_problems(published: tuple[Api, Any, str]) -> None:
    api, _, note = published
    size = verify_checkpoint(note, api.client.app.state.merkle_ledger.public_key).size
    who = inspector(api)
    _problem(api.get("/v1/ledger/checkpoint", as_=who, size=size + 1), 404,
             "ledger-checkpoint-not-found")
    _problem(api.get(f"/v1/ledger/entries/{size + 5}", as_=who), 404,
             "ledger-leaf-not-found")
    _problem(api.get("/v1/ledger/proof/inclusion", as_=who, index=0, size=size - 1), 422,
             "ledger-size-not-anchored")
    _problem(api.get("/v1/ledger/proof/inclusion", as_=who, index=size, size=size), 422,
             "ledger-invalid-proof-request")
    _problem(api.get("/v1/ledger/proof/consistency", as_=who, first=size, second=1), 422,
             "ledger-invalid-proof-request")
    _problem(api.get("/v1/ledger/proof/consistency", as_=who, first=0), 422,
             "validation-failed")
    _problem(api.get("/v1/ledger/proof/inclusion", as_=who, index=-1), 422,
             "validation-failed")
    _problem(api.get("/v1/ledger/entries/99999999999999999999", as_=who), 422,
             "validation-failed")


def test_before_any_checkpoint_there_is_nothing_to_prove(api: Api) -> None:
    who = inspector(api)  # nothing was written: an empty tree is never signed
    _problem(api.get("/v1/ledger/checkpoint", as_=who), 404, "ledger-checkpoint-not-found")
    _problem(api.get("/v1/ledger/proof/inclusion", as_=who, index=0), 404,
             "ledger-checkpoint-not-found")


def test_the_running_app_keeps_the_ledger_caught_up_and_checkpointed(api: Api) -> None:
    build_world(api.runtime.ledger, api.clock)
    # Counted, not the last position: positions may have gaps, leaf indexes do not.
    events = len(api.runtime.ledger.recorder.select_notifications(None, 10_000))
    merkle = api.client.app.state.merkle_ledger
    follower = api.client.app.state.ledger_follower
    follower.poke()
    deadline = time.monotonic() + 60  # a bound for a loaded machine, not a timing claim
    while (merkle.size() < events or not merkle.checkpoints()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert follower.last_error is None
    assert merkle.size() == events
    assert merkle.checkpoints()  # the first leaf is checkpointed without waiting
    assert api.runtime.leaf_lookup == merkle.leaf_for_position
