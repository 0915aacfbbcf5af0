"""The composition root of the HTTP API: `create_app(settings)`.

It opens the ledger (with the recorders that keep idempotency keys in the events'
transaction), the read-model database beside it, the read models and the projection runner
(started and stopped with the application's lifespan), and registers routes and error
handlers. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from functools import partial
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.auth import TokenService, load_secret
from api.errors import PROBLEM_MEDIA_TYPE, register_error_handlers
from api.idempotency import (
    ClaimRegistry,
    IdempotencyStore,
    forget_keys_regularly,
    install,
    recorder_env,
)
from api.routes import appeals, cycles, employees, evaluations, feedback, health, queries, rubrics
from api.routes.common import Runtime
from api.service import AppraisalLedger
from api.settings import Settings

log = logging.getLogger("kinerja.api")

API_VERSION = "1.0.0"
#: How long a query given `as_of=<position>` waits for the read models to reach it.
READ_WAIT_SECONDS = 2.0
#: How long delivering a result waits for feedback recorded before it to be projected.
FEEDBACK_WAIT_SECONDS = 2.0


def create_app(settings: Settings, *, ledger: AppraisalLedger | None = None,
               clock: Callable[[], datetime] | None = None,
               read_wait_seconds: float = READ_WAIT_SECONDS,
               follow: bool = True, fast_path: bool = True) -> FastAPI:
    """Build the API on the store that `settings` name. A `ledger` given here is used as it
    is (and not closed by the app); keys are then recorded just after each write, unless
    it was opened with `api.idempotency.recorder_env`. With `follow=False` the app runs no
    followers of the log (`kinerja follow` does, in a process of its own); a read that
    asks for a position still catches the read models up to it by itself. `fast_path`
    answers the plain case of the busiest write before routing (`api/fast_path.py`)."""
    from api.store import open_ledger
    from projections.db import open_database
    from projections.queries import ReadModels
    from projections.runner import ProjectionRunner

    store = settings.store()
    tokens = TokenService(load_secret(settings))
    owns_ledger = ledger is None
    if ledger is None:
        kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        ledger = open_ledger(settings, **kwargs, **recorder_env(settings.library_env()))
    db = open_database(store, pool_size=max(2, settings.postgres_pool_size))
    try:
        reads = ReadModels(db, ledger)
        runner = ProjectionRunner(ledger, db)
        registry = ClaimRegistry()
        transactional = install(ledger, registry)
        idempotency = IdempotencyStore(db, ledger.mapper._kinerja_claims,
                                       transactional=transactional)
        idempotency.create_table()
    except BaseException:
        db.close()
        if owns_ledger:
            ledger.close()
        raise
    ledger.feedback_lookup = _feedback_lookup(ledger, reads, runner)
    runtime = Runtime(ledger=ledger, reads=reads, runner=runner, tokens=tokens,
                      idempotency=idempotency, read_wait_seconds=read_wait_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if follow:
            runner.start()
        forgetting = asyncio.create_task(forget_keys_regularly(
            idempotency, settings.idempotency_key_days))
        try:
            yield
        finally:
            forgetting.cancel()
            with suppress(asyncio.CancelledError):
                await forgetting
            runner.stop()
            await ledger.close_async()
            if owns_ledger:
                ledger.close()
            db.close()

    app = KinerjaAPI(
        title="kinerja-ledger API", version=API_VERSION, lifespan=lifespan,
        description="Authenticated commands and auditable, replayable queries over the "
                    "verifiable ASN appraisal ledger. Errors are RFC 9457 problem details.",
    )
    app.state.kinerja = runtime
    app.state.fast_path_answered = 0
    if fast_path:
        from api.fast_path import CitizenFeedbackFastPath
        app.fast_path = CitizenFeedbackFastPath(partial(FastAPI.__call__, app), app.state)
    register_error_handlers(app)
    for module in (employees, rubrics, cycles, evaluations, feedback, appeals, queries,
                   health):
        app.include_router(module.router)
    # The verifiable ledger (issue 5): Merkle follower, checkpoints and proofs.
    from api.routes.ledger import install as install_ledger
    install_ledger(app, settings, ledger, follow=follow)
    app.include_router(importlib.import_module("api.routes.bundle").router)  # issue 6
    app.include_router(importlib.import_module("api.web").router)  # issue 9: /ui/ pages
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


class KinerjaAPI(FastAPI):
    """FastAPI, with the busiest write's plain case answered before the framework's own
    middleware and routing (`api/fast_path.py`); every other request goes FastAPI's way."""

    fast_path: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.fast_path is not None:
            await self.fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _feedback_lookup(ledger: AppraisalLedger, reads: Any, runner: Any
                     ) -> Callable[[str, str], Any]:
    """Delivery reads feedback from the read models; first let them reach everything
    recorded so far, so feedback given just before delivery is counted."""
    def lookup(employee_id: str, period: str) -> Any:
        end = ledger.recorder.max_notification_id() or 0
        if end and not runner.wait_for(end, FEEDBACK_WAIT_SECONDS):
            log.warning("delivering with feedback projected short of position %s", end)
        return reads.feedback_scores(employee_id, period)
    return lookup


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema, with every error answer as application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, openapi_version="3.1.0",
                         description=app.description, routes=app.routes)
    problem = {"$ref": "#/components/schemas/Problem"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": problem}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema
