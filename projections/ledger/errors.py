"""Typed refusals of the ledger's read side; `api/errors.py` maps them by `kind`."""

from __future__ import annotations

from domain.errors import DomainError


class LedgerError(DomainError):
    code = "ledger-error"


class LeafNotFound(LedgerError):
    """No leaf with that index: the log is shorter."""

    code = "ledger-leaf-not-found"
    kind = "not-found"


class CheckpointNotFound(LedgerError):
    """No checkpoint has been published (at that size)."""

    code = "ledger-checkpoint-not-found"
    kind = "not-found"


class TreeSizeNotAnchored(LedgerError):
    """Proofs are served only for the sizes of published checkpoints: a proof to a size
    that no signed note fixes would prove nothing to its reader."""

    code = "ledger-size-not-anchored"
    kind = "invalid"


class InvalidProofRequest(LedgerError):
    """A leaf index outside the tree, or sizes no consistency proof relates."""

    code = "ledger-invalid-proof-request"
    kind = "invalid"


class NothingToCheckpoint(LedgerError):
    code = "ledger-empty"


class NoSignerKey(LedgerError):
    code = "ledger-no-signer-key"


class LedgerEntryGone(LedgerError):
    """The ledger has the leaf, but the event behind it is no longer in the store: the store
    was tampered with. Run `kinerja verify`."""

    code = "ledger-entry-gone"
    kind = "conflict"
