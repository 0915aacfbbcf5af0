"""The one place that turns errors into RFC 9457 problem details (application/problem+json).

Domain refusals (`domain.errors.DomainError`) carry a stable `code`; the problem `type` is
`https://kinerja-ledger.id/problems/<code>` and the status follows the error's `kind`:

    invalid   -> 422 (400 when the request itself cannot be read)
    not-found -> 404
    conflict  -> 409
    forbidden -> 403
    rule      -> 422  (a well-formed request that a rule of the domain refuses)

Errors of the HTTP layer itself (no token, wrong role, malformed JSON, idempotency,
a lagging projection) are `ApiError`s with codes of their own. Routes never build
responses for errors; they raise, and the handlers registered here answer.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import DomainError

PROBLEM_BASE = "https://kinerja-ledger.id/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_BY_KIND = {
    "invalid": 422,
    "not-found": 404,
    "conflict": 409,
    "forbidden": 403,
    "rule": 422,
}

log = logging.getLogger("kinerja.api")


class Problem(BaseModel):
    """RFC 9457 problem details. Extension members (e.g. `errors`, `code`) may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=[PROBLEM_BASE + "cycle-locked"])
    title: str
    status: int
    detail: str
    instance: str
    code: str = Field(description="The last segment of `type`; stable for clients.")


class ApiError(Exception):
    """A refusal by the HTTP layer (not by a domain rule). Nothing is recorded."""

    code = "api-error"
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None,
                 **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


class Unauthenticated(ApiError):
    code = "unauthenticated"
    status = 401
    title = "Authentication required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="kinerja"'})


class RoleNotPermitted(ApiError):
    code = "role-not-permitted"
    status = 403
    title = "Role not permitted"


class OutOfScope(ApiError):
    code = "out-of-scope"
    status = 403
    title = "Record outside your scope"


class MalformedRequest(ApiError):
    code = "malformed-request"
    status = 400
    title = "Malformed request"


class IdempotencyKeyInvalid(ApiError):
    code = "idempotency-key-invalid"
    status = 400
    title = "Invalid Idempotency-Key"


class IdempotencyKeyReused(ApiError):
    code = "idempotency-key-reused"
    status = 422
    title = "Idempotency-Key reused with a different request"


class ProjectionLagging(ApiError):
    code = "projection-lagging"
    status = 503
    title = "Read models have not caught up"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, headers={"Retry-After": "1"}, **extensions)


class AsOfBeyondLog(ApiError):
    code = "as-of-beyond-log"
    status = 422
    title = "as_of is beyond the end of the log"


class StoreUnavailable(ApiError):
    code = "store-unavailable"
    status = 503
    title = "The store is unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


#: Problems of the HTTP layer and of the framework, for the documentation.
API_PROBLEMS: dict[str, tuple[int, str]] = {
    cls.code: (cls.status, cls.title) for cls in (
        Unauthenticated, RoleNotPermitted, OutOfScope, MalformedRequest,
        IdempotencyKeyInvalid, IdempotencyKeyReused,
        ProjectionLagging, AsOfBeyondLog, StoreUnavailable)
}
API_PROBLEMS.update({
    "validation-failed": (422, "Request validation failed"),
    "route-not-found": (404, "No such route"),
    "method-not-allowed": (405, "Method not allowed"),
    "internal-error": (500, "Internal error"),
})


def problem_type(code: str) -> str:
    return PROBLEM_BASE + code


def title_for_code(code: str) -> str:
    return code.replace("-", " ").capitalize()


def domain_status(error: DomainError) -> int:
    return STATUS_BY_KIND.get(error.kind, 422)


def problem_body(*, code: str, status: int, title: str, detail: str, instance: str,
                 **extensions: Any) -> dict[str, Any]:
    body = {"type": problem_type(code), "title": title, "status": status,
            "detail": detail, "instance": instance, "code": code}
    body.update({k: v for k, v in extensions.items() if k not in body})
    return body


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return str(value)


def problem_for(error: BaseException, instance: str) -> tuple[int, dict[str, Any],
                                                                 dict[str, str]]:
    """(status, body, headers) for an error this module knows; anything else is a 500
    whose detail reveals nothing of the server."""
    if isinstance(error, DomainError):
        status = domain_status(error)
        extensions = {k: _jsonable(v) for k, v in error.details.items()}
        return status, problem_body(code=error.code, status=status,
                                    title=title_for_code(error.code),
                                    detail=error.message, instance=instance,
                                    **extensions), {}
    if isinstance(error, ApiError):
        return error.status, problem_body(code=error.code, status=error.status,
                                          title=error.title, detail=error.detail,
                                          instance=instance,
                                          **_jsonable(error.extensions)), error.headers
    status, title = API_PROBLEMS["internal-error"]
    return status, problem_body(code="internal-error", status=status, title=title,
                                detail="the server failed to answer; the error is logged",
                                instance=instance), {}


def problem_response(status: int, body: dict[str, Any],
                     headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers,
                        media_type=PROBLEM_MEDIA_TYPE)


def _instance(request: Request) -> str:
    return request.url.path


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))} for e in error.errors()]


def store_errors() -> tuple[type[BaseException], ...]:
    """The errors of a store that did not answer (in time): answered 503, retry."""
    import sqlite3

    import psycopg
    from eventsourcing.persistence import OperationalError
    return OperationalError, psycopg.OperationalError, sqlite3.OperationalError


def store_unavailable(instance: str) -> JSONResponse:
    status, body, headers = problem_for(
        StoreUnavailable("the store did not answer in time; retry"), instance)
    return problem_response(status, body, headers)


def register_error_handlers(app: FastAPI) -> None:
    from eventsourcing.persistence import PersistenceError

    async def on_known(request: Request, error: Exception) -> JSONResponse:
        status, body, headers = problem_for(error, _instance(request))
        return problem_response(status, body, headers)

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = _validation_errors(error)
        if any(e["type"] == "json_invalid" for e in errors):
            code, status = "malformed-request", 400
            title, detail = MalformedRequest.title, "the request body is not valid JSON"
        else:
            code, (status, title) = "validation-failed", API_PROBLEMS["validation-failed"]
            detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem_response(status, problem_body(
            code=code, status=status, title=title, detail=detail,
            instance=_instance(request), errors=errors))

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 404:
            code = "route-not-found"
        elif error.status_code == 405:
            code = "method-not-allowed"
        else:
            code = f"http-{error.status_code}"
        status = error.status_code
        title = API_PROBLEMS.get(code, (status, "HTTP error"))[1]
        detail = error.detail if isinstance(error.detail, str) else title
        return problem_response(status, problem_body(
            code=code, status=status, title=title, detail=detail,
            instance=_instance(request)), dict(error.headers or {}))

    async def on_store(request: Request, error: Exception) -> JSONResponse:
        log.warning("store error on %s: %s", request.url.path, error)
        return store_unavailable(_instance(request))

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        status, body, headers = problem_for(error, _instance(request))
        return problem_response(status, body, headers)

    app.add_exception_handler(DomainError, on_known)
    app.add_exception_handler(ApiError, on_known)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for store_error in store_errors():
        app.add_exception_handler(store_error, on_store)
    app.add_exception_handler(PersistenceError, on_unexpected)
    app.add_exception_handler(Exception, on_unexpected)
