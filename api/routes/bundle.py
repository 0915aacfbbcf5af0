"""The evidence bundle of one evaluation: JSON for `kinerja verify-bundle`, and a printable
HTML page for the panel's file (api/bundle.py, docs/appeals.md).

Read as the explanation is: by the employee themself, their rater, inspectors, admins and
appeal panels. The person rated gets no feedback items (a peer's identity is never shown
to them). Making a bundle may publish a checkpoint, when the latest one does not yet
cover every event it holds.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from api.auth import Role
from api.bundle import build_bundle, render_html
from api.errors import ApiError
from api.routes import PROBLEM_RESPONSES
from api.routes.common import PersonalReader, Reader
from projections.bundle_verify import FORMAT, verify_bundle

router = APIRouter(tags=["evidence"], responses=PROBLEM_RESPONSES)

EvaluationId = Annotated[str, Path(max_length=64, description="Evaluation id (UUID)")]


class LedgerUnavailable(ApiError):
    code = "ledger-unavailable"
    status = 503
    title = "The Merkle ledger is not running in this server"


class BundleCheckpoint(BaseModel):
    origin: str
    size: int
    root_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    note: str = Field(description="The C2SP signed-note checkpoint every proof leads to.")


class BundleEvent(BaseModel):
    leaf_index: int
    position: int
    role: str = Field(description="evaluation, appeal, employee, cycle, rubric or feedback")
    topic: str
    originator_id: str
    originator_version: int
    leaf_data: str = Field(description="Base64 of the leaf data (docs/ledger.md).")
    leaf_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    proof: list[str] = Field(description="RFC 9162 inclusion proof to the checkpoint.")
    payload: dict[str, Any] = Field(description="The stored state the leaf holds, decoded.")
    personal: dict[str, Any] | None = Field(
        default=None, description="Personal fields decrypted for reading (not verifiable "
                                  "offline; the leaf holds their ciphertext).")


class EvidenceBundle(BaseModel):
    format: str = Field(examples=[FORMAT])
    evaluation_id: str
    employee_id: str
    unit: str
    period: str
    checkpoint: BundleCheckpoint
    public_key: str | None = Field(description="For display only: verify with a key "
                                               "obtained separately.")
    events: list[BundleEvent]
    derivation: dict[str, Any]
    timeline: list[dict[str, Any]]
    notes: list[str]


def _bundle(request: Request, reader: Reader, evaluation_id: str) -> tuple[dict[str, Any], Any]:
    ledger = reader.rt.ledger
    evaluation = ledger.get_evaluation(evaluation_id)
    reader.require_in_scope(evaluation.employee_id)
    merkle = getattr(request.app.state, "merkle_ledger", None)
    if merkle is None:
        raise LedgerUnavailable("this server runs without the Merkle ledger; use "
                                "`kinerja bundle` on the store instead")
    # The feedback counted at delivery is found through the read models: let them reach
    # the end of the log first (best effort; unmatched feedback is noted in the bundle).
    end = ledger.recorder.max_notification_id() or 0
    reader.rt.runner.wait_for(end, reader.rt.read_wait_seconds)
    rated_person = (reader.principal.actor == evaluation.employee_id
                    and reader.principal.has(Role.EMPLOYEE))
    bundle = build_bundle(ledger, merkle, merkle.db, evaluation_id, reads=reader.reads,
                          withhold_feedback=rated_person)
    return bundle, merkle


@router.get("/v1/evaluations/{evaluation_id}/bundle", operation_id="evaluation_bundle",
            response_model=EvidenceBundle)
def evaluation_bundle(evaluation_id: EvaluationId, request: Request,
                      reader: PersonalReader) -> Any:
    """Every event that shaped the evaluation with its Merkle inclusion proof, one signed
    checkpoint, the rubric version it was scored under, the derivation and the timeline:
    check it offline with `kinerja verify-bundle FILE --public-key KEY`."""
    bundle, _ = _bundle(request, reader, evaluation_id)
    return JSONResponse(bundle)


@router.get("/v1/evaluations/{evaluation_id}/bundle.html",
            operation_id="evaluation_bundle_html", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}},
                             "description": "A printable page: derivation, timeline, "
                                            "proof status."}})
def evaluation_bundle_html(evaluation_id: EvaluationId, request: Request,
                           reader: PersonalReader) -> HTMLResponse:
    """The same bundle as a printable page for the panel's file, with the proof status
    as checked by this server with its own key."""
    bundle, merkle = _bundle(request, reader, evaluation_id)
    report = verify_bundle(bundle, merkle.public_key or "")
    return HTMLResponse(render_html(bundle, report))
