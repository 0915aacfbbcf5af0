"""The proof status of an evaluation's inputs, checked by this server as the page is made.

The latest stored checkpoint is trusted only once its signature verifies with the log's
key (`projections.checkpoint.verify_checkpoint`); its root is then the anchor. For each
input event, the leaf is re-hashed from the event as stored now (so an edit of the
events table after logging shows), the RFC 9162 inclusion proof is computed from that
hash up to a root (`domain.merkle.verify_inclusion`), and the root compared with the
signed one. Nothing is written: an input newer than the latest checkpoint is reported
as awaiting one (the follower publishes on its own schedule; a bundle publishes at once).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.merkle import ProofError, leaf_hash, verify_inclusion
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


class _Paths:
    """A small thread-safe LRU of inclusion paths."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._paths: OrderedDict[tuple[str, int, bytes, int], list[bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, merkle: Any, index: int, size: int, root: bytes) -> list[bytes]:
        key = (merkle.origin, size, root, index)
        with self._lock:
            found = self._paths.get(key)
            if found is not None:
                self._paths.move_to_end(key)
                return found
        path = list(merkle.inclusion_proof(index, size).proof)
        with self._lock:
            self._paths[key] = path
            while len(self._paths) > self.size:
                self._paths.popitem(last=False)
        return path


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
    for item in wanted:
        position, index = item["position"], item.get("ledger_index")
        if index is None:
            report[position] = InputProof(position, ABSENT)
        elif index >= view.size:
            report[position] = InputProof(position, PENDING)
        elif signed_root is None:
            report[position] = InputProof(position, FAILED, view.problem)
        else:
            try:
                report[position] = _check_one(merkle, item, view.size, signed_root)
            except (LedgerError, ProofError, LookupError) as error:
                report[position] = InputProof(position, FAILED, str(error))
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


def _check_one(merkle: Any, item: Mapping[str, Any], size: int, root: bytes) -> InputProof:
    position, index = item["position"], item["ledger_index"]
    entry = merkle.entry(index)
    if entry.position != position:
        return InputProof(position, FAILED,
                          f"leaf {index} records position {entry.position}, not {position}")
    recomputed = leaf_hash(entry.leaf_data)
    if recomputed != entry.leaf_hash:
        return InputProof(position, FAILED, "the event as stored now no longer hashes to "
                                            "its leaf: it was altered after it was logged")
    if item.get("leaf_hash") not in (None, recomputed.hex()):
        return InputProof(position, FAILED, "the read model names another leaf hash")
    verify_inclusion(recomputed, index, size, _paths.get(merkle, index, size, root), root)
    return InputProof(position, VERIFIED)
