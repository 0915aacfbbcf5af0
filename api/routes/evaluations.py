"""Commands on one evaluation (SKP): planning, realisations, ratings, delivery, and the
changes a delivered result may receive (calibration, correction, lapsed appeal window)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.routes import PROBLEM_RESPONSES
from api.routes.common import (
    AdminCommand,
    EmployeeOrRaterCommand,
    RaterCommand,
    require_rater_of,
    require_self_or_rater,
)
from api.schemas import (
    CalibrateResult,
    CorrectResult,
    DeliverResult,
    PlanItem,
    RateItem,
    RatePerilaku,
    RecordRealisation,
    Written,
)

router = APIRouter(prefix="/v1/evaluations", tags=["evaluations"],
                   responses=PROBLEM_RESPONSES)

EvaluationId = Annotated[str, Path(max_length=64, description="Evaluation id (UUID)")]
ItemId = Annotated[str, Path(max_length=50, description="RHK item id")]


@router.post("/{evaluation_id}/items", operation_id="plan_item", status_code=201,
             response_model=Written)
def plan_item(evaluation_id: EvaluationId, body: PlanItem,
              command: RaterCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.plan_item(
        evaluation_id, item_id=body.item_id, kind=body.kind, aspect=body.aspect,
        indicator=body.indicator, target=body.target, direction=body.direction,
        unit_of_measure=body.unit_of_measure, supports=body.supports, actor=actor),
        model=Written, status=201, check=lambda: require_rater_of(command, evaluation_id))


@router.post("/{evaluation_id}/fix-targets", operation_id="fix_targets",
             response_model=Written)
def fix_targets(evaluation_id: EvaluationId, command: RaterCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.fix_targets(evaluation_id, actor=actor),
                       model=Written, check=lambda: require_rater_of(command, evaluation_id))


@router.post("/{evaluation_id}/items/{item_id}/realisations",
             operation_id="record_realisation", status_code=201, response_model=Written)
def record_realisation(evaluation_id: EvaluationId, item_id: ItemId,
                       body: RecordRealisation,
                       command: EmployeeOrRaterCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.record_realisation(
        evaluation_id, item_id=item_id, value=body.value, evidence=list(body.evidence),
        note=body.note, actor=actor), model=Written, status=201,
        check=lambda: require_self_or_rater(command, evaluation_id))


@router.post("/{evaluation_id}/items/{item_id}/rating", operation_id="rate_item",
             response_model=Written)
def rate_item(evaluation_id: EvaluationId, item_id: ItemId, body: RateItem,
              command: RaterCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.rate_item(
        evaluation_id, item_id=item_id, override=body.override, reason=body.reason,
        actor=actor), model=Written)


@router.post("/{evaluation_id}/perilaku", operation_id="rate_perilaku",
             response_model=Written)
def rate_perilaku(evaluation_id: EvaluationId, body: RatePerilaku,
                  command: RaterCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.rate_perilaku(
        evaluation_id, value=body.value, rating=body.rating, note=body.note, actor=actor),
        model=Written)


@router.post("/{evaluation_id}/deliver", operation_id="deliver_result",
             response_model=Written)
def deliver_result(evaluation_id: EvaluationId, body: DeliverResult,
                   command: RaterCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.deliver_result(
        evaluation_id, departure_reason=body.departure_reason, actor=actor), model=Written)


@router.post("/{evaluation_id}/calibrations", operation_id="calibrate_result",
             response_model=Written)
def calibrate_result(evaluation_id: EvaluationId, body: CalibrateResult,
                     command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.calibrate_result(
        evaluation_id, session=body.session, hk=body.hasil_kerja, pk=body.perilaku_kerja,
        reason=body.reason, actor=actor), model=Written)


@router.post("/{evaluation_id}/corrections", operation_id="correct_result",
             response_model=Written)
def correct_result(evaluation_id: EvaluationId, body: CorrectResult,
                   command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.correct_result(
        evaluation_id, hk=body.hasil_kerja, pk=body.perilaku_kerja, reason=body.reason,
        actor=actor), model=Written)


@router.post("/{evaluation_id}/appeal-lapsed", operation_id="record_appeal_lapsed",
             response_model=Written)
def record_appeal_lapsed(evaluation_id: EvaluationId, command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.record_appeal_lapsed(
        evaluation_id, actor=actor), model=Written)
