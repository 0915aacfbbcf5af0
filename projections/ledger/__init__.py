"""The verifiable ledger: every stored event is a leaf of an RFC 9162 Merkle log.

- `leaf`: the canonical leaf encoding of a stored event;
- `store`: `Ledger`, the incremental tree in SQL tables, checkpoints and proofs;
- `verify`: `verify_ledger`, the full recomputation behind `kinerja verify`;
- `follower`: `LedgerFollower`, a thread that keeps the tree caught up.

See docs/ledger.md.
"""

from projections.ledger.errors import (
    CheckpointNotFound,
    InvalidProofRequest,
    LeafNotFound,
    LedgerEntryGone,
    LedgerError,
    NoSignerKey,
    NothingToCheckpoint,
    TreeSizeNotAnchored,
)
from projections.ledger.events import EventSource, LogRecord, RecorderEvents, SqlEvents
from projections.ledger.follower import LedgerFollower
from projections.ledger.leaf import (
    LEAF_PREFIX,
    LeafEncodingError,
    LeafRecord,
    decode_leaf,
    encode_leaf,
    leaf_hash_of,
)
from projections.ledger.store import (
    ConsistencyProof,
    InclusionProof,
    Ledger,
    LedgerEntry,
    SqlNodeReader,
    StoredCheckpoint,
    ensure_schema,
)
from projections.ledger.verify import Problem, VerifyReport, verify_ledger

__all__ = [
    "LEAF_PREFIX", "CheckpointNotFound", "ConsistencyProof", "EventSource", "InclusionProof",
    "InvalidProofRequest", "LeafEncodingError", "LeafNotFound", "LeafRecord", "Ledger",
    "LedgerEntry", "LedgerEntryGone", "LedgerError", "LedgerFollower", "LogRecord",
    "NoSignerKey", "NothingToCheckpoint", "Problem", "RecorderEvents", "SqlEvents",
    "SqlNodeReader", "StoredCheckpoint", "TreeSizeNotAnchored", "VerifyReport",
    "decode_leaf", "encode_leaf", "ensure_schema", "leaf_hash_of", "verify_ledger",
]
