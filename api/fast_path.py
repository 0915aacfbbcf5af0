"""The busiest write answered before FastAPI routes it.

Complaint channels push citizen feedback one item per request, all day, and at the end
of a month thousands of them a minute. Routing a request through FastAPI (matching it
among every route, solving its dependencies, validating its body) costs several times
what recording the item costs. This middleware takes the plain case of
`POST /v1/feedback/citizen` off that path: a JSON body of modest size, a bearer token of
a complaint channel, no `Idempotency-Key`, and an item that the ledger can decide without
waiting on the database. It answers exactly what the route answers, built by the same
code (`Command.answer`).

Everything else is handed on to FastAPI untouched (the body it read is replayed), so
the route stays the one place that answers the other cases: missing or bad tokens, other
roles, invalid bodies, refused items, keyed requests, items already recorded, and items
that need the database first. A request is handed on only before anything is written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import ValidationError

from api.auth import Role
from api.errors import problem_for, problem_response, store_errors, store_unavailable
from api.routes.common import Command
from api.schemas import CitizenFeedback, FeedbackGiven
from domain.errors import DomainError

log = logging.getLogger("kinerja.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PATH = "/v1/feedback/citizen"
#: A citizen item is a few hundred bytes; a larger body takes the general path.
MAX_BODY = 16 * 1024


class CitizenFeedbackFastPath:
    """Called for every request before FastAPI is: takes what it can, hands the rest to
    `app` (FastAPI itself). Counts the requests it answered in
    `state.fast_path_answered`."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH
                or scope.get("root_path")):
            await self.app(scope, receive, send)
            return
        token = _plain_request_token(scope["headers"])
        if token is None:
            await self.app(scope, receive, send)
            return
        body, disconnected = await _read_body(receive)
        if disconnected:
            return
        state = self.state
        runtime = state.kinerja
        item = _channel_item(runtime, token, body)
        if item is not None:
            principal, feedback = item
            try:
                written = await runtime.ledger.give_feedback_async(
                    **feedback.as_item(), actor=principal.actor)
            except DomainError:
                written = None  # refused while deciding, before any write: the route says why
            except store_errors() as error:
                log.warning("store error on %s: %s", PATH, error)
                await store_unavailable(PATH)(scope, receive, send)
                return
            except Exception as error:  # noqa: BLE001 - answered as FastAPI's handler would
                log.exception("unhandled error on POST %s", PATH)
                status, problem, headers = problem_for(error, PATH)
                await problem_response(status, problem, headers)(scope, receive, send)
                return
            if written is not None:
                state.fast_path_answered += 1
                answer = Command(runtime, principal, None, "", PATH).answer(
                    written, model=FeedbackGiven, status=201)
                await answer(scope, receive, send)
                return
        await self.app(scope, _replaying(body, receive), send)


def _plain_request_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The bearer token of a request this path may take, or None."""
    token = None
    json_body = False
    length = -1
    for name, value in headers:
        if name == b"authorization":
            if value[:7] != b"Bearer " or token is not None:
                return None
            token = value[7:].decode("latin-1")
        elif name == b"content-type":
            json_body = value.split(b";")[0].strip().lower() == b"application/json"
        elif name == b"content-length":
            length = int(value) if value.isdigit() else -1
        elif name == b"idempotency-key" or name == b"transfer-encoding":
            return None
    if not json_body or not 0 < length <= MAX_BODY:
        return None
    return token


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _channel_item(runtime: Any, token: str, body: bytes
                  ) -> tuple[Any, CitizenFeedback] | None:
    try:
        principal = runtime.tokens.verify(token)
    except Exception:  # noqa: BLE001 - the route answers a bad token
        return None
    if not principal.has(Role.CITIZEN_CHANNEL):
        return None
    try:
        # As FastAPI does: JSON first, then the model in Python mode.
        return principal, CitizenFeedback.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        return None


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for the app behind: the body already read, then whatever comes next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay
