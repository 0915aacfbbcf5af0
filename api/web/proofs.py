"""The proof status of an evaluation's inputs, checked by this server as the page is made.

The latest stored checkpoint is trusted only once its signature verifies with the log's
key (`projections.checkpoint.verify_checkpoint`); its root is then the anchor. For each
input event, the leaf is re-hashed from the event as stored now (so an edit of the
events table after logging shows), the RFC 9162 inclusion proof is computed from that
hash up to a root (`domain.merkle.verify_inclusion`), and the root compared with the
signed one. Nothing is written: an input newer than the latest checkpoint is reported
as awaiting one (the follower publishes on its own schedule; a bundle publishes at once).

A receipt rests on a few dozen events; checked one by one, each costs a few round trips
to the database, which on PostgreSQL made the page slow. So the events are read by runs of
consecutive positions, and the nodes of every path not already kept with one query.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.merkle import (
    HASH_SIZE,
    MissingNodeError,
    NodeKey,
    ProofError,
    inclusion_proof,
    leaf_hash,
    verify_inclusion,
)
from projections.checkpoint import CheckpointError, verify_checkpoint

VERIFIED = "verified"
PENDING = "pending"  # in the tree, not yet under a signed checkpoint
ABSENT = "absent"  # not yet appended to the Merkle tree
FAILED = "failed"
UNAVAILABLE = "unavailable"  # this server runs without the Merkle ledger

#: Proof paths kept per (log, signed tree, leaf). A path is only a witness: it is folded
#: again from the freshly re-hashed leaf to the signed root on every view, so a kept path
#: can never make an altered event verify; keeping it spares the node reads.
PROOF_CACHE_SIZE = 8192
ALTERED = "the event as stored now no longer hashes to its leaf: it was altered after it " \
          "was logged"


@dataclass(frozen=True)
class CheckpointView:
    origin: str
    size: int
    root_hash: str
    public_key: str
    published_at: str
    signature_ok: bool
    problem: str | None = None


@dataclass(frozen=True)
class InputProof:
    position: int
    status: str
    detail: str | None = None


@dataclass(frozen=True)
class ProofReport:
    available: bool
    checkpoint: CheckpointView | None
    inputs: dict[int, InputProof] = field(default_factory=dict)

    def of(self, position: int) -> InputProof:
        return self.inputs.get(position, InputProof(position, ABSENT))

    @property
    def verified(self) -> int:
        return sum(p.status == VERIFIED for p in self.inputs.values())

    @property
    def failed(self) -> int:
        return sum(p.status == FAILED for p in self.inputs.values())

    @property
    def total(self) -> int:
        return len(self.inputs)


class _KeysNeeded:
    """A node reader that answers every key with a dummy hash and remembers the keys:
    running a proof against it lists the nodes the real proof will need."""

    def __init__(self) -> None:
        self.keys: list[NodeKey] = []

    def get_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        wanted = list(keys)
        self.keys += wanted
        return {key: bytes(HASH_SIZE) for key in wanted}


class _Found:
    def __init__(self, nodes: Mapping[NodeKey, bytes]) -> None:
        self.nodes = nodes

    def get_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        return {key: self.nodes[key] for key in keys if key in self.nodes}


class _Paths:
    """A small thread-safe LRU of inclusion paths; the missing ones of a page are read
    with one query for all their nodes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._paths: OrderedDict[tuple[str, int, bytes, int], list[bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, merkle: Any, indexes: Iterable[int], size: int, root: bytes
                 ) -> dict[int, list[bytes] | LookupError]:
        """The path of each leaf in the signed tree (size, root), or why it is missing."""
        found: dict[int, list[bytes] | LookupError] = {}
        with self._lock:
            for index in indexes:
                path = self._paths.get((merkle.origin, size, root, index))
                if path is not None:
                    self._paths.move_to_end((merkle.origin, size, root, index))
                    found[index] = path
        missing = sorted(set(indexes) - set(found))
        if not missing:
            return found
        needed = _KeysNeeded()
        for index in missing:
            inclusion_proof(index, size, needed)
        reader = _Found(merkle.nodes.get_nodes(needed.keys) if needed.keys else {})
        for index in missing:
            try:
                found[index] = inclusion_proof(index, size, reader)
            except MissingNodeError as error:
                found[index] = error
        with self._lock:
            for index in missing:
                if isinstance(found[index], list):
                    self._paths[(merkle.origin, size, root, index)] = found[index]
            while len(self._paths) > self.size:
                self._paths.popitem(last=False)
        return found


_paths = _Paths(PROOF_CACHE_SIZE)


def check_inputs(merkle: Any, inputs: Iterable[Mapping[str, Any]]) -> ProofReport:
    """Check each input (`position`, `ledger_index`, `leaf_hash`, as `explain` gives them)
    against the latest signed checkpoint of `merkle` (a `projections.ledger.Ledger`, or
    None when the server runs without one)."""
    from projections.ledger import CheckpointNotFound, LedgerError

    wanted = [dict(i) for i in inputs]
    if merkle is None:
        return ProofReport(False, None, {i["position"]: InputProof(i["position"], UNAVAILABLE)
                                         for i in wanted})
    try:
        latest = merkle.checkpoint()
    except CheckpointNotFound:
        return ProofReport(True, None, {
            i["position"]: InputProof(i["position"],
                                      ABSENT if i.get("ledger_index") is None else PENDING)
            for i in wanted})
    view, signed_root = _checked_checkpoint(merkle, latest)
    report: dict[int, InputProof] = {}
    covered = []
    for item in wanted:
        position, index = item["position"], item.get("ledger_index")
        if index is None:
            report[position] = InputProof(position, ABSENT)
        elif index >= view.size:
            report[position] = InputProof(position, PENDING)
        elif signed_root is None:
            report[position] = InputProof(position, FAILED, view.problem)
        else:
            covered.append(item)
    if covered and signed_root is not None:
        try:
            report.update(_check_covered(merkle, covered, view.size, signed_root))
        except (LedgerError, LookupError) as error:
            report.update({i["position"]: InputProof(i["position"], FAILED, str(error))
                           for i in covered})
    return ProofReport(True, view, report)


def _checked_checkpoint(merkle: Any, latest: Any) -> tuple[CheckpointView, bytes | None]:
    """The checkpoint as shown, and its root if (and only if) the signature verifies and
    the stored row agrees with the signed note."""
    key = merkle.public_key or ""
    base = dict(origin=merkle.origin, size=latest.size, root_hash=latest.root_hash.hex(),
                public_key=key, published_at=latest.published_at.isoformat())
    if not key:
        return CheckpointView(**base, signature_ok=False,
                              problem="the server holds no log key to verify with"), None
    try:
        signed = verify_checkpoint(latest.note, key, expected_origin=merkle.origin)
    except CheckpointError as error:
        return CheckpointView(**base, signature_ok=False,
                              problem=f"checkpoint signature: {error}"), None
    if signed.size != latest.size or signed.root_hash != latest.root_hash:
        return CheckpointView(**base, signature_ok=True,
                              problem="the stored checkpoint row differs from its signed "
                                      "note"), None
    return CheckpointView(**base, signature_ok=True), signed.root_hash


def _check_covered(merkle: Any, items: list[dict[str, Any]], size: int, root: bytes
                   ) -> dict[int, InputProof]:
    """Re-hash each input from the event as stored now and fold its inclusion path up to
    the signed root. A few queries for the whole page: the events by runs of positions,
    and the nodes of every path not already kept."""
    from projections.ledger import LeafEncodingError, encode_leaf

    stored = _stored_events(merkle, [i["position"] for i in items])
    paths = _paths.get_many(merkle, [i["ledger_index"] for i in items], size, root)
    report = {}
    for item in items:
        position, index = item["position"], item["ledger_index"]
        record = stored.get(position)
        if record is None:
            report[position] = InputProof(position, FAILED, f"the event at position "
                                                            f"{position} is no longer stored")
            continue
        try:
            recomputed = leaf_hash(encode_leaf(record.originator_id, record.originator_version,
                                               record.topic, record.state))
        except LeafEncodingError as error:
            report[position] = InputProof(position, FAILED, f"the stored event is damaged: "
                                                            f"{error}")
            continue
        if item.get("leaf_hash") != recomputed.hex():
            report[position] = InputProof(position, FAILED, ALTERED)
            continue
        path = paths[index]
        if isinstance(path, LookupError):
            report[position] = InputProof(position, FAILED, str(path))
            continue
        try:
            verify_inclusion(recomputed, index, size, path, root)
        except ProofError as error:
            report[position] = InputProof(position, FAILED, str(error))
        else:
            report[position] = InputProof(position, VERIFIED)
    return report


def _stored_events(merkle: Any, positions: Iterable[int]) -> dict[int, Any]:
    """The stored events at `positions`, read as they are now, one read per run of
    consecutive positions."""
    wanted = sorted(set(positions))
    runs: list[list[int]] = []
    for position in wanted:
        if runs and position == runs[-1][-1] + 1:
            runs[-1].append(position)
        else:
            runs.append([position])
    found = {}
    for run in runs:
        for record in merkle.events.read(run[0] - 1, len(run)):
            if record.position in run:
                found[record.position] = record
    return found
