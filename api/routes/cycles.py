"""HR's commands on performance cycles: start, periods, organisational result, appeal
panel, lock and audited reopening, and starting the evaluations of a period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.routes import PROBLEM_RESPONSES
from api.routes.common import AdminCommand
from api.schemas import (
    CycleStarted,
    EvaluationsStarted,
    LockCycle,
    NameAppealPanel,
    OpenPeriod,
    ReopenCycle,
    SetOrganisationalResult,
    StartCycle,
    StartEvaluations,
    Written,
)
from domain.cycle import PerformanceCycle
from domain.evaluation import Evaluation

router = APIRouter(prefix="/v1/cycles", tags=["cycles"], responses=PROBLEM_RESPONSES)

CycleId = Annotated[str, Path(max_length=64, description="Cycle id (UUID)")]
PeriodPath = Annotated[str, Path(max_length=10, description="YYYY-MM or YYYY-Qn")]


@router.post("", operation_id="start_cycle", status_code=201, response_model=CycleStarted)
def start_cycle(body: StartCycle, command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.start_cycle(
        unit=body.unit, year=body.year, periodicity=body.periodicity,
        rubric_id=str(body.rubric_id), actor=actor), model=CycleStarted, status=201,
        ids={"cycle_id": str(PerformanceCycle.id_for(body.unit.strip(), body.year))})


@router.post("/{cycle_id}/periods", operation_id="open_period", response_model=Written)
def open_period(cycle_id: CycleId, body: OpenPeriod, command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.open_period(
        cycle_id, period=body.period, actor=actor), model=Written)


@router.post("/{cycle_id}/periods/{period}/close", operation_id="close_period",
             response_model=Written)
def close_period(cycle_id: CycleId, period: PeriodPath,
                 command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.close_period(
        cycle_id, period=period, actor=actor), model=Written)


@router.post("/{cycle_id}/periods/{period}/organisational-result",
             operation_id="set_organisational_result", response_model=Written)
def set_organisational_result(cycle_id: CycleId, period: PeriodPath,
                              body: SetOrganisationalResult,
                              command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.set_organisational_result(
        cycle_id, period=period, result=body.result, actor=actor), model=Written)


@router.post("/{cycle_id}/appeal-panel", operation_id="name_appeal_panel",
             response_model=Written)
def name_appeal_panel(cycle_id: CycleId, body: NameAppealPanel,
                      command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.name_appeal_panel(
        cycle_id, members=list(body.members), actor=actor), model=Written)


@router.post("/{cycle_id}/lock", operation_id="lock_cycle", response_model=Written)
def lock_cycle(cycle_id: CycleId, body: LockCycle, command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.lock_cycle(
        cycle_id, justification=body.justification, actor=actor), model=Written)


@router.post("/{cycle_id}/reopen", operation_id="reopen_cycle", response_model=Written)
def reopen_cycle(cycle_id: CycleId, body: ReopenCycle,
                 command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.reopen_cycle(
        cycle_id, reason=body.reason, authority=body.authority, actor=actor), model=Written)


@router.post("/{cycle_id}/evaluations", operation_id="start_evaluations", status_code=201,
             response_model=EvaluationsStarted)
def start_evaluations(cycle_id: CycleId, body: StartEvaluations,
                      command: AdminCommand) -> JSONResponse:
    employee_ids = [str(e) for e in body.employee_ids]
    return command.run(lambda actor: command.ledger.start_evaluations(
        cycle_id, period=body.period, employee_ids=employee_ids, actor=actor),
        model=EvaluationsStarted, status=201,
        ids={"evaluation_ids": [str(Evaluation.id_for(e, body.period))
                                for e in employee_ids]})
