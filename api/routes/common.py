"""Dependencies every route shares: the runtime, the caller, commands and reads.

`Command.run` is how every write is answered: one service call under the caller's actor
id, wrapped in idempotency. `Reader` resolves `as_of` (waiting for the projection when a
client asks to read its own write) and the caller's read scope.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from api.auth import Principal, Role, TokenService
from api.errors import (
    PROBLEM_MEDIA_TYPE,
    AsOfBeyondLog,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    OutOfScope,
    ProjectionLagging,
    RoleNotPermitted,
    Unauthenticated,
    problem_for,
)
from api.idempotency import (
    MAX_KEY_LENGTH,
    Claim,
    IdempotencyStore,
    IdsFromEvents,
    StoredAnswer,
    fingerprint,
)
from api.service import AppraisalLedger, Written
from domain.errors import ConcurrentChange, DomainError, NotAuthorised

log = logging.getLogger("kinerja.api")

_KEY = re.compile(r"^[\x21-\x7e]{1,%d}$" % MAX_KEY_LENGTH)


@dataclass
class Runtime:
    """What `create_app` built; one per application."""

    ledger: AppraisalLedger
    reads: Any  # projections.queries.ReadModels
    runner: Any  # projections.runner.ProjectionRunner
    tokens: TokenService
    idempotency: IdempotencyStore
    read_wait_seconds: float
    leaf_lookup: Any = None


# The dependencies below do no I/O, so they are `async def`: FastAPI runs a plain `def`
# dependency in its thread pool, a hop of two thread switches per dependency per request.

async def runtime(request: Request) -> Runtime:
    return request.app.state.kinerja


RuntimeDep = Annotated[Runtime, Depends(runtime)]

_bearer = HTTPBearer(auto_error=False, description="`kinerja token --actor ID --role ROLE`")


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _principal(rt: Runtime, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise Unauthenticated("send `Authorization: Bearer <token>`")
    return rt.tokens.verify(credentials.credentials)


async def authenticate(rt: RuntimeDep, credentials: BearerCredentials) -> Principal:
    return _principal(rt, credentials)


Caller = Annotated[Principal, Depends(authenticate)]


def roles(*allowed: Role) -> Callable[[Principal], Principal]:
    """A check of the caller's roles: call it, or (through `role_dependency`) depend on it."""
    names = ", ".join(sorted(str(r) for r in allowed))

    def check(principal: Caller) -> Principal:
        if not principal.has(*allowed):
            raise RoleNotPermitted(f"this needs one of the roles: {names}")
        return principal
    return check


def role_dependency(*allowed: Role) -> Callable[..., Any]:
    check = roles(*allowed)

    async def dependency(principal: Caller) -> Principal:
        return check(principal)
    return dependency


# --- commands ----------------------------------------------------------------------------

