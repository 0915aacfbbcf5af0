"""Group commit: concurrent commands, decided on their own, written in one transaction.

Every command thread decides against current state and maps its new events to stored
records itself. It then queues the records. Whichever waiting thread finds no write in
progress becomes the leader: it takes everything queued, inserts it with the library's
own recorder in one transaction (one table lock, one NOTIFY, one disk sync for the lot),
and answers each caller with its notification ids, only after the commit. A lone caller
is its own leader and pays no hand-off; under load the batch grows by itself. The storage
format is the library's, so its tools, notification log and snapshots keep working.

A caller that must not block (a request handled on an event loop) calls `submit` instead
of `commit` and gets a future: if no write is in progress, a writer thread of the
committer's own leads for it; it is answered by the leader that writes it, like anyone.

A command whose decision needs no I/O can go further and hand the decision itself to the
leader (`commit_decided`): the leader decides every such command of its batch in a row, each
in a copy of its caller's context, then writes them all. Under load that is the cheaper way
on CPython: one thread does the Python work while the callers sleep, instead of 32 threads
taking the interpreter lock in turn for a few microseconds each.

If the combined insert violates a uniqueness constraint (two commands raced on the same
aggregate version), the batch is replayed one submission per transaction, in the same
order: the submission that lost the race alone gets the IntegrityError; its neighbours are
committed. Log order is commit order, because one leader writes at a time.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent

#: Events in one transaction at most; bounds a transaction's lock time and memory.
MAX_BATCH_EVENTS = 5000


class GroupCommitClosed(RuntimeError):
    pass


Decision = Callable[[], Sequence[StoredEvent]]


class _Submission:
    __slots__ = ("events", "guards", "ids", "error", "done", "wake", "future", "decide",
                 "context", "then_wake")

    def __init__(self, events: Sequence[StoredEvent], guards: Sequence[Any],
                 future: Future[Sequence[int]] | None = None, *,
                 decide: Decision | None = None) -> None:
        self.events = events
        self.guards = guards
        # A decision left to the leader runs in the caller's context: its clock, its
        # idempotency claim and its ban on I/O are the caller's, whoever runs it.
        self.decide = decide
        self.context = contextvars.copy_context() if decide is not None else None
        self.ids: Sequence[int] = ()
        self.error: BaseException | None = None
        self.done = False
        self.future = future
        self.then_wake: _Submission | None = None
        # Held until its owner is to wake: answered, or made leader. One lock per caller,
        # so a commit wakes exactly the callers it answered (a shared condition woke
        # every waiting thread, and each woken thread queued for the interpreter lock).
        self.wake = threading.Lock()
        if future is None:
            self.wake.acquire()

    def woken(self) -> None:
        """Called by the waiting thread once woken: wake the next caller answered with it."""
        if self.then_wake is not None:
            self.then_wake.wake_up()

    def wake_up(self) -> None:
        """Answered or made leader: wake the waiting thread, or settle the future."""
        if self.future is None:
            self.wake.release()
        elif self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(self.ids)


class GroupCommitter:
    """Leader/follower group commit over one application recorder."""

    def __init__(self, recorder: ApplicationRecorder, *,
                 max_batch_events: int = MAX_BATCH_EVENTS) -> None:
        self._recorder = recorder
        # A recorder may keep a connection for the leaders' inserts (one at a time).
        self._insert = getattr(recorder, "insert_events_as_leader", recorder.insert_events)
        self._max_batch_events = max_batch_events
        self._mutex = threading.Lock()
        self._queue: deque[_Submission] = deque()
        self._writing = False
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()
        self._writer: threading.Thread | None = None
        self._writer_wake = threading.Event()
        self.batches = 0
        self.submissions = 0

    def commit(self, events: Sequence[StoredEvent],
               guards: Sequence[Any] = ()) -> Sequence[int]:
        """Block until `events` are durable; return their notification ids, in order.
        Raises IntegrityError if they conflict with what is already stored, or if an
        aggregate named in `guards` (id, version read) moved meanwhile."""
        if not events:
            return []
        return self._answer_of(_Submission(events, guards))

    def commit_decided(self, decide: Decision) -> Sequence[int]:
        """As `commit`, for the events `decide` returns, called by whichever thread leads,
        just before it writes, in a copy of this caller's context. `decide` must not block
        (it holds up the whole batch); what it raises is raised here, and fails no one
        else."""
        return self._answer_of(_Submission((), (), decide=decide))

    def _answer_of(self, submission: _Submission) -> Sequence[int]:
        """Queue `submission`, lead or wait, and return its ids (or raise its error)."""
        if self._enqueue(submission):
            # Woken when answered, or when the leader before us hands over to us.
            _wait_to_be_woken(submission)
        if not submission.done:
            self._lead(submission)
        if submission.error is not None:
            raise submission.error
        return submission.ids

    def submit(self, events: Sequence[StoredEvent],
               guards: Sequence[Any] = ()) -> Future[Sequence[int]]:
        """As `commit`, without blocking: a future of the notification ids (or of the
        IntegrityError), settled once the events are durable."""
        future: Future[Sequence[int]] = Future()
        if not events:
            future.set_result([])
            return future
        if not self._enqueue(_Submission(events, guards, future)):
            self._writer_wake.set()
        return future

    def _enqueue(self, submission: _Submission) -> bool:
        """Queue `submission`; True if a write is in progress (someone else leads)."""
        with self._mutex:
            if self._closed:
                raise GroupCommitClosed("the ledger is closing; no more writes")
            self._queue.append(submission)
            follow = self._writing
            self._writing = True
            self._idle.clear()
            if submission.future is not None and self._writer is None:
                self._writer = threading.Thread(target=self._write_for_futures,
                                                name="kinerja-group-commit", daemon=True)
                self._writer.start()
        return follow

    def _write_for_futures(self) -> None:
        """The writer thread: leads whenever the first queued submission is a future's."""
        while True:
            self._writer_wake.wait()
            self._writer_wake.clear()
            with self._mutex:
                if not self._queue:
                    if self._closed:
                        return
                    continue
            self._lead(None)

    def _lead(self, own: _Submission | None) -> None:
        """Write one batch (the leader's own submission, if it has one, is at its head),
        answer it, then hand the lead to the first submission still queued (its thread,
        or the writer thread for a future), or stand down."""
        successor: _Submission | None = None
        with self._mutex:
            batch = self._take_batch()
        try:
            self._decide(batch)
            self._write([submission for submission in batch if not submission.done])
        finally:
            with self._mutex:
                if self._queue:
                    successor = self._queue[0]
                else:
                    self._writing = False
                    self._idle.set()
            # Answered callers wake one after another, each woken by the one before:
            # woken all at once, they would all queue for the interpreter lock together.
            chain: _Submission | None = None
            for answered in reversed(batch):
                if answered is own:
                    continue
                if answered.future is not None:
                    answered.wake_up()
                else:
                    answered.then_wake = chain
                    chain = answered
            if chain is not None:
                chain.wake_up()
            if successor is not None:
                if successor.future is None:
                    successor.wake.release()
                else:
                    self._writer_wake.set()

    def _take_batch(self) -> list[_Submission]:
        batch: list[_Submission] = []
        size = 0
        while self._queue and (not batch or size + _size(self._queue[0])
                               <= self._max_batch_events):
            submission = self._queue.popleft()
            batch.append(submission)
            size += _size(submission)
        return batch

    @staticmethod
    def _decide(batch: list[_Submission]) -> None:
        for submission in batch:
            context = submission.context  # there is one exactly when there is a decision
            if context is None:
                continue
            try:
                submission.events = context.run(submission.decide)
            except BaseException as error:  # noqa: BLE001 - it is the caller's to hear of
                submission.error = error
                submission.done = True
            else:
                if not submission.events:
                    submission.ids = []
                    submission.done = True

    def close(self) -> None:
        """Refuse new writes and wait (up to 30 s) for queued ones to be written."""
        with self._mutex:
            self._closed = True
        self._idle.wait(timeout=30)
        if self._writer is not None:
            self._writer_wake.set()
            self._writer.join(timeout=5)
        release = getattr(self._recorder, "release_leader_connection", None)
        if release is not None:
            release()

    def _write(self, batch: list[_Submission]) -> None:
        if not batch:
            return
        self.batches += 1
        self.submissions += len(batch)
        try:
            if len(batch) > 1:
                try:
                    ids = self._insert(
                        [event for submission in batch for event in submission.events],
                        **_guards([g for submission in batch for g in submission.guards]))
                except IntegrityError:
                    pass  # someone in the batch lost a race: isolate it below
                else:
                    self._answer(batch, ids)
                    return
            for submission in batch:
                try:
                    ids = self._insert(submission.events, **_guards(submission.guards))
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


def _wait_to_be_woken(submission: _Submission) -> None:
    try:
        submission.wake.acquire()
    finally:
        # Whatever happened to this thread, the callers answered after it must wake.
        submission.woken()


def _size(submission: _Submission) -> int:
    # Undecided, it is counted as one event: a decision left to the leader is a small one.
    return len(submission.events) if submission.decide is None else 1


def _guards(guards: Sequence[Any]) -> dict[str, Any]:
    # Recorders that know no guards are called exactly as the library calls them.
    return {"guards": list(guards)} if guards else {}
