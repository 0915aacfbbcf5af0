"""Group commit: concurrent commands, decided on their own, written in one transaction.

Every command thread decides against current state and maps its new events to stored
records itself (that is where the Python time goes, and it runs while the writer is busy
with the previous batch). It then hands the records to the single writer thread and waits.
The writer takes everything queued, inserts it with the library's own recorder in one
transaction (one table lock, one NOTIFY, one disk sync for the lot), and answers each
caller with its notification ids only after the commit. The storage format is the
library's, so its tools, notification log and snapshots keep working.

If the combined insert violates a uniqueness constraint (two commands raced on the same
aggregate version), the batch is replayed one submission per transaction, in the same
order: the submission that lost the race alone gets the IntegrityError; its neighbours are
committed. Log order is commit order, because there is one writer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent

#: Events in one transaction at most; bounds a transaction's lock time and memory.
MAX_BATCH_EVENTS = 5000


class GroupCommitClosed(RuntimeError):
    pass


class _Submission:
    __slots__ = ("events", "future")

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.future: Future[Sequence[int]] = Future()


class GroupCommitter:
    """One writer thread per application recorder."""

    def __init__(self, recorder: ApplicationRecorder, *,
                 max_batch_events: int = MAX_BATCH_EVENTS) -> None:
        self._recorder = recorder
        self._max_batch_events = max_batch_events
        self._queue: queue.SimpleQueue[_Submission | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self.batches = 0
        self.submissions = 0
        self._thread = threading.Thread(target=self._run, name="kinerja-group-commit",
                                        daemon=True)
        self._thread.start()

    def commit(self, events: Sequence[StoredEvent]) -> Sequence[int]:
        """Block until `events` are durable; return their notification ids, in order.
        Raises IntegrityError if they conflict with what is already stored."""
        if not events:
            return []
        submission = _Submission(events)
        with self._lock:
            if self._closed:
                raise GroupCommitClosed("the ledger is closing; no more writes")
            self._queue.put(submission)
        return submission.future.result()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            size = len(first.events)
            # Take whatever else is already waiting: the batch grows with the load.
            while size < self._max_batch_events:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
                size += len(more.events)
            self._write(batch)

    def _write(self, batch: list[_Submission]) -> None:
        self.batches += 1
        self.submissions += len(batch)
        if len(batch) > 1:
            try:
                ids = self._recorder.insert_events(
                    [event for submission in batch for event in submission.events])
            except IntegrityError:
                pass  # someone in the batch lost a race: isolate it below
            except BaseException as error:  # noqa: BLE001 - every caller must hear of it
                for submission in batch:
                    submission.future.set_exception(error)
                return
            else:
                self._answer(batch, ids)
                return
        for submission in batch:
            try:
                ids = self._recorder.insert_events(submission.events)
            except BaseException as error:  # noqa: BLE001 - the caller re-raises it
                submission.future.set_exception(error)
            else:
                self._answer([submission], ids)

    @staticmethod
    def _answer(batch: list[_Submission], ids: Sequence[int] | None) -> None:
        offset = 0
        for submission in batch:
            count = len(submission.events)
            submission.future.set_result(list(ids[offset:offset + count]) if ids else [])
            offset += count