class Command:
    """One write by the authenticated caller, made idempotent by `Idempotency-Key`."""

    def __init__(self, rt: Runtime, principal: Principal, key: str | None, print_: str,
                 instance: str) -> None:
        self.rt = rt
        self.ledger = rt.ledger
        self.principal = principal
        self.actor = principal.actor
        self.key = key
        self.fingerprint = print_
        self.instance = instance

    def run(self, call: Callable[[str], Written], *, model: type[BaseModel],
            status: int = 200,
            ids: dict[str, Any] | IdsFromEvents | None = None,
            check: Callable[[], None] | None = None) -> JSONResponse:
        """Call the service once with the caller's actor id. `ids` are the ids the answer
        will carry, known before the call (or rendered from the events it stores), so the
        key row can be written with the events. `check` is a scope check of the HTTP layer,
        made after a replay is ruled out."""
        if self.key is None:
            if check is not None:
                check()
            written = call(self.actor)
            return self._answer(status, _body(written), model)
        store = self.rt.idempotency
        with store.serialised(self.actor, self.key):
            found = store.lookup(self.actor, self.key)
            if found is not None:
                return self._replay(found)
            fixed = dict(ids or {}) if not callable(ids) else None
            claim = Claim(actor=self.actor, key=self.key, fingerprint=self.fingerprint,
                          status=status, ids=ids if callable(ids) else (lambda _: fixed))
            try:
                if check is not None:
                    check()
                with store.claiming(claim):
                    written = call(self.actor)
            except DomainError as error:
                # A same-key request elsewhere may have won the race that refused us.
                found = store.lookup(self.actor, self.key)
                if found is not None:
                    return self._replay(found)
                if isinstance(error, ConcurrentChange):
                    raise  # transient: the client retries with the same key
                refused, problem, _ = problem_for(error, self.instance)
                stored = store.store(self.actor, self.key, self.fingerprint, refused, problem)
                return self._replay(stored, first=stored.body == problem)
            body = _body(written)
            if claim.recorded_body is None:
                stored = store.store(self.actor, self.key, self.fingerprint, status, body)
                if stored.body != body:
                    return self._replay(stored)
            elif claim.recorded_body != body:
                log.warning("idempotency answer for %s differed from the write; fixed",
                            self.instance)
                store.replace_body(self.actor, self.key, body)
            return self._answer(status, body, model)

    def answer(self, written: Written, *, model: type[BaseModel], status: int = 200
               ) -> JSONResponse:
        """The answer to a write made without `run` (no Idempotency-Key was sent)."""
        assert self.key is None, "a keyed write goes through run()"
        return self._answer(status, _body(written), model)

    def _answer(self, status: int, body: dict[str, Any], model: type[BaseModel]
                ) -> JSONResponse:
        return JSONResponse(model.model_validate(body).model_dump(mode="json"),
                            status_code=status)

    def _replay(self, found: StoredAnswer, *, first: bool = False) -> JSONResponse:
        if found.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used for a different request; use a new key")
        headers = {} if first else {"Idempotency-Replayed": "true"}
        media = PROBLEM_MEDIA_TYPE if found.status >= 400 else "application/json"
        return JSONResponse(found.body, status_code=found.status, headers=headers,
                            media_type=media)


def _body(written: Written) -> dict[str, Any]:
    return {"position": written.position, **written.ids}


IdempotencyKeyHeader = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=MAX_KEY_LENGTH,
    description="Makes a retried POST return the first answer and record nothing twice "
                "(scoped to the caller).")]


def command_for(*allowed: Role) -> Callable[..., Any]:
    """The dependency of a write open to `allowed`: authenticates, checks the role and the
    key. One dependency rather than a chain of them: FastAPI solves each link of a chain
    on every request, and on the busiest writes that cost more than the write's own work."""
    check = roles(*allowed)

    async def dependency(request: Request, credentials: BearerCredentials,
                         idempotency_key: IdempotencyKeyHeader = None) -> Command:
        rt: Runtime = request.app.state.kinerja
        principal = check(_principal(rt, credentials))
        if idempotency_key is not None and not _KEY.match(idempotency_key):
            raise IdempotencyKeyInvalid(
                f"an Idempotency-Key is 1 to {MAX_KEY_LENGTH} visible ASCII characters")
        path = request.url.path
        # Only a keyed request is compared with an earlier one, so only it is fingerprinted.
        print_ = ("" if idempotency_key is None else
                  fingerprint(request.method, path, await request.body()))
        return Command(rt, principal, idempotency_key, print_, path)
    return dependency


AdminCommand = Annotated[Command, Depends(command_for(Role.ADMIN))]
RaterCommand = Annotated[Command, Depends(command_for(Role.RATER))]
EmployeeCommand = Annotated[Command, Depends(command_for(Role.EMPLOYEE))]
EmployeeOrRaterCommand = Annotated[Command, Depends(command_for(Role.EMPLOYEE, Role.RATER))]
PeerCommand = Annotated[Command, Depends(command_for(Role.PEER))]
ChannelCommand = Annotated[Command, Depends(command_for(Role.CITIZEN_CHANNEL))]
ReviewerCommand = Annotated[Command, Depends(command_for(Role.APPEAL_PANEL, Role.RATER))]


def require_rater_of(command: Command, evaluation_id: str) -> None:
    """A rater acts only on the evaluations of the people they rate today."""
    ledger = command.ledger
    evaluation = ledger.get_evaluation(evaluation_id)
    employee = ledger.get_employee(evaluation.employee_id)
    if employee.rater_on(ledger.clock().date()) != command.actor:
        raise NotAuthorised(f"{command.actor} is not the rater in force for this "
                            "evaluation")


