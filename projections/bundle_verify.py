"""Offline verification of an evidence bundle (`kinerja-bundle/1`): no database, no server.

Given the bundle and the log's verifier key (obtained separately: the key printed in a
bundle is for display and is never trusted), `verify_bundle` checks

1. the checkpoint note's Ed25519 signature (projections/checkpoint.py) and that the size
   and root the bundle shows are the note's;
2. for every event: the leaf data (base64) hashes to the leaf hash shown; the RFC 9162
   inclusion proof (domain/merkle.py) leads from that hash at the leaf index to the
   checkpoint's root; the leaf data decodes (projections/ledger/leaf.py) to the topic,
   stream and version shown, and its stored JSON state to exactly the payload shown;
3. the derivation and the timeline: `domain.bundle_check.derive` replays the proven
   events through the project's scoring rules under the rubric policy taken from the
   proven rubric event, and both the rule checks and the bundle's own derivation and
   timeline must agree with it.

Personal fields are AES-GCM envelopes in the stored state, or unreadable once shredded:
the leaves hash the ciphertext, and no score needs them, so nothing here opens them.
The plaintext a bundle may show beside an event (`personal`) is display only.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.bundle_check import LoggedEvent, derive
from domain.merkle import ProofError, RootMismatchError, leaf_hash, verify_inclusion
from projections.checkpoint import (
    Checkpoint,
    CheckpointError,
    MalformedKeyError,
    parse_checkpoint,
    verify_checkpoint,
)
from projections.ledger.leaf import LeafEncodingError, decode_leaf

FORMAT = "kinerja-bundle/1"

#: The JSON transcodings of the event store (eventsourcing 9.5.6 `UUIDAsHex`,
#: `DecimalAsStr`, `DatetimeAsISO`, and the service's `DateAsISO`), each shown as the
#: plain string a reader expects: a canonical UUID, the decimal, the ISO date or time.
_PLAIN = {
    "uuid_hex": lambda data: str(UUID(hex=data)),
    "decimal_str": str,
    "datetime_iso": str,
    "date_iso": str,
}


class StateDecodingError(ValueError):
    """Stored state that is not the store's JSON, or uses a transcoding unknown here."""


def _plain_object(obj: dict[str, Any]) -> Any:
    if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
        kind, data = obj["_type_"], obj["_data_"]
        if kind not in _PLAIN or not isinstance(data, str):
            raise StateDecodingError(f"unknown stored value type {kind!r}")
        try:
            return _PLAIN[kind](data)
        except ValueError as error:
            raise StateDecodingError(f"bad {kind} value {data!r}: {error}") from None
    return obj


def decode_state(state: bytes) -> dict[str, Any]:
    """An event's stored state (the store's JSON) as plain JSON data."""
    try:
        decoded = json.loads(bytes(state).decode("utf-8"), object_hook=_plain_object)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StateDecodingError(f"stored state is not JSON: {error}") from None
    if not isinstance(decoded, dict):
        raise StateDecodingError("stored state is not a JSON object")
    return decoded


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class BundleReport:
    """What `verify_bundle` found. `ok` only when nothing failed."""

    problems: list[Problem] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    signature_ok: bool = False
    evaluation_id: str | None = None
    events: int = 0
    #: leaf index -> "verified" or what failed, for each event of the bundle.
    event_status: dict[int, str] = field(default_factory=dict)
    result: Mapping[str, Any] | None = None
    rubric_version: Any = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def summary(self) -> str:
        if not self.ok:
            more = len(self.problems) - 1
            return (f"bundle FAILED: {self.problems[0]}"
                    + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""))
        assert self.checkpoint is not None
        result = self.result or {}
        outcome = (f"result {result.get('predikat')} (HK {result.get('hasil_kerja')}, PK "
                   f"{result.get('perilaku_kerja')}, from {result.get('source')})"
                   if result else "no result delivered yet")
        return (f"bundle OK: evaluation {self.evaluation_id}: {self.events} events proven in "
                f"checkpoint {self.checkpoint.origin} size {self.checkpoint.size} (root "
                f"{self.checkpoint.root_hash.hex()[:16]}...); {outcome} re-derived under "
                f"rubric version {self.rubric_version}")


