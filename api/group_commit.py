"""Group commit: concurrent commands, decided on their own, written in one transaction.

Every command thread decides against current state and maps its new events to stored
records itself. It then queues the records. Whichever waiting thread finds no write in
progress becomes the leader: it takes everything queued, inserts it with the library's
own recorder in one transaction (one table lock, one NOTIFY, one disk sync for the lot),
and answers each caller with its notification ids, only after the commit. A lone caller
is its own leader and pays no hand-off; under load the batch grows by itself. The storage
format is the library's, so its tools, notification log and snapshots keep working.

If the combined insert violates a uniqueness constraint (two commands raced on the same
aggregate version), the batch is replayed one submission per transaction, in the same
order: the submission that lost the race alone gets the IntegrityError; its neighbours are
committed. Log order is commit order, because one leader writes at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent

#: Events in one transaction at most; bounds a transaction's lock time and memory.
MAX_BATCH_EVENTS = 5000


class GroupCommitClosed(RuntimeError):
    pass


class _Submission:
    __slots__ = ("events", "guards", "ids", "error", "done")

    def __init__(self, events: Sequence[StoredEvent], guards: Sequence[Any]) -> None:
        self.events = events
        self.guards = guards
        self.ids: Sequence[int] = ()
        self.error: BaseException | None = None
        self.done = False


class GroupCommitter:
    """Leader/follower group commit over one application recorder."""

    def __init__(self, recorder: ApplicationRecorder, *,
                 max_batch_events: int = MAX_BATCH_EVENTS) -> None:
        self._recorder = recorder
        self._max_batch_events = max_batch_events
        self._condition = threading.Condition()
        self._queue: list[_Submission] = []
        self._writing = False
        self._closed = False
        self.batches = 0
        self.submissions = 0

    def commit(self, events: Sequence[StoredEvent],
               guards: Sequence[Any] = ()) -> Sequence[int]:
        """Block until `events` are durable; return their notification ids, in order.
        Raises IntegrityError if they conflict with what is already stored, or if an
        aggregate named in `guards` (id, version read) moved meanwhile."""
        if not events:
            return []
        submission = _Submission(events, guards)
        with self._condition:
            if self._closed:
                raise GroupCommitClosed("the ledger is closing; no more writes")
            self._queue.append(submission)
            while not submission.done and self._writing:
                self._condition.wait()
            if not submission.done:
                # Leader: nobody is writing and our submission is still queued.
                self._writing = True
                batch = self._take_batch()
            else:
                batch = []
        if batch:
            try:
                self._write(batch)
            finally:
                with self._condition:
                    self._writing = False
                    self._condition.notify_all()
        if submission.error is not None:
            raise submission.error
        return submission.ids

    def _take_batch(self) -> list[_Submission]:
        batch: list[_Submission] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].events)
                               <= self._max_batch_events):
            submission = self._queue.pop(0)
            batch.append(submission)
            size += len(submission.events)
        return batch

    def close(self) -> None:
        """Refuse new writes and wait (up to 30 s) for queued ones to be written."""
        with self._condition:
            self._closed = True
            self._condition.wait_for(lambda: not self._writing and not self._queue,
                                     timeout=30)

    def _write(self, batch: list[_Submission]) -> None:
        self.batches += 1
        self.submissions += len(batch)
        try:
            if len(batch) > 1:
                try:
                    ids = self._recorder.insert_events(
                        [event for submission in batch for event in submission.events],
                        **_guards([g for submission in batch for g in submission.guards]))
                except IntegrityError:
                    pass  # someone in the batch lost a race: isolate it below
                else:
                    self._answer(batch, ids)
                    return
            for submission in batch:
                try:
                    ids = self._recorder.insert_events(submission.events,
                                                       **_guards(submission.guards))
                except IntegrityError as error:
                    submission.error = error
                    submission.done = True
                else:
                    self._answer([submission], ids)
        except BaseException as error:  # noqa: BLE001 - every waiting caller must hear of it
            for submission in batch:
                if not submission.done:
                    submission.error = error
                    submission.done = True

    @staticmethod
    def _answer(batch: list[_Submission], ids: Sequence[int] | None) -> None:
        offset = 0
        for submission in batch:
            count = len(submission.events)
            submission.ids = list(ids[offset:offset + count]) if ids else []
            submission.done = True
            offset += count


def _guards(guards: Sequence[Any]) -> dict[str, Any]:
    # Recorders that know no guards are called exactly as the library calls them.
    return {"guards": list(guards)} if guards else {}
