"""HR's commands on employees: register, rater and reviewer, transfer, end employment,
and the shredding of a person's personal data (docs/privacy.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.routes import PROBLEM_RESPONSES
from api.routes.common import AdminCommand
from api.schemas import (
    AssignRater,
    AssignReviewer,
    EmployeeRegistered,
    EndEmployment,
    ForgetPersonalData,
    PersonalDataShredded,
    RegisterEmployee,
    TransferEmployee,
    Written,
)

router = APIRouter(prefix="/v1/employees", tags=["employees"], responses=PROBLEM_RESPONSES)

EmployeeId = Annotated[str, Path(max_length=64, description="Employee id (UUID)")]


@router.post("", operation_id="register_employee", status_code=201,
             response_model=EmployeeRegistered)
def register_employee(body: RegisterEmployee, command: AdminCommand) -> JSONResponse:
    # The id is chosen here, before the write, so a retried request answers the same id.
    employee_id = str(body.employee_id or uuid.uuid4())
    return command.run(lambda actor: command.ledger.register_employee(
        nip=body.nip, name=body.name, unit=body.unit, position=body.position,
        employee_id=employee_id, actor=actor),
        model=EmployeeRegistered, status=201, ids={"employee_id": employee_id})


@router.post("/{employee_id}/rater", operation_id="assign_rater", response_model=Written)
def assign_rater(employee_id: EmployeeId, body: AssignRater,
                 command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.assign_rater(
        employee_id, rater_id=str(body.rater_id), effective_from=body.effective_from,
        actor=actor), model=Written)


@router.post("/{employee_id}/reviewer", operation_id="assign_reviewer",
             response_model=Written)
def assign_reviewer(employee_id: EmployeeId, body: AssignReviewer,
                    command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.assign_reviewer(
        employee_id, reviewer_id=str(body.reviewer_id), effective_from=body.effective_from,
        actor=actor), model=Written)


@router.post("/{employee_id}/transfers", operation_id="transfer_employee",
             response_model=Written)
def transfer_employee(employee_id: EmployeeId, body: TransferEmployee,
                      command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.transfer_employee(
        employee_id, unit=body.unit, position=body.position,
        effective_from=body.effective_from, actor=actor), model=Written)


@router.post("/{employee_id}/end-employment", operation_id="end_employment",
             response_model=Written)
def end_employment(employee_id: EmployeeId, body: EndEmployment,
                   command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.end_employment(
        employee_id, effective_on=body.effective_on, reason=body.reason, actor=actor),
        model=Written)


@router.post("/{employee_id}/forget", operation_id="forget_personal_data",
             response_model=PersonalDataShredded)
def forget_personal_data(employee_id: EmployeeId, body: ForgetPersonalData,
                         command: AdminCommand) -> JSONResponse:
    """Crypto-shred the person's personal data: record who, when and why, then destroy
    their data key. Irreversible: their names and texts read as shredded everywhere;
    scores, histories and the Merkle log are unchanged. `position` is null when an earlier
    call had recorded the shredding and this one only finished destroying the key."""
    roles = {role.value for role in command.principal.roles}
    return command.run(lambda actor: command.ledger.forget(
        employee_id, reason=body.reason, actor=actor, roles=roles),
        model=PersonalDataShredded)
