"""HR's commands on rubrics: establish one, publish whole versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.routes import PROBLEM_RESPONSES
from api.routes.common import AdminCommand
from api.schemas import EstablishRubric, PublishRubricVersion, RubricEstablished, Written
from domain.rubric import Rubric

router = APIRouter(prefix="/v1/rubrics", tags=["rubrics"], responses=PROBLEM_RESPONSES)

RubricId = Annotated[str, Path(max_length=64, description="Rubric id (UUID)")]


@router.post("", operation_id="establish_rubric", status_code=201,
             response_model=RubricEstablished)
def establish_rubric(body: EstablishRubric, command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.establish_rubric(
        code=body.code, title=body.title, actor=actor), model=RubricEstablished, status=201,
        ids={"rubric_id": str(Rubric.id_for(body.code.strip()))})


@router.post("/{rubric_id}/versions", operation_id="publish_rubric_version",
             status_code=201, response_model=Written)
def publish_rubric_version(rubric_id: RubricId, body: PublishRubricVersion,
                           command: AdminCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.publish_rubric_version(
        rubric_id, version=body.version, effective_from=body.effective_from,
        policy=body.policy.model_dump(mode="json", exclude_none=True),
        indicators=[i.model_dump(mode="json") for i in body.indicators],
        summary=body.summary, actor=actor), model=Written, status=201)
