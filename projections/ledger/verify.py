"""`kinerja verify`: recompute the whole log from the stored events and check it.

The anchor is the signed checkpoints: their key lives outside the database, so whoever can
write to the database can delete checkpoints but cannot forge one. The ledger's own tables
(leaves, nodes) may have been rewritten too; they are used to *name* the first bad leaf,
never trusted for the verdict about a checkpoint.

In one pass over the log, in position order:

1. every stored checkpoint (and every outside one, the auditor's copy) must carry a valid
   signature by the log's key for the log's origin;
2. each event is re-encoded (projections/ledger/leaf.py) and hashed; its leaf hash must
   equal the one the ledger recorded at that index. At the first difference the log is
   searched to say what happened: *altered* (the event changed), *missing* (the event was
   removed), *extra* (an event that is not in the ledger was inserted), *out of order*
   (events moved);
3. the root recomputed at each checkpoint's size must equal the signed root;
4. the stored node table must give the same roots, and consistency proofs between
   consecutive checkpoints that verify against their signed roots.

Events after the last leaf are new, not yet appended: counted, not judged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MissingNodeError,
    ProofError,
    consistency_proof,
    leaf_hash,
    node_hash,
    root_at,
    verify_consistency,
)
from projections.checkpoint import CheckpointError, verify_checkpoint
from projections.db import Database
from projections.ledger.events import EventSource, LogRecord, iterate, iterate_raw
from projections.ledger.leaf import LeafEncodingError, encode_leaf, raw_leaf_hasher
from projections.ledger.store import SqlNodeReader

__all__ = ["Problem", "VerifyReport", "verify_ledger"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Problem:
    #: altered, missing, extra, out-of-order, bad-signature, root-mismatch, fork,
    #: ledger-damaged, no-key
    kind: str
    message: str
    index: int | None = None


@dataclass
class VerifyReport:
    leaves: int = 0
    pending: int = 0
    checkpoints: int = 0
    outside_checkpoints: int = 0
    latest_size: int = 0
    latest_root: bytes = b""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        indexes = [p.index for p in self.problems if p.index is not None]
        return min(indexes) if indexes else None

    def summary(self) -> str:
        if not self.ok:
            first = self.problems[0]
            where = f"leaf {first.index}: " if first.index is not None else ""
            return f"FAILED: {where}{first.kind}: {first.message}"
        parts = [f"ok: {self.leaves:,} leaves match the stored events"]
        if self.checkpoints or self.outside_checkpoints:
            checked = f"{self.checkpoints:,} stored"
            if self.outside_checkpoints:
                checked += f" and {self.outside_checkpoints} outside"
            parts.append(f"{checked} checkpoint(s) verified (latest size {self.latest_size:,},"
                         f" root {self.latest_root.hex()})")
        else:
            parts.append("no checkpoint published yet")
        if self.pending:
            parts.append(f"{self.pending:,} newer event(s) not yet in the ledger")
        return "; ".join(parts)


@dataclass(frozen=True)
class _StoredLeaf:
    index: int
    position: int
    hash: bytes


@dataclass(frozen=True)
class _Anchor:
    size: int
    root: bytes
    label: str


def _table_exists(db: Database, name: str) -> bool:
    with db.transaction() as cursor:
        if db.kind == "sqlite":
            cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                           (name,))
        else:
            cursor.execute("SELECT 1 FROM information_schema.tables WHERE table_name = ? "
                           "AND table_schema = current_schema()", (name,))
        return cursor.fetchone() is not None


def _stored_leaves(db: Database, start: int, batch: int) -> Iterator[_StoredLeaf]:
    while True:
        with db.transaction() as cursor:
            cursor.execute("SELECT idx, position, leaf_hash FROM ledger_leaves WHERE idx >= ? "
                           "ORDER BY idx LIMIT ?", (start, batch))
            rows = cursor.fetchall()
        for index, position, hash_ in rows:
            yield _StoredLeaf(index, position, bytes(hash_))
        if len(rows) < batch:
            return
        start = rows[-1][0] + 1


def _hash_of(record: LogRecord) -> bytes | None:
    try:
        return leaf_hash(encode_leaf(record.originator_id, record.originator_version,
                                     record.topic, record.state))
    except (LeafEncodingError, AttributeError, TypeError):
        return None


def _describe(record: LogRecord) -> str:
    return (f"position {record.position}, {record.topic} of {record.originator_id} "
            f"v{record.originator_version}")


def _anchors(db: Database, verifier_key: str | None, origin: str,
             outside: Sequence[str | bytes], remembered: str | bytes | None,
             report: VerifyReport) -> dict[int, _Anchor]:
    rows: list[tuple[int, bytes, str]] = []
    if _table_exists(db, "ledger_checkpoints"):
        with db.transaction() as cursor:
            cursor.execute("SELECT size, root_hash, note FROM ledger_checkpoints ORDER BY size")
            rows = [(size, bytes(root), note) for size, root, note in cursor.fetchall()]
    notes: list[tuple[str | bytes, str, Any]] = [
        (note, f"stored checkpoint of size {size}", (size, root)) for size, root, note in rows]
    notes += [(note, "outside checkpoint", None) for note in outside]
    if remembered is not None:
        notes.append((remembered, "last signed checkpoint kept in the data folder", "kept"))
    if notes and verifier_key is None:
        report.problems.append(Problem(
            "no-key", "there are checkpoints but no verifier key to check them with"))
        return {}
    anchors: dict[int, _Anchor] = {}
    for note, label, columns in notes:
        try:
            checkpoint = verify_checkpoint(note, verifier_key or "", expected_origin=origin)
        except CheckpointError as error:
            report.problems.append(Problem("bad-signature", f"{label}: {error}"))
            continue
        if columns == "kept":
            label = f"{label} (size {checkpoint.size})"
        elif columns is not None:
            report.checkpoints += 1
            if columns != (checkpoint.size, checkpoint.root_hash):
                # The signed note is the truth; the columns are a convenience copy.
                report.problems.append(Problem(
                    "ledger-damaged", f"{label}: its size/root columns differ from its "
                    "signed note"))
        else:
            report.outside_checkpoints += 1
            label = f"outside checkpoint of size {checkpoint.size}"
        known = anchors.get(checkpoint.size)
        if known is not None and known.root != checkpoint.root_hash:
            report.problems.append(Problem(
                "fork", f"{label} and {known.label} are both validly signed but have different "
                "roots: the log has shown two histories"))
            continue
        anchors.setdefault(checkpoint.size, _Anchor(checkpoint.size, checkpoint.root_hash,
                                                    label))
    return anchors


def _diagnose(db: Database, events: EventSource, index: int, record: LogRecord | None,
              stored: _StoredLeaf | None, batch: int) -> Problem:
    """What happened at the first index where the log and the ledger disagree."""
    computed = _hash_of(record) if record is not None else None
    if record is None:
        assert stored is not None
        return Problem("missing", f"the event of leaf {index} (position {stored.position}) "
                       "is no longer in the log: removed", index)
    if stored is None:
        return Problem("extra", f"the log holds an event the ledger does not know at index "
                       f"{index} ({_describe(record)})", index)
    # Where the event now at `index` sits in the ledger, if anywhere later.
    moved_from = None
    if computed is not None:
        with db.transaction() as cursor:
            cursor.execute("SELECT idx FROM ledger_leaves WHERE leaf_hash = ? AND idx > ? "
                           "ORDER BY idx LIMIT 1", (computed, index))
            row = cursor.fetchone()
            moved_from = row[0] if row else None
    # Where the event of leaf `index` now sits in the log, if anywhere later.
    moved_to = None
    for offset, later in enumerate(iterate(events, after=record.position, batch=batch), 1):
        if _hash_of(later) == stored.hash:
            moved_to = index + offset
            break
    if moved_from is None and moved_to is None:
        reason = "" if computed is not None else " (it cannot even be encoded)"
        return Problem("altered", f"the event at {_describe(record)} no longer matches leaf "
                       f"{index}, recorded from position {stored.position}{reason}", index)
    if moved_from is None:
        return Problem("extra", f"an event the ledger does not know ({_describe(record)}) was "
                       f"inserted at index {index}; leaf {index}'s event follows at index "
                       f"{moved_to}", index)
    if moved_to is None:
        return Problem("missing", f"the event of leaf {index} (position {stored.position}) "
                       f"was removed; index {index} now holds leaf {moved_from}'s event", index)
    return Problem("out-of-order", f"index {index} holds leaf {moved_from}'s event and leaf "
                   f"{index}'s event stands at index {moved_to}: events were reordered", index)


def verify_ledger(db: Database, events: EventSource, *, verifier_key: str | None,
                  origin: str, outside: Sequence[str | bytes] = (),
                  remembered: str | bytes | None = None,
                  progress: Progress | None = None, batch: int = 5000) -> VerifyReport:
    """Check the log against the ledger and the signed checkpoints; see the module doc.

    `outside` are checkpoints kept elsewhere (an auditor's copies); `remembered` is the
    copy of the last checkpoint the log signed, kept beside its key.

    One pass recomputes the tree from the events and compares its root with every signed
    root and with the node table's root of all the leaves the ledger holds: the roots
    commit to every leaf, so the leaf table need not be read. Only if a root differs does a
    second pass compare leaf by leaf, to name the first bad one.
    """
    report = VerifyReport()
    anchors = _anchors(db, verifier_key, origin, outside, remembered, report)
    has_leaves = _table_exists(db, "ledger_leaves")
    stored_size = 0
    stored_root: bytes | None = None
    if has_leaves:
        with db.transaction() as cursor:
            cursor.execute("SELECT MAX(idx) FROM ledger_leaves")
            top = cursor.fetchone()[0]
            stored_size = 0 if top is None else top + 1
        try:
            stored_root = root_at(stored_size, SqlNodeReader(db)) if stored_size else None
        except MissingNodeError as error:
            report.problems.append(Problem("ledger-damaged", f"the node table {error}"))
    target = max([stored_size, *anchors])
    checks = iter(sorted({*anchors, *([stored_size] if stored_size else [])}))
    check = next(checks, None)
    sha256 = hashlib.sha256
    hash_leaf = raw_leaf_hasher()
    edge: list[bytes] = []  # the hashes of the perfect subtrees along the right edge
    index = 0
    failed = False
    records = iterate_raw(events, batch=batch,
                          prefetch=getattr(events, "read_ahead", False))
    for _, id_bytes, version, topic, state in records:
        if index == target:
            report.pending = 1 + sum(1 for _ in records)
            break
        try:
            hash_ = hash_leaf(id_bytes, version, topic, state)  # type: ignore[arg-type]
        except (LeafEncodingError, TypeError, AttributeError):
            failed = True
            break
        # CompactRange.append, inlined: this loop runs once per event of the whole log.
        completed = index
        while completed & 1:
            hash_ = sha256(b"\x01" + edge.pop() + hash_).digest()
            completed >>= 1
        edge.append(hash_)
        index += 1
        if index == check:
            root = _fold(edge)
            anchor = anchors.get(index)
            if (anchor is not None and root != anchor.root) or (
                    index == stored_size and stored_root is not None and root != stored_root):
                failed = True
                break
            if anchor is not None:
                report.latest_size, report.latest_root = anchor.size, anchor.root
            check = next(checks, None)
        if progress is not None and index % batch == 0:
            progress(index, target)
    if index < target:
        failed = True
    if failed:
        report.latest_size, report.latest_root = 0, b""
        _naming_pass(db, events, anchors, has_leaves, stored_size, report, None, batch)
        return report
    report.leaves = index
    if progress is not None:
        progress(index, target)
    if has_leaves and report.ok:
        _check_node_table(db, anchors, stored_size, report)
    return report


def _fold(edge: list[bytes]) -> bytes:
    if not edge:
        return EMPTY_ROOT
    root = edge[-1]
    for left in reversed(edge[:-1]):
        root = node_hash(left, root)
    return root


def _naming_pass(db: Database, events: EventSource, anchors: dict[int, _Anchor],
                 has_leaves: bool, stored_size: int, report: VerifyReport,
                 progress: Progress | None, batch: int) -> None:
    """Leaf by leaf against the ledger's leaf table, to name the first bad leaf: run only
    once the fast pass has found that something is wrong."""
    target = max([stored_size, *anchors])
    stored_iter = _stored_leaves(db, 0, batch) if has_leaves else iter(())
    log_iter = iterate(events, batch=batch)
    edge = CompactRange()
    pending_anchors = sorted(anchors)
    lacking_reported = False
    index = 0
    next_stored = next(stored_iter, None)
    while index < target:
        record = next(log_iter, None)
        stored = None
        if next_stored is not None and next_stored.index == index:
            stored, next_stored = next_stored, next(stored_iter, None)
        computed = _hash_of(record) if record is not None else None
        if stored is not None and (record is None or computed != stored.hash):
            report.problems.insert(0, _diagnose(db, events, index, record, stored, batch))
            _note_covering(report, anchors, index)
            return
        if record is None:
            report.problems.insert(0, Problem(
                "missing", f"the log ends at {index} events but a checkpoint covers "
                f"{max(anchors)}; the ledger tables lack those leaves too", index))
            return
        if computed is None:
            report.problems.insert(0, Problem(
                "altered", f"the event at {_describe(record)} cannot be encoded as a leaf",
                index))
            _note_covering(report, anchors, index)
            return
        if stored is None and not lacking_reported:
            lacking_reported = True
            report.problems.append(Problem(
                "ledger-damaged", f"the ledger table lacks leaf {index}, which a checkpoint "
                "covers"))
        edge.append(computed)
        index += 1
        if pending_anchors and pending_anchors[0] == index:
            anchor = anchors[pending_anchors.pop(0)]
            if edge.root() != anchor.root:
                previous = max((s for s in anchors if s < index), default=0)
                report.problems.insert(0, Problem(
                    "root-mismatch", f"the events do not give the signed root of the "
                    f"{anchor.label}, although each matches the ledger's leaf table: the "
                    f"ledger tables were rewritten too; the changed event lies in leaves "
                    f"{previous}..{index - 1}"))
                return
        if progress is not None and index % batch == 0:
            progress(index, target)
    # Every leaf and every signed root matched: the fault is in the node table alone.
    report.problems.insert(0, Problem(
        "ledger-damaged", f"the events match every leaf and checkpoint, but the node table "
        f"does not give the root of the {stored_size} leaves; proofs served from it fail"))


def _note_covering(report: VerifyReport, anchors: dict[int, _Anchor], index: int) -> None:
    covering = sorted(size for size in anchors if size > index)
    if covering:
        sizes = (f"size {covering[0]}" if len(covering) == 1
                 else f"sizes {covering[0]} to {covering[-1]}")
        report.problems.append(Problem(
            "root-mismatch", f"{len(covering)} signed checkpoint(s) ({sizes}) cover leaf "
            f"{index} and no longer match the log"))


def _check_node_table(db: Database, anchors: dict[int, _Anchor], stored_size: int,
                      report: VerifyReport) -> None:
    """The proofs the API serves come from ledger_nodes, and entries name their leaf hash
    from ledger_leaves: both must agree with what was just recomputed."""
    reader = SqlNodeReader(db)
    with db.transaction() as cursor:
        cursor.execute("SELECT COUNT(*) FROM ledger_leaves")
        count = cursor.fetchone()[0]
        # The first leaf whose recorded hash is not the tree's own leaf node.
        cursor.execute("SELECT MIN(l.idx) FROM ledger_leaves l LEFT JOIN ledger_nodes n "
                       "ON n.level = 0 AND n.idx = l.idx "
                       "WHERE n.hash IS NULL OR n.hash <> l.leaf_hash")
        disagreeing = cursor.fetchone()[0]
    if count != stored_size:
        report.problems.append(Problem(
            "ledger-damaged", f"the leaf table has {count} rows for {stored_size} leaves"))
    if disagreeing is not None:
        report.problems.append(Problem(
            "ledger-damaged", f"the leaf table's hash of leaf {disagreeing} is not the tree's",
            disagreeing))
    try:
        sizes = sorted(anchors)
        for first, second in zip(sizes, sizes[1:]):
            verify_consistency(first, second, consistency_proof(first, second, reader),
                               anchors[first].root, anchors[second].root)
    except MissingNodeError as error:
        report.problems.append(Problem("ledger-damaged", f"the node table {error}"))
    except ProofError as error:
        report.problems.append(Problem(
            "ledger-damaged", f"a consistency proof from the node table fails: {error}"))