def _first_difference(shown: Any, actual: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first path at which two JSON values differ, with both values there."""
    if isinstance(shown, dict) and isinstance(actual, dict):
        for key in sorted(set(shown) | set(actual), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in shown:
                return sub, "(absent)", actual[key]
            if key not in actual:
                return sub, shown[key], "(absent)"
            found = _first_difference(shown[key], actual[key], sub)
            if found:
                return found
        return None
    if isinstance(shown, list) and isinstance(actual, list):
        for i, (a, b) in enumerate(zip(shown, actual)):
            found = _first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        if len(shown) != len(actual):
            return f"{path} (length)", len(shown), len(actual)
        return None
    if shown != actual or type(shown) is not type(actual):
        return path or "(whole)", shown, actual
    return None


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _hex32(value: Any) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError("not 64 hex digits")
    return bytes.fromhex(value)


def load_bundle(raw: bytes | str) -> Any:
    return json.loads(raw)


def verify_bundle(bundle: Any, public_key: str) -> BundleReport:
    """Check `bundle` (parsed JSON, or its bytes) against the verifier key `public_key`."""
    report = BundleReport()
    if isinstance(bundle, (bytes, str)):
        try:
            bundle = load_bundle(bundle)
        except (ValueError, UnicodeDecodeError) as error:
            report.fail("bundle", f"not JSON: {error}")
            return report
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        report.fail("format", f"not a {FORMAT} document")
        return report
    report.evaluation_id = str(bundle.get("evaluation_id"))
    checkpoint = _check_checkpoint(bundle.get("checkpoint"), public_key, report)
    events = _check_events(bundle.get("events"), checkpoint, report)
    _check_derivation(bundle, events, report)
    return report


def _check_checkpoint(section: Any, public_key: str, report: BundleReport) -> Checkpoint | None:
    if not isinstance(section, dict) or not isinstance(section.get("note"), str):
        report.fail("checkpoint", "the bundle holds no checkpoint note")
        return None
    note = section["note"]
    checkpoint: Checkpoint | None = None
    try:
        checkpoint = verify_checkpoint(note, public_key.strip())
        report.signature_ok = True
    except MalformedKeyError as error:
        report.fail("public key", f"not a verifier key: {error}")
    except CheckpointError as error:
        report.fail("checkpoint", f"the signature does not verify with the given public "
                                  f"key: {error}")
    if checkpoint is None:
        # Read unverified, so the other checks can still say what else is wrong.
        try:
            checkpoint = parse_checkpoint(note)
        except CheckpointError:
            return None
    report.checkpoint = checkpoint
    if section.get("size") != checkpoint.size:
        report.fail("checkpoint.size", f"shows {section.get('size')!r}, the signed note "
                                       f"says {checkpoint.size}")
    if section.get("root_hash") != checkpoint.root_hash.hex():
        report.fail("checkpoint.root_hash", "differs from the root in the signed note")
    return checkpoint


def _check_events(section: Any, checkpoint: Checkpoint | None,
                  report: BundleReport) -> list[LoggedEvent]:
    if not isinstance(section, list) or not section:
        report.fail("events", "the bundle holds no events")
        return []
    proven: list[LoggedEvent] = []
    for number, entry in enumerate(section):
        event = _check_event(number, entry, checkpoint, report)
        if event is not None:
            proven.append(event)
    report.events = len(section)
    return proven


def _check_event(number: int, entry: Any, checkpoint: Checkpoint | None,
                 report: BundleReport) -> LoggedEvent | None:
    if not isinstance(entry, dict):
        report.fail(f"events[{number}]", "not an object")
        return None
    index = entry.get("leaf_index")
    where = f"events[{number}] (leaf {index}, {entry.get('topic')})"
    failures_before = len(report.problems)

    def fail(message: str) -> None:
        report.fail(where, message)

    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        fail("leaf_index is not a leaf index")
        return None
    try:
        data = base64.b64decode(entry.get("leaf_data") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        fail("leaf_data is not base64")
        report.event_status[index] = "leaf data unreadable"
        return None
    computed = leaf_hash(data)
    if entry.get("leaf_hash") != computed.hex():
        fail("leaf_hash does not match the leaf data")
    if checkpoint is not None:
        try:
            proof = [_hex32(h) for h in entry.get("proof") or []]
            verify_inclusion(computed, index, checkpoint.size, proof, checkpoint.root_hash)
        except RootMismatchError:
            fail("the inclusion proof does not lead to the checkpoint root")
        except (ValueError, ProofError) as error:
            fail(f"the inclusion proof is malformed: {error}")
    try:
        record = decode_leaf(data)
    except LeafEncodingError as error:
        fail(f"leaf data does not decode: {error}")
        report.event_status[index] = "leaf data does not decode"
        return None
    for name, shown, actual in (("topic", entry.get("topic"), record.topic),
                                ("originator_id", entry.get("originator_id"),
                                 str(record.originator_id)),
                                ("originator_version", entry.get("originator_version"),
                                 record.originator_version)):
        if shown != actual:
            fail(f"{name} shows {_short(shown)}, the leaf data holds {_short(actual)}")
    try:
        payload = decode_state(record.state)
    except StateDecodingError as error:
        fail(f"the stored state in the leaf does not decode: {error}")
        report.event_status[index] = "stored state does not decode"
        return None
    difference = _first_difference(entry.get("payload"), payload)
    if difference is not None:
        path, shown, actual = difference
        fail(f"payload field '{path}' shows {_short(shown)}, but the leaf data holds "
             f"{_short(actual)}")
    failed = report.problems[failures_before:]
    report.event_status[index] = ("verified" if not failed
                                  else "; ".join(p.message for p in failed))
    # The replay reads the proven leaf, never the payload as shown.
    return LoggedEvent(index, record.topic, str(record.originator_id),
                       record.originator_version, payload)


def _check_derivation(bundle: Mapping[str, Any], events: list[LoggedEvent],
                      report: BundleReport) -> None:
    if not events:
        return
    derived = derive(str(bundle.get("evaluation_id")), events)
    for problem in derived.problems:
        report.fail("re-derivation", problem)
    for name, claimed, recomputed in (("derivation", bundle.get("derivation"),
                                       derived.claims),
                                      ("timeline", bundle.get("timeline"), derived.timeline)):
        difference = _first_difference(claimed, recomputed)
        if difference is not None:
            path, shown, actual = difference
            where = (name if path.startswith("(") else
                     f"{name}{path}" if path.startswith("[") else f"{name}.{path}")
            report.fail(where,
                        f"the bundle says {_short(shown)}, re-derived from the proven "
                        f"events: {_short(actual)}")
    report.result = derived.claims.get("result")
    report.rubric_version = (derived.claims.get("rubric") or {}).get("version")
