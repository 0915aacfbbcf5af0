"""The verifiable ledger over HTTP: signed checkpoints, leaves and RFC 9162 proofs.

Hashes are lowercase hex; the note and the public key are the C2SP / sumdb-note texts.
Proof sizes must be those of published checkpoints, so that every proof served pairs
with a signed root (a proof by itself does not fix the tree size). Checkpoints and proofs
hold only hashes: any authenticated caller may read them. A leaf's data is the stored
event itself, so entries are for the roles that may read the raw log (admin, inspector),
as `GET /v1/events` is.

`install(app, settings, ledger)` is the one call `create_app` makes: it opens the Merkle
ledger beside the application's log, runs its follower for the app's lifespan and adds
these routes.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel, Field

from api.auth import Principal, Role
from api.routes import PROBLEM_RESPONSES
from api.routes.common import Caller, role_dependency
from api.settings import Settings
from projections.ledger import Ledger, LedgerFollower

router = APIRouter(prefix="/v1/ledger", tags=["ledger"], responses=PROBLEM_RESPONSES)

_MAX_INDEX = 2**63 - 1  # BIGINT; larger values could only fail in the database
Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", examples=["e3b0c442" + "0" * 56])]


class CheckpointOut(BaseModel):
    size: int = Field(description="Tree size the checkpoint signs.")
    root_hash: Hex
    note: str = Field(description="The C2SP signed-note checkpoint, verbatim.")
    public_key: str = Field(description="The log's verifier key (sumdb/note format). Get "
                            "it out of band too: a key learnt only from here proves nothing.")


class EntryOut(BaseModel):
    index: int
    position: int = Field(description="The event's position in the store's log.")
    leaf_data: str = Field(description="Base64 of the leaf data (docs/ledger.md), re-encoded "
                           "from the event as stored now. Hash it yourself: "
                           "SHA-256(0x00 || leaf_data) must equal leaf_hash.")
    leaf_hash: Hex = Field(description="The leaf hash recorded in the tree.")
    topic: str
    originator_id: str
    originator_version: int


class InclusionProofOut(BaseModel):
    index: int
    size: int
    leaf_hash: Hex
    root_hash: Hex = Field(description="The signed root of the checkpoint of `size`.")
    proof: list[Hex] = Field(description="RFC 9162 section 2.1.3 inclusion path, leaf first.")


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    proof: list[Hex] = Field(description="RFC 9162 section 2.1.4 consistency proof.")


async def merkle_ledger(request: Request) -> Ledger:
    return request.app.state.merkle_ledger


MerkleLedger = Annotated[Ledger, Depends(merkle_ledger)]
LogReader = Annotated[Principal, Depends(role_dependency(Role.ADMIN, Role.INSPECTOR))]
Size = Annotated[int | None, Query(ge=1, le=_MAX_INDEX,
                                   description="A published checkpoint's size; default the "
                                               "latest.")]


@router.get("/checkpoint", operation_id="get_ledger_checkpoint", response_model=CheckpointOut)
def get_checkpoint(ledger: MerkleLedger, caller: Caller, size: Size = None) -> Any:
    """The latest signed checkpoint, or the one published at `size`."""
    checkpoint = ledger.checkpoint(size)
    return CheckpointOut(size=checkpoint.size, root_hash=checkpoint.root_hash.hex(),
                         note=checkpoint.note, public_key=ledger.public_key or "")


@router.get("/entries/{index}", operation_id="get_ledger_entry", response_model=EntryOut)
def get_entry(ledger: MerkleLedger, reader: LogReader,
              index: Annotated[int, Path(ge=0, le=_MAX_INDEX)]) -> Any:
    """Leaf `index` of the log: the event it records and its leaf data."""
    entry = ledger.entry(index)
    return EntryOut(index=entry.index, position=entry.position,
                    leaf_data=base64.b64encode(entry.leaf_data).decode("ascii"),
                    leaf_hash=entry.leaf_hash.hex(), topic=entry.topic,
                    originator_id=entry.originator_id,
                    originator_version=entry.originator_version)


@router.get("/proof/inclusion", operation_id="get_inclusion_proof",
            response_model=InclusionProofOut)
def get_inclusion_proof(ledger: MerkleLedger, caller: Caller,
                        index: Annotated[int, Query(ge=0, le=_MAX_INDEX)],
                        size: Size = None) -> Any:
    """Proof that leaf `index` is in the checkpointed tree of `size`."""
    proof = ledger.inclusion_proof(index, size)
    return InclusionProofOut(index=proof.index, size=proof.size,
                             leaf_hash=proof.leaf_hash.hex(), root_hash=proof.root_hash.hex(),
                             proof=[h.hex() for h in proof.proof])


@router.get("/proof/consistency", operation_id="get_consistency_proof",
            response_model=ConsistencyProofOut)
def get_consistency_proof(ledger: MerkleLedger, caller: Caller,
                          first: Annotated[int, Query(ge=1, le=_MAX_INDEX)],
                          second: Size = None) -> Any:
    """Proof that the checkpointed tree of `second` extends the one of `first`."""
    proof = ledger.consistency_proof(first, second)
    return ConsistencyProofOut(first=proof.first, second=proof.second,
                               proof=[h.hex() for h in proof.proof])


def install(app: FastAPI, settings: Settings, ledger_app: Any, *,
            follow: bool = True) -> Ledger:
    """Open the Merkle ledger over `ledger_app`'s log, keep it caught up (and checkpointed)
    while the app runs (unless `follow` is false: `kinerja follow` does it elsewhere),
    expose `leaf_for_position` to the read side, add the routes."""
    from api.ledger_keys import open_merkle_ledger

    runtime = getattr(app.state, "kinerja", None)
    # The read models' database, when there is one: no second pool, and it holds the
    # ledger tables beside the read models either way.
    shared_db = getattr(getattr(runtime, "reads", None), "db", None)
    merkle = open_merkle_ledger(settings, ledger_app, db=shared_db)
    follower = LedgerFollower(merkle)
    app.state.merkle_ledger = merkle
    app.state.ledger_follower = follower
    if runtime is not None and hasattr(runtime, "leaf_lookup"):
        runtime.leaf_lookup = merkle.leaf_for_position
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        # Inside the app's own lifespan: started after it, stopped before it closes the
        # log this follower reads.
        async with inner(application) as state:
            if follow:
                follower.start()
            try:
                yield state
            finally:
                follower.stop()
                merkle.close()

    app.router.lifespan_context = lifespan
    app.include_router(router)
    return merkle
