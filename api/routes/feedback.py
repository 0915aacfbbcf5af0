"""Feedback: peers and subordinates one at a time (the giver is the caller), citizens
through complaint channels one at a time or in batches of thousands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.routes import PROBLEM_RESPONSES
from api.routes.common import ChannelCommand, PeerCommand, ids_of_topic
from api.schemas import (
    CitizenFeedback,
    CitizenFeedbackBatch,
    FeedbackBatchGiven,
    FeedbackGiven,
    PeerFeedback,
)
from domain.feedback import FeedbackItem
from domain.values import FeedbackSource

router = APIRouter(prefix="/v1/feedback", tags=["feedback"], responses=PROBLEM_RESPONSES)

GIVEN = FeedbackItem.Given.TOPIC


@router.post("", operation_id="give_peer_feedback", status_code=201,
             response_model=FeedbackGiven)
def give_peer_feedback(body: PeerFeedback, command: PeerCommand) -> JSONResponse:
    return command.run(lambda actor: command.ledger.give_feedback(
        employee_id=str(body.employee_id), period=body.period,
        source=FeedbackSource(body.source), giver_ref=actor, score=body.score,
        value=body.value, comment=body.comment, actor=actor),
        model=FeedbackGiven, status=201, ids=ids_of_topic("feedback_id", GIVEN))


@router.post("/citizen", operation_id="give_citizen_feedback", status_code=201,
             response_model=FeedbackGiven)
async def give_citizen_feedback(body: CitizenFeedback,
                                command: ChannelCommand) -> JSONResponse:
    # The busiest write (channels push items one by one): decided on the event loop and
    # awaited while the group committer writes it, with no thread of its own. A keyed
    # request, or one that would first need the database, takes the thread path.
    if command.key is None:
        written = await command.ledger.give_feedback_async(**body.as_item(),
                                                           actor=command.actor)
        if written is not None:
            return command.answer(written, model=FeedbackGiven, status=201)
    render = _batch_ids([body])
    return await run_in_threadpool(lambda: command.run(
        lambda actor: command.ledger.give_feedback(**body.as_item(), actor=actor),
        model=FeedbackGiven, status=201,
        ids=lambda events: {"feedback_id": render(events)["feedback_ids"][0]}))


@router.post("/citizen/batch", operation_id="give_citizen_feedback_batch", status_code=201,
             response_model=FeedbackBatchGiven)
def give_citizen_feedback_batch(body: CitizenFeedbackBatch,
                                command: ChannelCommand) -> JSONResponse:
    """One transaction for the whole batch; items the channel already sent (same channel
    and `external_ref`) are skipped, so a resent batch records nothing twice."""
    items = [i.as_item() for i in body.items]
    return command.run(lambda actor: command.ledger.give_feedback_batch(items, actor=actor),
                       model=FeedbackBatchGiven, status=201, ids=_batch_ids(body.items))


def _batch_ids(items: Sequence[CitizenFeedback]):  # type: ignore[no-untyped-def]
    """The answer's ids from the stored events: channel items are named by their channel
    reference; the others by the stream each created, in order."""
    derived = [str(FeedbackItem.id_for_channel_item(i.channel, i.external_ref))
               if i.channel and i.external_ref else None for i in items]
    named = {d for d in derived if d}

    def render(events: Sequence[Any]) -> dict[str, Any]:
        fresh = iter([str(e.originator_id) for e in events
                      if e.topic == GIVEN and str(e.originator_id) not in named])
        return {"feedback_ids": [d if d else next(fresh, None) for d in derived]}
    return render
