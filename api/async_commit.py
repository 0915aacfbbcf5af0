"""Group commit for callers on one event loop, with no thread in between.

`GroupCommitter.submit` answers an event-loop caller through a concurrent future settled
by a writer thread: per request that is a hand-off to the writer, the interpreter lock
passed back and forth, and a wake-up of the loop through its self-pipe. Measured over
HTTP, that cost more than deciding the command. Here the loop writes for itself: the
first caller to queue starts a leader task, which inserts everything queued in one
statement on an async connection, sets each caller's asyncio future, and goes round
again while more has queued meanwhile. The insert is the same server-side call under the
same table lock, so the log's order is commit order whichever committer (this one, the
threaded one, another process) wrote a row.

If a combined insert conflicts, the callers whose events are already stored are refused
(one query finds them: most often a channel resending items) and the rest are written
together again; failing that, one caller per statement. Only a caller that lost the race
gets the IntegrityError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

from api.group_commit import MAX_BATCH_EVENTS

Insert = Callable[[Sequence[StoredEvent]], Awaitable[Sequence[int]]]
#: Which (originator id, version) of these events are already stored.
Existing = Callable[[Sequence[StoredEvent]], Awaitable[set[tuple[Any, int]]]]


class AsyncGroupCommitter:
    """Leader-task group commit over `insert`, for callers on one event loop."""

    def __init__(self, insert: Insert, *, existing: Existing | None = None,
                 max_batch_events: int = MAX_BATCH_EVENTS) -> None:
        self._insert = insert
        self._existing = existing
        self._max_batch_events = max_batch_events
        self._queue: list[tuple[Sequence[StoredEvent], asyncio.Future[Sequence[int]]]] = []
        self._leader: asyncio.Task[None] | None = None
        self.batches = 0
        self.submissions = 0

    async def commit(self, events: Sequence[StoredEvent]) -> Sequence[int]:
        """The notification ids of `events`, once they are durable; raises IntegrityError
        if they conflict with what is stored."""
        if not events:
            return []
        future: asyncio.Future[Sequence[int]] = asyncio.get_running_loop().create_future()
        self._queue.append((events, future))
        if self._leader is None:
            self._leader = asyncio.create_task(self._lead())
        return await future

    async def _lead(self) -> None:
        try:
            while self._queue:
                batch = self._take_batch()
                self.batches += 1
                self.submissions += len(batch)
                await self._write(batch)
        except BaseException:
            # The leader itself was stopped (the loop is closing): no one is left to write
            # what is still queued, and nothing of it was written; its callers hear so.
            queued, self._queue = self._queue, []
            for _, future in queued:
                future.cancel()
            raise
        finally:
            self._leader = None

    def _take_batch(self) -> list[tuple[Sequence[StoredEvent], asyncio.Future]]:
        size = 0
        taken = 0
        for events, _ in self._queue:
            if taken and size + len(events) > self._max_batch_events:
                break
            size += len(events)
            taken += 1
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    async def _write(self, batch: list[tuple[Sequence[StoredEvent], asyncio.Future]]) -> None:
        if len(batch) > 1:
            if await self._write_together(batch):
                return
            # Someone in the batch lost a race, most often a channel resending an item
            # already recorded: refuse those whose rows exist, in one query, and write
            # the rest together again. Only if that fails too, one caller at a time.
            if self._existing is not None:
                batch = await self._refuse_existing(batch)
                if len(batch) > 1 and await self._write_together(batch):
                    return
        for events, future in batch:
            try:
                ids = await self._insert(events)
            except BaseException as error:  # noqa: BLE001 - the caller must hear of it
                _settle(future, error=error)
                if not isinstance(error, Exception):
                    raise
            else:
                _settle(future, ids=list(ids))

    async def _write_together(self, batch: list[tuple[Sequence[StoredEvent],
                                                      asyncio.Future]]) -> bool:
        """Write the whole batch in one statement; False if it conflicted (nothing was
        written, no one answered)."""
        try:
            ids = await self._insert([e for events, _ in batch for e in events])
        except IntegrityError:
            return False
        except BaseException as error:  # noqa: BLE001 - every caller must hear of it
            for _, future in batch:
                _settle(future, error=error)
            if not isinstance(error, Exception):
                raise
            return True
        offset = 0
        for events, future in batch:
            _settle(future, ids=list(ids[offset:offset + len(events)]))
            offset += len(events)
        return True

    async def _refuse_existing(self, batch: list[tuple[Sequence[StoredEvent],
                                                       asyncio.Future]]
                               ) -> list[tuple[Sequence[StoredEvent], asyncio.Future]]:
        assert self._existing is not None
        try:
            stored = await self._existing([e for events, _ in batch for e in events])
        except Exception:  # noqa: BLE001 - then one caller at a time will tell
            return batch
        rest = []
        for events, future in batch:
            if any((e.originator_id, e.originator_version) in stored for e in events):
                _settle(future, error=IntegrityError(
                    "an event of this command is already stored"))
            else:
                rest.append((events, future))
        return rest


def _settle(future: asyncio.Future, *, ids: Sequence[int] = (),
            error: BaseException | None = None) -> None:
    if future.done():  # the caller went away (cancelled); the write stands
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    elif error is not None:
        future.set_exception(error)
    else:
        future.set_result(ids)
