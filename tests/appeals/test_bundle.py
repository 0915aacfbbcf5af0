"""The evidence bundle: made from a real SQLite store, checked with nothing but the bundle
and the verifier key; every alteration of an event, the checkpoint, a proof or the rubric
is caught and named; events that break the rules are caught by the re-derivation even
when the log itself is intact."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st

from api.bundle import dumps, render_html
from api.settings import Settings
from api.store import open_ledger
from domain.bundle_check import LoggedEvent, derive
from domain.values import Rating
from projections.bundle_verify import FORMAT, verify_bundle
from projections.checkpoint import generate_signer, parse_checkpoint, sign_checkpoint
from tests.appeals.conftest import Evidence, deliver, open_evidence
from tests.conftest import settings_for
from tests.scenario import HR, TickingClock, build_world, rate_fully

ATAS, SESUAI, BAWAH = Rating.DI_ATAS, Rating.SESUAI, Rating.DI_BAWAH


def full_story(world: Any) -> str:
    """An override, a delivery, a calibration, then an appeal with explanations decided
    by a change: every kind of event a bundle must carry."""
    app = world.app
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee, patrol="70")
    app.rate_item(eid, item_id="patrol", override=Rating.SESUAI,
                  reason="Patroli dialihkan ke lokasi banjir", actor=world.rater)
    app.deliver_result(eid, actor=world.rater)
    app.calibrate_result(eid, session="kalibrasi-2026-01/sesi-1", hk=SESUAI, pk=ATAS,
                         reason="Kalibrasi unit", actor=HR)
    appeal_id = app.file_appeal(eid, grounds="Perilaku dinilai terlalu rendah",
                                actor=world.employee).ids["appeal_id"]
    app.request_explanation(appeal_id, party="rater", question="Dasar penilaian?",
                            actor=world.head)
    app.give_explanation(appeal_id, text="Catatan supervisi", actor=world.rater)
    app.decide_appeal(appeal_id, outcome="changed", hk=ATAS, pk=ATAS,
                      reasons="Bukti penugasan diterima", actor=world.head)
    return eid


@pytest.fixture
def story(world: Any, evidence: Evidence) -> tuple[str, dict[str, Any]]:
    eid = full_story(world)
    return eid, evidence.bundle(eid)


@dataclass(frozen=True)
class Made:
    """A bundle made once per module, for the checks that only read it."""

    evaluation_id: str
    bundle: dict[str, Any]
    key: str


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    folder = tmp_path_factory.mktemp("made")
    settings = Settings(database_url=f"sqlite:///{folder / 'ledger.sqlite3'}",
                        data_dir=folder / "data")
    clock = TickingClock()
    ledger = open_ledger(settings, clock=clock)
    try:
        eid = full_story(build_world(ledger, clock))
        for evidence in open_evidence(settings, ledger):
            return Made(eid, evidence.bundle(eid), evidence.key)
    finally:
        ledger.close()
    raise AssertionError("unreachable")


# --- a bundle verifies, and says what it proves ------------------------------------------

def test_a_bundle_verifies_with_the_log_key_alone(story, evidence):
    eid, bundle = story
    report = verify_bundle(dumps(bundle), evidence.key)
    assert report.ok, report.problems
    assert report.summary().startswith(f"bundle OK: evaluation {eid}: "
                                       f"{len(bundle['events'])} events proven")
    assert report.result == {"hasil_kerja": "di_atas_ekspektasi",
                             "perilaku_kerja": "di_atas_ekspektasi",
                             "predikat": "sangat_baik", "source": "appeal",
                             "leaf_index": report.result["leaf_index"]}
    assert set(report.event_status.values()) == {"verified"}


def test_the_bundle_holds_every_stream_whole_and_one_checkpoint_covering_it(story, evidence):
    eid, bundle = story
    assert bundle["format"] == FORMAT
    roles = {e["role"] for e in bundle["events"]}
    assert roles == {"evaluation", "appeal", "employee", "cycle", "rubric"}
    by_stream: dict[str, list[int]] = {}
    for event in bundle["events"]:
        by_stream.setdefault(event["originator_id"], []).append(event["originator_version"])
    assert all(sorted(v) == list(range(1, len(v) + 1)) for v in by_stream.values())
    indexes = [e["leaf_index"] for e in bundle["events"]]
    assert indexes == sorted(indexes)
    checkpoint = parse_checkpoint(bundle["checkpoint"]["note"])
    assert checkpoint.size > max(indexes)
    assert bundle["checkpoint"]["size"] == checkpoint.size
    assert bundle["public_key"] == evidence.key


def test_the_derivation_shows_items_overrides_and_every_change(made):
    bundle = made.bundle
    derivation = bundle["derivation"]
    items = {i["item_id"]: i for i in derivation["items"]}
    assert (items["violations"]["capaian"], items["violations"]["rating"]) == (
        "133.33", "di_atas_ekspektasi")
    assert items["patrol"]["capaian"] == "70.00"
    assert items["patrol"]["override"]["computed_rating"] == "di_bawah_ekspektasi"
    assert items["patrol"]["rating"] == "sesuai_ekspektasi"
    assert derivation["rubric"]["version"] == 1
    assert derivation["rubric"]["policy"]["above_threshold"] == "110"
    assert derivation["delivery"]["predikat"] == "baik"
    assert [(c["source"], c["previous"]["predikat"], c["new"]["predikat"])
            for c in derivation["changes"]] == [("calibration", "baik", "baik"),
                                                ("appeal", "baik", "sangat_baik")]
    assert derivation["changes"][0]["reference"] == "kalibrasi-2026-01/sesi-1"
    assert derivation["appeal"]["status"] == "decided"
    assert derivation["appeal"]["reviewer_kind"] == "superior"
    assert derivation["result"]["predikat"] == "sangat_baik"


def test_the_timeline_tells_the_story_with_appeal_and_calibration_marked(made):
    bundle = made.bundle
    marked = [t["marked"] for t in bundle["timeline"] if t["marked"]]
    assert marked == ["override", "calibration", "appeal", "appeal_decision",
                      "appeal_decision"]
    texts = " / ".join(t["text"] for t in bundle["timeline"])
    assert "Result changed by calibration (kalibrasi-2026-01/sesi-1)" in texts
    assert "Appeal filed by the employee" in texts
    assert "the earlier result stays in the log" in texts


def test_personal_fields_are_shown_decrypted_but_proven_as_ciphertext(made):
    bundle = made.bundle
    filed = next(e for e in bundle["events"] if e["topic"] == "kinerja.appeal.filed.v1")
    assert filed["personal"] == {"grounds": "Perilaku dinilai terlalu rendah"}
    assert set(filed["payload"]["grounds"]) == {"enc", "key", "nonce", "ct"}
    assert b"Perilaku dinilai" not in base64.b64decode(filed["leaf_data"])


def test_the_same_log_gives_the_same_bundle_byte_for_byte(story, evidence):
    eid, bundle = story
    assert dumps(evidence.bundle(eid)) == dumps(bundle)


def test_a_checkpoint_is_published_only_when_the_latest_does_not_cover_the_bundle(
        world, app, evidence):
    eid = deliver(world)
    evidence.merkle.catch_up()
    evidence.merkle.publish_checkpoint()
    before = len(evidence.merkle.checkpoints())
    assert evidence.bundle(eid)["checkpoint"]["size"] == evidence.merkle.checkpoint().size
    assert len(evidence.merkle.checkpoints()) == before
    app.calibrate_result(eid, session="s-2", hk=ATAS, pk=SESUAI, reason="Kalibrasi",
                         actor=HR)
    bundle = evidence.bundle(eid)
    assert len(evidence.merkle.checkpoints()) == before + 1
    assert verify_bundle(bundle, evidence.key).ok


def test_a_bundle_still_verifies_after_the_employee_is_forgotten(story, app, world, evidence):
    eid, before = story
    app.forget(world.employee, reason="Masa retensi berakhir", actor=HR, roles=["admin"])
    after = evidence.bundle(eid)
    assert verify_bundle(after, evidence.key).ok
    assert verify_bundle(before, evidence.key).ok
    filed = next(e for e in after["events"] if e["topic"] == "kinerja.appeal.filed.v1")
    assert filed["personal"] == {"grounds": "[dihapus]"}
    assert after["derivation"]["result"] == before["derivation"]["result"]


def test_an_evaluation_in_planning_makes_a_bundle_with_no_result(world, evidence):
    bundle = evidence.bundle(world.evaluation_id())
    report = verify_bundle(bundle, evidence.key)
    assert report.ok, report.problems
    assert bundle["derivation"]["result"] is None
    assert "no result delivered yet" in report.summary()


def test_a_lapsed_window_and_a_panel_are_re_derived(app, clock, evidence):
    world = build_world(app, clock, employees=2)
    app.name_appeal_panel(world.cycle_id, members=["panel:ani", "panel:budi"], actor=HR)
    lapsing, appealed = deliver(world, 0), deliver(world, 1)
    appeal_id = app.file_appeal(appealed, grounds="Tidak sesuai",
                                actor=world.employees[1]).ids["appeal_id"]
    app.decide_appeal(appeal_id, outcome="kept", reasons="Sesuai bukti", actor="panel:ani")
    clock.advance(days=15)
    app.record_appeal_lapsed(lapsing, actor=HR)
    first, second = evidence.bundle(lapsing), evidence.bundle(appealed)
    assert verify_bundle(first, evidence.key).ok and verify_bundle(second, evidence.key).ok
    assert first["derivation"]["appeal_lapsed"]["due"] == first["derivation"]["delivery"][
        "appeal_due"]
    assert second["derivation"]["appeal"]["reviewers"] == ["panel:ani", "panel:budi"]
    assert second["derivation"]["appeal"]["decision"]["outcome"] == "kept"


# --- alterations are caught and named ----------------------------------------------------

def _event(bundle: dict[str, Any], topic: str) -> dict[str, Any]:
    return next(e for e in bundle["events"] if e["topic"] == topic)


def _rehash(event: dict[str, Any], data: bytes) -> None:
    event["leaf_data"] = base64.b64encode(data).decode()
    event["leaf_hash"] = hashlib.sha256(b"\x00" + data).hexdigest()


def _flip(hex_text: str) -> str:
    return ("0" if hex_text[0] != "0" else "1") + hex_text[1:]


def _payload_capaian(b):
    _event(b, "kinerja.evaluation.item-rated.v1")["payload"]["capaian"] = "75.00"


def _payload_threshold(b):
    _event(b, "kinerja.rubric.version-published.v1")["payload"]["policy"][
        "above_threshold"] = "130"


def _derivation_threshold(b):
    b["derivation"]["rubric"]["policy"]["above_threshold"] = "130"


def _leaf_threshold(b):
    event = _event(b, "kinerja.rubric.version-published.v1")
    data = base64.b64decode(event["leaf_data"])
    _rehash(event, data.replace(b'"above_threshold":"110"', b'"above_threshold":"130"'))
    event["payload"]["policy"]["above_threshold"] = "130"


def _checkpoint_note(b):
    lines = b["checkpoint"]["note"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    b["checkpoint"]["note"] = "\n".join(lines)


def _checkpoint_root(b):
    b["checkpoint"]["root_hash"] = _flip(b["checkpoint"]["root_hash"])


def _proof_flipped(b):
    event = _event(b, "kinerja.evaluation.result-delivered.v1")
    event["proof"][0] = _flip(event["proof"][0])


def _proof_shortened(b):
    _event(b, "kinerja.evaluation.result-delivered.v1")["proof"].pop()


def _leaf_hash(b):
    event = _event(b, "kinerja.appeal.decided.v1")
    event["leaf_hash"] = _flip(event["leaf_hash"])


def _version(b):
    _event(b, "kinerja.appeal.decided.v1")["originator_version"] += 1


def _event_removed(b):
    b["events"].remove(_event(b, "kinerja.evaluation.result-changed.v1"))


def _derivation_predikat(b):
    b["derivation"]["result"]["predikat"] = "baik"


def _timeline_text(b):
    b["timeline"][-1]["text"] = "Result kept"


def _format(b):
    b["format"] = "kinerja-bundle/0"


def _leaf_index(b):
    _event(b, "kinerja.appeal.decided.v1")["leaf_index"] += 1


ALTERATIONS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("event payload", _payload_capaian,
     "kinerja.evaluation.item-rated.v1): payload field 'capaian' shows \"75.00\""),
    ("rubric threshold shown in the event", _payload_threshold,
     "payload field 'policy.above_threshold' shows \"130\""),
    ("rubric threshold in the derivation", _derivation_threshold,
     "derivation.rubric.policy.above_threshold: the bundle says \"130\""),
    ("rubric threshold in the leaf data", _leaf_threshold,
     "kinerja.rubric.version-published.v1): the inclusion proof does not lead"),
    ("checkpoint note", _checkpoint_note,
     "checkpoint: the signature does not verify with the given public key"),
    ("checkpoint root shown", _checkpoint_root, "checkpoint.root_hash: differs"),
    ("proof element", _proof_flipped,
     "kinerja.evaluation.result-delivered.v1): the inclusion proof does not lead"),
    ("proof element removed", _proof_shortened,
     "kinerja.evaluation.result-delivered.v1): the inclusion proof is malformed"),
    ("leaf hash", _leaf_hash, "kinerja.appeal.decided.v1): leaf_hash does not match"),
    ("stream version", _version, "originator_version shows"),
    ("event removed", _event_removed, "re-derivation: stream "),
    ("derivation result", _derivation_predikat,
     "derivation.result.predikat: the bundle says \"baik\""),
    ("timeline", _timeline_text, "timeline[" ),
    ("format", _format, "format: not a kinerja-bundle/1 document"),
    ("leaf index", _leaf_index, "kinerja.appeal.decided.v1): the inclusion proof"),
]


@pytest.mark.parametrize("alter,expected", [(a, e) for _, a, e in ALTERATIONS],
                         ids=[name for name, _, _ in ALTERATIONS])
def test_an_altered_bundle_fails_and_says_which(made, alter, expected):
    bundle = made.bundle
    altered = copy.deepcopy(bundle)
    alter(altered)
    report = verify_bundle(dumps(altered), made.key)
    assert not report.ok
    assert expected in report.summary(), report.summary()


def test_the_key_in_the_bundle_is_not_trusted(made):
    bundle = made.bundle
    signer, impostor = generate_signer(parse_checkpoint(bundle["checkpoint"]["note"]).origin)
    forged = copy.deepcopy(bundle)
    event = _event(forged, "kinerja.evaluation.result-delivered.v1")
    data = base64.b64decode(event["leaf_data"]).replace(b'"predikat":"baik"',
                                                        b'"predikat":"sangat_baik"')
    _rehash(event, data)
    event["payload"]["predikat"] = "sangat_baik"
    checkpoint = parse_checkpoint(forged["checkpoint"]["note"])
    forged["checkpoint"]["note"] = sign_checkpoint(checkpoint.origin, checkpoint.size,
                                                   checkpoint.root_hash, signer)
    forged["public_key"] = impostor
    report = verify_bundle(dumps(forged), made.key)
    assert report.summary().startswith("bundle FAILED: checkpoint: the signature does not "
                                       "verify")
    assert not verify_bundle(dumps(bundle), impostor).ok


@given(data=st.data())
@hypothesis_settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_single_bit_flipped_in_leaf_data_proof_or_note_fails(made, data):
    bundle = made.bundle
    altered = copy.deepcopy(bundle)
    target = data.draw(st.sampled_from(["leaf_data", "proof", "note"]))
    if target == "note":
        raw = bytearray(altered["checkpoint"]["note"].encode())
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] ^= 1 << data.draw(st.integers(0, 6))
        altered["checkpoint"]["note"] = raw.decode("utf-8", errors="replace")
    else:
        event = data.draw(st.sampled_from([e for e in altered["events"] if e["proof"]]))
        if target == "leaf_data":
            raw = bytearray(base64.b64decode(event["leaf_data"]))
            position = data.draw(st.integers(0, len(raw) - 1))
            raw[position] ^= 1 << data.draw(st.integers(0, 7))
            event["leaf_data"] = base64.b64encode(bytes(raw)).decode()
        else:
            number = data.draw(st.integers(0, len(event["proof"]) - 1))
            raw = bytearray(bytes.fromhex(event["proof"][number]))
            raw[data.draw(st.integers(0, 31))] ^= 1 << data.draw(st.integers(0, 7))
            event["proof"][number] = raw.hex()
    assert not verify_bundle(dumps(altered), made.key).ok


# --- events that break the rules, in an intact log ---------------------------------------

def _forge_and_verify(evidence: Evidence, eid: str) -> str:
    report = verify_bundle(evidence.bundle(eid), evidence.key)
    assert not report.ok
    return report.summary()


def test_a_capaian_the_rubric_does_not_give_is_caught_by_re_derivation(world, app, evidence):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    evaluation = app.get_evaluation(eid)
    # Written past the domain's checks, as someone with write access to the store could.
    evaluation._item_rated(actor=world.rater, at=world.clock(), item_id="violations",
                           capaian="75.00", computed_rating="sesuai_ekspektasi",
                           rating="sesuai_ekspektasi", override_reason=None, supersedes=None)
    app.save(evaluation)
    summary = _forge_and_verify(evidence, eid)
    assert "re-derivation: leaf" in summary
    assert "capaian of 'violations' is recorded as '75.00', but the rules give '133.33'" in summary


def test_a_rating_by_someone_not_the_rater_in_force_is_caught(world, app, evidence):
    eid = world.evaluation_id()
    rate_fully(world, eid, world.employee)
    evaluation = app.get_evaluation(eid)
    evaluation._perilaku_rated(actor=world.head, at=world.clock(), value="loyal",
                               rating="di_atas_ekspektasi", note=None)
    app.save(evaluation)
    assert f"recorded by {world.head}, but the rater in force" in _forge_and_verify(
        evidence, eid)


def test_a_decision_by_someone_not_named_to_decide_is_caught(world, app, evidence):
    eid = deliver(world)
    appeal_id = app.file_appeal(eid, grounds="Keberatan", actor=world.employee).ids[
        "appeal_id"]
    appeal = app.get_appeal(appeal_id)
    appeal._decided(actor=HR, at=world.clock(), outcome="kept",
                    hasil_kerja="sesuai_ekspektasi", perilaku_kerja="sesuai_ekspektasi",
                    predikat="baik", reasons="Tetap")
    app.save(appeal)
    assert f"decided by {HR}, who is not named to decide" in _forge_and_verify(evidence, eid)


def test_derive_names_a_late_filing_and_a_rating_in_a_locked_cycle(made):
    eid, bundle = made.evaluation_id, made.bundle
    events = [LoggedEvent(e["leaf_index"], e["topic"], e["originator_id"],
                          e["originator_version"], copy.deepcopy(e["payload"]))
              for e in bundle["events"]]
    assert derive(eid, events).problems == []
    filed = next(e for e in events if e.topic == "kinerja.appeal.filed.v1")
    filed.data["at"] = "2026-02-20T08:00:00+00:00"  # type: ignore[index]
    rated = next(e for e in events if e.topic == "kinerja.evaluation.perilaku-rated.v1")
    cycle_id = bundle["derivation"]["evaluation"]["cycle_id"]
    last = max(e.originator_version for e in events if e.originator_id == cycle_id)
    # A lock recorded just before the rating, as the next version of the cycle's stream.
    lock = LoggedEvent(rated.leaf_index - 0.5, "kinerja.cycle.locked.v1",  # type: ignore[arg-type]
                       cycle_id, last + 1, {"actor": HR, "at": rated.data["at"],
                                            "breaches": []})
    problems = derive(eid, [*events, lock]).problems
    assert any("filed on 2026-02-20, after the window closed on" in p for p in problems)
    assert any("perilaku-rated): recorded while the cycle was locked" in p for p in problems)


# --- HTML -------------------------------------------------------------------------------

def test_the_printable_page_has_the_derivation_the_timeline_and_the_proof_status(made):
    bundle = made.bundle
    page = render_html(bundle, verify_bundle(bundle, made.key))
    assert "<script" not in page
    assert "Derivation of hasil kerja" in page and "Capaian %" in page
    assert "133.33" in page and "Patroli dialihkan ke lokasi banjir" in page
    assert "Timeline" in page and "Result changed by calibration" in page
    assert f"All {len(bundle['events'])} events verified" in page
    assert page.count('<span class="ok">verified</span>') == len(bundle["events"])
    altered = copy.deepcopy(bundle)
    _proof_flipped(altered)
    failing = render_html(altered, verify_bundle(altered, made.key))
    assert "Verification FAILED" in failing
    assert "the inclusion proof does not lead to the checkpoint root" in failing


# --- PostgreSQL ----------------------------------------------------------------------------

@pytest.mark.postgres
def test_a_bundle_round_trip_on_postgresql(tmp_path, request):
    settings: Settings = settings_for("postgres", tmp_path, request)
    clock = TickingClock()
    ledger = open_ledger(settings, clock=clock)
    try:
        world = build_world(ledger, clock)
        eid = full_story(world)
        for evidence in open_evidence(settings, ledger):
            bundle = evidence.bundle(eid)
            report = verify_bundle(json.loads(dumps(bundle)), evidence.key)
            assert report.ok, report.problems
            assert report.result["predikat"] == "sangat_baik"
            altered = copy.deepcopy(bundle)
            _payload_capaian(altered)
            assert "payload field 'capaian'" in verify_bundle(altered, evidence.key).summary()
    finally:
        ledger.close()


def test_decimal_targets_survive_the_round_trip(world, app, evidence):
    eid = world.evaluation_id()
    app.plan_item(eid, item_id="respon", kind="utama", aspect="waktu",
                  indicator="Respon aduan < 7 hari", target=Decimal("87.5"),
                  direction="higher_is_better", unit_of_measure="%", actor=world.rater)
    bundle = evidence.bundle(eid)
    assert bundle["derivation"]["items"][0]["target"] == "87.5"
    assert verify_bundle(bundle, evidence.key).ok
