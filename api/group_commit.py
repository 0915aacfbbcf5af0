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
from collections import deque
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent

#: Events in one transaction at most; bounds a transaction's lock time and memory.
MAX_BATCH_EVENTS = 5000


class GroupCommitClosed(RuntimeError):
    pass


class _Submission:
    __slots__ = ("events", "guards", "ids", "error", "done", "wake")

    def __init__(self, events: Sequence[StoredEvent], guards: Sequence[Any]) -> None:
        self.events = events
        self.guards = guards
        self.ids: Sequence[int] = ()
        self.error: BaseException | None = None
        self.done = False
        # Held until its owner is to wake: answered, or made leader. One lock per caller,
        # so a commit wakes exactly the callers it answered (a shared condition woke
        # every waiting thread, and each woken thread queued for the interpreter lock).
        self.wake = threading.Lock()
        self.wake.acquire()


class GroupCommitter:
    """Leader/follower group commit over one application recorder."""

    def __init__(self, recorder: ApplicationRecorder, *,
                 max_batch_events: int = MAX_BATCH_EVENTS) -> None:
        self._recorder = recorder
        self._max_batch_events = max_batch_events
        self._mutex = threading.Lock()
        self._queue: deque[_Submission] = deque()
        self._writing = False
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()
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
        with self._mutex:
            if self._closed:
                raise GroupCommitClosed("the ledger is closing; no more writes")
            self._queue.append(submission)
            follow = self._writing
            self._writing = True
            self._idle.clear()
        if follow:
            # Woken when answered, or when the leader before us hands over to us.
            submission.wake.acquire()
        if not submission.done:
            self._lead()
        if submission.error is not None:
            raise submission.error
        return submission.ids

    def _lead(self) -> None:
        """Write one batch (the leader's own submission is at its head), answer it, then
        hand the lead to the first submission still queued, or stand down."""
        successor: _Submission | None = None
        with self._mutex:
            batch = self._take_batch()
        try:
            self._write(batch)
        finally:
            with self._mutex:
                if self._queue:
                    successor = self._queue[0]
                else:
                    self._writing = False
                    self._idle.set()
            for answered in batch[1:]:
                answered.wake.release()
            if successor is not None:
                successor.wake.release()

    def _take_batch(self) -> list[_Submission]:
        batch: list[_Submission] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].events)
                               <= self._max_batch_events):
            submission = self._queue.popleft()
            batch.append(submission)
            size += len(submission.events)
        return batch

    def close(self) -> None:
        """Refuse new writes and wait (up to 30 s) for queued ones to be written."""
        with self._mutex:
            self._closed = True
        self._idle.wait(timeout=30)

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