def require_self_or_rater(command: Command, evaluation_id: str) -> None:
    """An employee records realisations on their own evaluation; their rater may too."""
    evaluation = command.ledger.get_evaluation(evaluation_id)
    if command.principal.has(Role.EMPLOYEE) and evaluation.employee_id == command.actor:
        return
    if command.principal.has(Role.RATER):
        require_rater_of(command, evaluation_id)
        return
    raise NotAuthorised("an employee records realisations only on their own evaluation")


# --- reads -------------------------------------------------------------------------------

AsOfParam = Annotated[str | None, Query(
    max_length=64,
    description="A log position (e.g. a write's `position`) or an ISO-8601 time/date. "
                "Given a position, the answer waits briefly until the read models reach "
                "it (503 problem `projection-lagging` if they do not).",
    examples=["42", "2026-02-01T00:00:00Z"])]


class Reader:
    def __init__(self, rt: Runtime, principal: Principal) -> None:
        self.rt = rt
        self.reads = rt.reads
        self.principal = principal

    def as_of(self, raw: str | None) -> int | str | None:
        if raw is None or raw == "":
            return None
        text = raw.strip()
        if text.isdigit():
            position = int(text)
            end = self.rt.ledger.recorder.max_notification_id() or 0
            if position > end:
                raise AsOfBeyondLog(f"the log ends at position {end}", log_position=end)
            self._wait(position)
            return position
        # A time: the answer is complete only once everything recorded so far is read.
        self._wait(self.rt.ledger.recorder.max_notification_id() or 0)
        return text

    def _wait(self, position: int) -> None:
        if position <= 0:
            return
        if not self.rt.runner.wait_for(position, self.rt.read_wait_seconds):
            raise ProjectionLagging(
                f"the read models have not reached position {position} yet; retry",
                wanted=position)

    def scope(self) -> set[str] | None:
        """Employee ids the caller may read; None means everyone."""
        if self.principal.reads_all:
            return None
        allowed: set[str] = set()
        if self.principal.has(Role.EMPLOYEE):
            allowed.add(self.principal.actor)
        if self.principal.has(Role.RATER):
            allowed |= set(self.reads.evaluation_scope(self.principal.actor))
        return allowed

    def require_in_scope(self, employee_id: str) -> None:
        allowed = self.scope()
        if allowed is not None and employee_id not in allowed:
            raise OutOfScope("you may read only your own records and those of the people "
                             "you rate")

    def redact(self, employee_id: str | None, data: Any) -> Any:
        """A peer's identity is never shown to the person rated."""
        if employee_id is None or employee_id != self.principal.actor:
            return data
        return _without_giver(data)


def _without_giver(data: Any) -> Any:
    if isinstance(data, dict):
        # A peer's feedback is recorded by the peer: there the actor is the giver too.
        hidden = {"giver_ref", "actor"} if str(data.get("topic", "")).startswith(
            "kinerja.feedback.") else {"giver_ref"}
        return {k: (None if k in hidden else _without_giver(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [_without_giver(v) for v in data]
    return data


def reader_for(*allowed: Role) -> Callable[..., Reader]:
    check = roles(*allowed)

    async def dependency(request: Request, credentials: BearerCredentials) -> Reader:
        rt: Runtime = request.app.state.kinerja
        return Reader(rt, check(_principal(rt, credentials)))
    return dependency


#: Everyone who may read appraisal records at all (peers and channels only write).
PersonalReader = Annotated[Reader, Depends(reader_for(
    Role.ADMIN, Role.INSPECTOR, Role.APPEAL_PANEL, Role.RATER, Role.EMPLOYEE))]
UnitReader = Annotated[Reader, Depends(reader_for(
    Role.ADMIN, Role.INSPECTOR, Role.APPEAL_PANEL, Role.RATER))]
AuditReader = Annotated[Reader, Depends(reader_for(Role.ADMIN, Role.INSPECTOR))]


def ids_of_topic(name: str, topic: str, *, many: bool = False
                 ) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """Ids an answer carries: the aggregates created by events of `topic`, in order."""
    def render(events: Sequence[Any]) -> dict[str, Any]:
        found = [str(e.originator_id) for e in events if e.topic == topic]
        return {name: found} if many else {name: found[0] if found else None}
    return render
