"""Building the evidence bundle of one evaluation (`kinerja-bundle/1`).

One self-contained JSON document that an appeal panel or an inspector can check offline
(`kinerja verify-bundle`, projections/bundle_verify.py):

- `events`: every event that shaped the evaluation, whole streams from version 1: the
  evaluation's, its appeal's, the employee's (registration, rater and reviewer
  assignments), the cycle's (periods, panel, lock, reopening), the rubric's (the version
  it was scored under and those before it), and the feedback items counted in the
  delivered summary. Each with its leaf index, leaf data (base64), leaf hash, RFC 9162
  inclusion proof, and its stored state decoded (`payload`);
- `checkpoint`: ONE signed checkpoint covering all of them (published first when the
  latest does not);
- `derivation` and `timeline`: `domain.bundle_check.derive` over those same events;
- `public_key`: for display only; a verifier takes the key from elsewhere.

Nothing in it depends on the wall clock: the same events and checkpoint give the same
bytes (`dumps`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from api.service import AppraisalLedger, _uuid
from domain.appeal import Appeal
from domain.bundle_check import FEEDBACK_GIVEN, LoggedEvent, derive
from domain.errors import DomainError, NotFound
from domain.merkle import leaf_hash
from domain.personal_data import REGISTRY
from domain.scoring import FeedbackSummary
from domain.values import FeedbackSource
from projections.bundle_verify import FORMAT, decode_state
from projections.checkpoint import parse_checkpoint
from projections.db import Database
from projections.ledger import CheckpointNotFound, Ledger, encode_leaf

#: Shown in place of a personal field that could not be opened (a damaged envelope).
UNREADABLE = "[tidak terbaca]"

NOTE_PERSONAL = ("Personal fields (names, NIP, reasons, grounds, explanations) are stored "
                 "encrypted; the leaves and proofs cover the ciphertext. Their text under "
                 "`personal` is decrypted by the server for reading and cannot be checked "
                 "offline; '[dihapus]' means the person's key was destroyed.")
NOTE_TAIL = ("A bundle proves that its events are in the log, unaltered, in this order, and "
             "that each stream it holds is whole up to its last event. It cannot prove "
             "absence: that no event came after the checkpoint, or that no other stream "
             "exists (an appeal decided 'kept' leaves no trace on the evaluation's own "
             "stream). A newer bundle, or the explanation and history queries, show those.")
NOTE_FEEDBACK_WITHHELD = ("Feedback items are not included: a peer's identity is never "
                          "shown to the person rated. The delivered summary (counts and "
                          "means by source) is in the derivation.")
NOTE_FEEDBACK_UNMATCHED = ("The feedback items counted at delivery could not be matched to "
                           "recorded items (the read models had not reached them); the "
                           "delivered summary is in the derivation.")


class BundleStoreMismatch(DomainError):
    """An event as stored now no longer hashes to its leaf: the store was altered after
    the event entered the Merkle log. No bundle is made; run `kinerja verify`."""

    code = "bundle-store-mismatch"
    kind = "conflict"


@dataclass(frozen=True)
class _Row:
    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


def events_table(db: Database) -> str:
    """The library's events table (as `api.ledger_keys.events_table` names it from
    settings): `stored_events` on SQLite, `<application name>_events` on PostgreSQL."""
    return "stored_events" if db.kind == "sqlite" else f"{AppraisalLedger.name.lower()}_events"


def _read_streams(db: Database, ids: Sequence[UUID]) -> list[_Row]:
    """Whole streams with their log positions, by the (originator_id, version) key."""
    table = events_table(db)
    position = "rowid" if db.kind == "sqlite" else "notification_id"
    rows: list[_Row] = []
    with db.transaction() as cursor:
        for originator in ids:
            cursor.execute(f"SELECT {position}, originator_id, originator_version, topic, "
                           f"state FROM {table} WHERE originator_id = ? "
                           "ORDER BY originator_version",
                           (originator.hex if db.kind == "sqlite" else originator,))
            rows += [_row(r) for r in cursor.fetchall()]
    return rows


def _read_positions(db: Database, positions: Sequence[int]) -> list[_Row]:
    if not positions:
        return []
    table = events_table(db)
    column = "rowid" if db.kind == "sqlite" else "notification_id"
    with db.transaction() as cursor:
        cursor.execute(f"SELECT {column}, originator_id, originator_version, topic, state "
                       f"FROM {table} WHERE {column} IN "
                       f"({', '.join('?' for _ in positions)})", list(positions))
        return [_row(r) for r in cursor.fetchall()]


def _row(raw: Sequence[Any]) -> _Row:
    originator = raw[1] if isinstance(raw[1], UUID) else UUID(str(raw[1]))
    return _Row(int(raw[0]), originator, int(raw[2]), str(raw[3]), bytes(raw[4]))


def _counted_feedback(reads: Any, employee_id: str, period: str, delivered_position: int,
                      summary: dict[str, Any]) -> list[int] | None:
    """Positions of the feedback items the delivered summary counted: the longest run, in
    log order, of this employee's feedback for the period before delivery whose summary
    is the delivered one. None when no run gives it (read models behind)."""
    if not summary:
        return []
    if reads is None:
        return None
    history = reads.history(employee_id)
    given = [(e["position"], e["change"]) for e in history["entries"]
             if e["topic"] == FEEDBACK_GIVEN and e["position"] < delivered_position
             and (e.get("change") or {}).get("period") == period]
    found = None
    for count in range(1, len(given) + 1):
        scores = [(FeedbackSource(c["source"]), int(c["score"])) for _, c in given[:count]]
        if FeedbackSummary.of_scores(scores).to_dict() == summary:
            found = [p for p, _ in given[:count]]
    return found


def _personal(app: AppraisalLedger, row: _Row, payload: dict[str, Any]) -> dict[str, Any]:
    """Personal fields opened for reading (display only; the leaf holds the envelopes)."""
    spec = REGISTRY.get(row.topic)
    sealed = [f for f in spec.fields if isinstance(payload.get(f), dict)] if spec else []
    if not sealed:
        return {}
    try:
        event = app.mapper.to_domain_event(StoredEvent(
            originator_id=row.originator_id, originator_version=row.originator_version,
            topic=row.topic, state=row.state))
    except Exception:  # noqa: BLE001 - a damaged envelope is shown as such, not raised
        return {f: UNREADABLE for f in sealed}
    return {f: getattr(event, f, None) for f in sealed}


def _role(row: _Row, ids: dict[str, UUID]) -> str:
    if row.topic == FEEDBACK_GIVEN:
        return "feedback"
    return next((role for role, uuid in ids.items() if uuid == row.originator_id), "other")


def build_bundle(app: AppraisalLedger, merkle: Ledger, db: Database, evaluation_id: Any, *,
                 reads: Any = None, withhold_feedback: bool = False) -> dict[str, Any]:
    """The bundle of `evaluation_id` as the log stands now.

    `db` is the store's SQL database (the events table and the Merkle tables); `reads`
    (projections.queries.ReadModels) finds the feedback counted at delivery;
    `withhold_feedback` leaves feedback items out (for the person rated, who may not
    learn a peer's identity). Publishes a checkpoint when the latest does not cover every
    event of the bundle (needs the ledger's signer key).
    """
    evaluation = app.get_evaluation(_uuid(evaluation_id, "evaluation id"))
    ids = {"evaluation": evaluation.id, "appeal": Appeal.id_for(evaluation.id),
           "employee": _uuid(evaluation.employee_id, "employee id"),
           "cycle": _uuid(evaluation.cycle_id, "cycle id"),
           "rubric": _uuid(evaluation.rubric_id, "rubric id")}
    rows = _read_streams(db, list(ids.values()))
    if not any(r.originator_id == evaluation.id for r in rows):
        raise NotFound(f"no evaluation {evaluation_id}")
    notes = [NOTE_PERSONAL]
    delivered = next((r for r in rows if r.originator_id == evaluation.id
                      and r.topic == "kinerja.evaluation.result-delivered.v1"), None)
    if delivered is not None:
        summary = decode_state(delivered.state).get("feedback") or {}
        if withhold_feedback:
            if summary:
                notes.append(NOTE_FEEDBACK_WITHHELD)
        else:
            positions = _counted_feedback(reads, str(evaluation.employee_id),
                                          evaluation.period, delivered.position, summary)
            if positions is None:
                notes.append(NOTE_FEEDBACK_UNMATCHED)
            else:
                rows += _read_positions(db, positions)
    notes.append(NOTE_TAIL)

    merkle.catch_up()
    leaves = merkle.leaf_for_position([r.position for r in rows])
    missing = [r.position for r in rows if r.position not in leaves]
    if missing:
        raise BundleStoreMismatch(f"events at positions {missing[:5]} are not in the Merkle "
                                  "log: run `kinerja verify`")
    rows.sort(key=lambda r: leaves[r.position][0])
    datas = {}
    for row in rows:
        index, stored_hash = leaves[row.position]
        data = encode_leaf(row.originator_id, row.originator_version, row.topic, row.state)
        if leaf_hash(data).hex() != stored_hash:
            raise BundleStoreMismatch(
                f"the event at position {row.position} no longer hashes to leaf {index}: "
                "the store was altered; run `kinerja verify`", index=index)
        datas[row.position] = data
    checkpoint = _covering_checkpoint(merkle, max(i for i, _ in leaves.values()))

    events, logged = [], []
    for row in rows:
        index, stored_hash = leaves[row.position]
        payload = decode_state(row.state)
        proof = merkle.inclusion_proof(index, checkpoint.size)
        entry = {
            "leaf_index": index, "position": row.position, "role": _role(row, ids),
            "topic": row.topic, "originator_id": str(row.originator_id),
            "originator_version": row.originator_version,
            "leaf_data": base64.b64encode(datas[row.position]).decode("ascii"),
            "leaf_hash": stored_hash, "proof": [h.hex() for h in proof.proof],
            "payload": payload,
        }
        personal = _personal(app, row, payload)
        if personal:
            entry["personal"] = personal
        events.append(entry)
        logged.append(LoggedEvent(index, row.topic, str(row.originator_id),
                                  row.originator_version, payload))
    derived = derive(str(evaluation.id), logged)
    parsed = parse_checkpoint(checkpoint.note)
    return {
        "format": FORMAT,
        "evaluation_id": str(evaluation.id),
        "employee_id": str(evaluation.employee_id),
        "unit": evaluation.unit,
        "period": evaluation.period,
        "checkpoint": {"origin": parsed.origin, "size": checkpoint.size,
                       "root_hash": checkpoint.root_hash.hex(), "note": checkpoint.note},
        "public_key": merkle.public_key,
        "events": events,
        "derivation": derived.claims,
        "timeline": derived.timeline,
        "notes": notes,
    }


def _covering_checkpoint(merkle: Ledger, last_index: int) -> Any:
    try:
        latest = merkle.checkpoint()
    except CheckpointNotFound:
        latest = None
    if latest is None or latest.size <= last_index:
        merkle.publish_checkpoint()
        latest = merkle.checkpoint()
    return latest


def dumps(bundle: dict[str, Any]) -> str:
    """The bundle as stable JSON text (same bundle, same bytes)."""
    return json.dumps(bundle, ensure_ascii=False, indent=1) + "\n"


def render_html(bundle: dict[str, Any], report: Any) -> str:
    """The printable page of a bundle (api/templates/bundle.html): the same content,
    with `report` (projections.bundle_verify.BundleReport) as its proof status."""
    from pathlib import Path

    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    by_leaf = {e.get("leaf_index"): e for e in bundle.get("events", [])}

    def personal(leaf_index: Any, name: str) -> Any:
        return (by_leaf.get(leaf_index) or {}).get("personal", {}).get(name)

    roles = _actor_roles(bundle)
    registered = next((e for e in bundle.get("events", [])
                       if e.get("topic") == "kinerja.employee.registered.v1"), None)
    name = (registered or {}).get("personal", {}).get("name")
    return environment.get_template("bundle.html").render(
        b=bundle, d=bundle.get("derivation") or {}, report=report, personal=personal,
        role=lambda actor: roles.get(actor, ""), employee_name=name)


def _actor_roles(bundle: dict[str, Any]) -> dict[str, str]:
    """Who each actor id was in this evaluation, for the reader."""
    roles: dict[str, set[str]] = {}

    def add(actor: Any, role: str) -> None:
        if actor:
            roles.setdefault(str(actor), set()).add(role)

    add(bundle.get("employee_id"), "employee")
    for event in bundle.get("events", []):
        payload = event.get("payload") or {}
        if event.get("topic") == "kinerja.employee.rater-assigned.v1":
            add(payload.get("rater_id"), "rater")
        elif event.get("topic") == "kinerja.employee.reviewer-assigned.v1":
            add(payload.get("reviewer_id"), "rater's superior")
        elif event.get("topic") == "kinerja.appeal.filed.v1":
            for reviewer in payload.get("reviewers") or []:
                add(reviewer, "appeal panel" if payload.get("reviewer_kind") == "panel"
                    else "appeal reviewer")
    return {actor: ", ".join(sorted(r)) for actor, r in roles.items()}
