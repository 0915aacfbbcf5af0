"""Queries over the read models, each `as_of` a log position or a time, within the
caller's read scope; and the raw audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.routes import PROBLEM_RESPONSES
from api.routes.common import AsOfParam, AuditReader, PersonalReader, UnitReader
from api.schemas import (
    AuditPage,
    Distribution,
    EvaluationPage,
    EventPage,
    Explanation,
    History,
)
from domain.errors import InvalidValue, NotFound

router = APIRouter(tags=["queries"], responses=PROBLEM_RESPONSES)

Cursor = Annotated[str | None, Query(max_length=200, description="From `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=500)]
#: Positions are BIGINT in the store.
MAX_POSITION = 2**63 - 1
IdPath = Annotated[str, Path(max_length=64)]


@router.get("/v1/evaluations", operation_id="list_evaluations",
            response_model=EvaluationPage)
def list_evaluations(reader: PersonalReader,
                     unit: Annotated[str | None, Query(max_length=100)] = None,
                     period: Annotated[str | None, Query(max_length=10)] = None,
                     employee_id: Annotated[str | None, Query(max_length=64)] = None,
                     as_of: AsOfParam = None, cursor: Cursor = None,
                     limit: Limit = 50) -> Any:
    """Scores, newest rules applied: an employee sees their own, a rater those of the
    people they rate; admin, inspector and appeal panel see all."""
    scope = reader.scope()
    if employee_id is not None:
        reader.require_in_scope(employee_id)
    return reader.reads.list_evaluations(
        unit=unit, period=period, employee_id=employee_id, employee_ids=scope,
        as_of=reader.as_of(as_of), cursor=cursor, limit=limit)


@router.get("/v1/evaluations/{evaluation_id}/explain", operation_id="explain_evaluation",
            response_model=Explanation)
def explain_evaluation(evaluation_id: IdPath, reader: PersonalReader,
                       as_of: AsOfParam = None) -> Any:
    """How the score was produced: items, capaian, ratings and overrides, the rubric
    version, and the events (with their Merkle leaves) it was derived from."""
    explained = reader.reads.explain(evaluation_id, as_of=reader.as_of(as_of),
                                     leaf_lookup=reader.rt.leaf_lookup)
    if explained is None:
        raise NotFound(f"no evaluation {evaluation_id}")
    reader.require_in_scope(explained["employee_id"])
    return reader.redact(explained["employee_id"], explained)


@router.get("/v1/employees/{employee_id}/history", operation_id="employee_history",
            response_model=History)
def employee_history(employee_id: IdPath, reader: PersonalReader,
                     as_of: AsOfParam = None, cursor: Cursor = None,
                     limit: Annotated[int | None, Query(ge=1, le=1000)] = None) -> Any:
    """Everything recorded about one employee, in log order (a peer's identity is hidden
    from the employee). Without `limit`, the whole history."""
    reader.require_in_scope(employee_id)
    return reader.redact(employee_id, reader.reads.history(
        employee_id, as_of=reader.as_of(as_of), cursor=cursor, limit=limit))


@router.get("/v1/units/{unit}/distribution", operation_id="unit_distribution",
            response_model=Distribution)
def unit_distribution(unit: Annotated[str, Path(max_length=100)], reader: UnitReader,
                      period: Annotated[str, Query(max_length=10)],
                      as_of: AsOfParam = None) -> Any:
    """How a unit's predikat are spread in a period, against the distribution curve."""
    found = reader.reads.distribution(unit, period, as_of=reader.as_of(as_of))
    if found is None:
        raise NotFound(f"no cycle of unit {unit} holds period {period}")
    return found


@router.get("/v1/events", operation_id="list_events", response_model=EventPage)
def list_events(reader: AuditReader,
                after: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                as_of: AsOfParam = None) -> Any:
    """The raw audit log in order: position, topic, aggregate id and version, recorded
    time, actor and payload. `as_of` (a position) ends the page there."""
    resolved = reader.as_of(as_of)
    if resolved is not None and not isinstance(resolved, int):
        raise InvalidValue("as_of on the event log is a position")
    page = reader.reads.events(after=after, limit=limit)
    if isinstance(resolved, int):
        items = [e for e in page["items"] if e["position"] <= resolved]
        more = (page.get("next_after") is not None and len(items) == len(page["items"])
                and bool(items) and items[-1]["position"] < resolved)
        page = {**page, "items": items, "next_after": items[-1]["position"] if more else None}
    return page


@router.get("/v1/audit", operation_id="audit_actor", response_model=AuditPage)
def audit_actor(reader: AuditReader, actor: Annotated[str, Query(min_length=1,
                                                                 max_length=200)],
                as_of: AsOfParam = None, cursor: Cursor = None, limit: Limit = 50) -> Any:
    """Everything one actor recorded, in log order."""
    return reader.reads.audit(actor, as_of=reader.as_of(as_of), cursor=cursor, limit=limit)
