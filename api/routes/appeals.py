"""Appeals (keberatan, PP 30/2019 art. 59): filed by the employee, explanations asked of
and given by rater and employee, decided once by the superior or panel, or withdrawn."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.routes import PROBLEM_RESPONSES
from api.routes.common import (
    EmployeeCommand,
    EmployeeOrRaterCommand,
    ReviewerCommand,
    ids_of_topic,
)
from api.schemas import (
    AppealFiled,
    DecideAppeal,
    FileAppeal,
    GiveExplanation,
    RequestExplanation,
    WithdrawAppeal,
    Written,
)
from domain.appeal import Appeal

router = APIRouter(tags=["appeals"], responses=PROBLEM_RESPONSES)

EvaluationId = Annotated[str, Path(max_length=64, description="Evaluation id (UUID)")]
AppealId = Annotated[str, Path(max_length=64, description="Appeal id (UUID)")]


@router.post("/v1/evaluations/{evaluation_id}/appeal", operation_id="file_appeal",
             status_code=201, response_model=AppealFiled)
def file_appeal(evaluation_id: EvaluationId, body: FileAppeal,
                command: EmployeeCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.file_appeal(
        evaluation_id, grounds=body.grounds, actor=actor), model=AppealFiled, status=201,
        ids=ids_of_topic("appeal_id", Appeal.Filed.TOPIC))


@router.post("/v1/appeals/{appeal_id}/explanation-requests",
             operation_id="request_explanation", status_code=201, response_model=Written)
def request_explanation(appeal_id: AppealId, body: RequestExplanation,
                        command: ReviewerCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.request_explanation(
        appeal_id, party=body.party, question=body.question, actor=actor),
        model=Written, status=201)


@router.post("/v1/appeals/{appeal_id}/explanations", operation_id="give_explanation",
             status_code=201, response_model=Written)
def give_explanation(appeal_id: AppealId, body: GiveExplanation,
                     command: EmployeeOrRaterCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.give_explanation(
        appeal_id, text=body.text, actor=actor), model=Written, status=201)


@router.post("/v1/appeals/{appeal_id}/decision", operation_id="decide_appeal",
             response_model=Written)
def decide_appeal(appeal_id: AppealId, body: DecideAppeal,
                  command: ReviewerCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.decide_appeal(
        appeal_id, outcome=body.outcome, hk=body.hasil_kerja, pk=body.perilaku_kerja,
        reasons=body.reasons, actor=actor), model=Written)


@router.post("/v1/appeals/{appeal_id}/withdrawal", operation_id="withdraw_appeal",
             response_model=Written)
def withdraw_appeal(appeal_id: AppealId, body: WithdrawAppeal,
                    command: EmployeeCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.withdraw_appeal(
        appeal_id, reason=body.reason, actor=actor), model=Written)
