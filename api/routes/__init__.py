"""HTTP routes, one module per area. Each route: a pydantic model in, one service or
read-model call, a response model out."""

from __future__ import annotations

from typing import Any

from api.errors import Problem

_PROBLEMS = {
    400: "Malformed request or Idempotency-Key",
    401: "No valid bearer token",
    403: "Role not permitted, record outside your scope, or refused by a domain rule "
         "on who may act",
    404: "No such record",
    409: "Conflict with the current state (e.g. a concurrent change; retry)",
    422: "Validation failed, or a rule of the domain refused the command",
    503: "Store unavailable or read models lagging (see Retry-After)",
}

#: Problem answers every route may give (rendered as application/problem+json).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in _PROBLEMS.items()
}
