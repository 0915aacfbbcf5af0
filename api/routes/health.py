"""Liveness and lag: no token needed, no personal data."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes.common import RuntimeDep
from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz", response_model=Health)
def healthz(rt: RuntimeDep) -> Health:
    return Health(status="ok",
                  log_position=rt.ledger.recorder.max_notification_id() or 0,
                  projection_position=rt.reads.current_position())
