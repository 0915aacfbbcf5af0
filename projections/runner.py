"""Feeds the read models from the application's notification log.

Each batch is one transaction: lock the tracking rows, read the next notifications,
apply them to every projection in memory, write the changed rows in bulk, move the
tracking positions, commit. A crash anywhere before the commit leaves tables and
positions as they were, so every event is applied exactly once.

Several runners (threads, worker processes, `kinerja replay`) may share a database: the
tracking rows are locked for the batch (PostgreSQL `FOR UPDATE`, SQLite's write lock), and
a runner that finds a position it did not write drops its caches and goes on from there.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from projections.base import Projection
from projections.catalog import (
    TRACKING,
    create_tables,
    make_projections,
    tracked_positions,
)
from projections.db import Database
from projections.decoding import EventDecoder, LogEvent

log = logging.getLogger(__name__)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The caches hold hundreds of thousands of rows that live for the whole catch-up;
    the cyclic collector would scan them again and again (a third of a rebuild's time)
    for garbage they never make. Collection resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Moved(Exception):
    """Another runner moved a tracking position between reading and writing a batch."""

#: progress(position reached, head position when the catch-up began)
Progress = Callable[[int, int], None]

DEFAULT_BATCH = 1000


class ProjectionRunner:
    """Keeps the read models in `db` up to date with `app`'s log.

    `projections` names the models to run (all by default). `on_progress` is called after
    every batch with (position reached, head of the log)."""

    def __init__(self, app: Any, db: Database, *, projections: Iterable[str] | None = None,
                 batch_size: int = DEFAULT_BATCH, on_progress: Progress | None = None,
                 poll_interval: float = 0.2, linger: float = 0.05) -> None:
        self.app = app
        self.db = db
        self.projections: list[Projection] = make_projections(projections)
        self.batch_size = batch_size
        self.on_progress = on_progress
        self.poll_interval = poll_interval
        #: After a wake-up, how long the follower lets more events arrive before it
        #: catches up. Under a stream of writes, one catch-up per commit costs more than
        #: the events it projects; a reader who needs a position (`wait_for`) does not
        #: wait for the follower, it applies the batch itself.
        self.linger = linger
        self.decoder = EventDecoder(app)
        self.last_error: BaseException | None = None
        self._lock = threading.RLock()
        self._advanced = threading.Condition()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        #: Positions as last committed by this runner (None: not read yet).
        self._known: dict[str, int] | None = None
        create_tables(db, self.projections)

    # --- positions -------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The position every projection of this runner has reached."""
        if self._known is None:
            with self.db.transaction() as cur:
                positions = tracked_positions(cur, self.names)
            return min(positions.values(), default=0)
        return min(self._known.values(), default=0)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.projections]

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    # --- catching up -----------------------------------------------------------------

    def catch_up(self, batch_size: int | None = None, *, stop: int | None = None,
                 progress: Progress | None = None) -> int:
        """Apply every pending event (up to `stop`, if given); the position reached.

        The next batch is read and decoded in a second thread while the current one is
        written: the database's share of the work (index maintenance, commit) overlaps
        with ours."""
        size = batch_size or self.batch_size
        report = progress or self.on_progress
        head = self.head() if stop is None else stop
        with self._lock, _gc_paused(), \
                ThreadPoolExecutor(1, thread_name_prefix="projection-read") as pool:
            seen = self._positions()
            upcoming = pool.submit(self._read, min(seen.values()), size, stop)
            while True:
                events = upcoming.result()
                if not events:
                    self._adopt(seen)
                    return min(seen.values(), default=0)
                upcoming = pool.submit(self._read, events[-1].position, size, stop)
                try:
                    written = self._write(events, seen)
                except BaseException:
                    upcoming.cancel()
                    raise
                if written is None:  # someone else moved a position: read again
                    upcoming.result()
                    seen = self._positions()
                    upcoming = pool.submit(self._read, min(seen.values()), size, stop)
                    continue
                seen = written
                reached = min(seen.values())
                if report is not None:
                    report(reached, max(head, reached))

    def _apply_batch(self, size: int, stop: int | None) -> int:
        """One batch in one transaction; the number of events applied."""
        while True:
            seen = self._positions()
            events = self._read(min(seen.values()), size, stop)
            if not events:
                self._adopt(seen)
                return 0
            if self._write(events, seen) is not None:
                return len(events)

    def _positions(self) -> dict[str, int]:
        with self.db.transaction() as cur:
            return tracked_positions(cur, self.names)

    def _read(self, after: int, size: int, stop: int | None) -> list[LogEvent]:
        """Read and decode before the write transaction begins: decoding may need the
        database itself (the personal-data key store), and the write lock should be held
        no longer than the writes take."""
        if stop is not None and after >= stop:
            return []
        return self.decoder.decode(
            self.app.recorder.select_notifications(after + 1, size, stop=stop))

    def _write(self, events: Sequence[LogEvent], seen: dict[str, int]
               ) -> dict[str, int] | None:
        """Apply `events` in one transaction, if the tracking positions are still those
        `seen` when they were read; the new positions, or None if someone moved them."""
        names = self.names
        try:
            with self.db.transaction() as cur:
                stored = tracked_positions(cur, names, lock=True, kind=self.db.kind)
                if stored != seen:
                    raise _Moved
                self._adopt(stored)
                updates = []
                for projection in self.projections:
                    mine = self._pending_for(projection, stored[projection.name], events)
                    if not mine:
                        continue
                    projection.prefetch(cur, mine)
                    apply = projection.apply
                    for event in mine:
                        apply(event)
                    projection.flush(cur)
                    updates.append((events[-1].position, projection.name))
                cur.executemany(f"UPDATE {TRACKING} SET position = ? WHERE projection = ?",
                                updates)
        except _Moved:
            return None
        except BaseException:
            self._forget()
            raise
        assert self._known is not None
        for position, name in updates:
            self._known[name] = position
        with self._advanced:
            self._advanced.notify_all()
        return dict(self._known)

    @staticmethod
    def _pending_for(projection: Projection, position: int,
                     events: Sequence[LogEvent]) -> Sequence[LogEvent]:
        if not events or events[0].position > position:
            return events
        return [e for e in events if e.position > position]

    def _adopt(self, stored: dict[str, int]) -> None:
        """Take the positions found in the database; drop the caches of any projection
        whose position someone else moved (another runner, a rebuild)."""
        known = self._known or {}
        for projection in self.projections:
            position = stored[projection.name]
            if known.get(projection.name) != position:
                projection.discard()
                if position == 0:
                    projection.started_empty()
            projection.position = position
        self._known = dict(stored)

    def _forget(self) -> None:
        for projection in self.projections:
            projection.discard()
        self._known = None

    # --- rebuilding ------------------------------------------------------------------

    def reset(self, *, drop_indexes: bool = False) -> None:
        """Empty this runner's projections and set them back to position 0."""
        with self._lock:
            try:
                with self.db.transaction() as cur:
                    tracked_positions(cur, self.names, lock=True, kind=self.db.kind)
                    for projection in self.projections:
                        projection.reset(cur, drop_indexes=drop_indexes)
                    cur.executemany(f"UPDATE {TRACKING} SET position = 0 "
                                    "WHERE projection = ?", [[n] for n in self.names])
            except BaseException:
                self._forget()
                raise
            self._known = {n: 0 for n in self.names}

    def rebuild(self, batch_size: int | None = None, *, stop: int | None = None,
                progress: Progress | None = None) -> int:
        """Reset, then replay the log from position 0 (to `stop`, if given). Secondary
        indexes are dropped for the replay and built once at its end (if the replay is
        interrupted, the next runner to start builds them)."""
        with self._lock:
            self.reset(drop_indexes=True)
            try:
                return self.catch_up(batch_size, stop=stop, progress=progress)
            finally:
                create_tables(self.db, self.projections)

    # --- following the log -----------------------------------------------------------

    def start(self) -> None:
        """Follow the log in a background thread (LISTEN/NOTIFY on PostgreSQL, polling
        elsewhere) until `stop()`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name="projection-runner",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Block until the read models reflect `position` (read-your-writes). Catches up
        in the calling thread when no one else is, rather than wait for the follower."""
        deadline = time.monotonic() + timeout
        while True:
            if self.position >= position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._lock.acquire(blocking=False):
                try:
                    if self.position < position:
                        self._apply_batch(self.batch_size, None)
                except Exception as error:  # noqa: BLE001 - reported, then retried
                    self.last_error = error
                    log.warning("projection batch failed: %s", error)
                    time.sleep(min(0.05, remaining))
                finally:
                    self._lock.release()
            else:
                with self._advanced:
                    self._advanced.wait(min(remaining, 0.05))

    def _follow(self) -> None:
        waiter = self._make_waiter()
        backoff = 0.1
        try:
            while not self._stop.is_set():
                try:
                    self.catch_up()
                    self.last_error = None
                    backoff = 0.1
                except Exception as error:  # noqa: BLE001 - a follower must not die
                    self.last_error = error
                    log.exception("projection runner failed; retrying")
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                waiter()
                self._stop.wait(self.linger)
        finally:
            close = getattr(waiter, "close", None)
            if close is not None:
                close()

    def _make_waiter(self) -> Callable[[], None]:
        """What the follower waits on between catch-ups."""
        recorder = self.app.recorder
        channel = getattr(recorder, "channel_name", None)
        conninfo = getattr(self.db, "conninfo", None)
        if channel and conninfo:
            return _PostgresWaiter(conninfo, channel, self._stop, self.poll_interval * 5)
        if hasattr(recorder, "listen"):
            return _PopoWaiter(recorder, self._wake, self._stop, self.poll_interval)
        return _PollWaiter(self, self._stop, self._wake, self.poll_interval)


class _PollWaiter:
    """SQLite cannot be subscribed to: look at the head of the log now and then."""

    def __init__(self, runner: ProjectionRunner, stop: threading.Event,
                 wake: threading.Event, interval: float) -> None:
        self.runner, self.stop, self.wake, self.interval = runner, stop, wake, interval

    def __call__(self) -> None:
        while not self.stop.is_set():
            if self.runner.head() > self.runner.position:
                return
            self.wake.wait(self.interval)
            self.wake.clear()


class _PopoWaiter:
    """The in-memory recorder sets an event on every insert."""

    def __init__(self, recorder: Any, wake: threading.Event, stop: threading.Event,
                 interval: float) -> None:
        self.recorder, self.wake, self.stop, self.interval = recorder, wake, stop, interval
        recorder.listen(wake)

    def __call__(self) -> None:
        self.wake.wait(self.interval)
        self.wake.clear()

    def close(self) -> None:
        self.recorder.unlisten(self.wake)


class _PostgresWaiter:
    """LISTEN on the channel the library NOTIFYs on every insert into the events table."""

    def __init__(self, conninfo: str, channel: str, stop: threading.Event,
                 interval: float) -> None:
        self.conninfo, self.channel, self.stop, self.interval = (
            conninfo, channel, stop, interval)
        self.connection: Any = None

    def _connect(self) -> Any:
        import psycopg
        from psycopg import sql

        connection = psycopg.connect(self.conninfo, autocommit=True)
        connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        return connection

    def __call__(self) -> None:
        try:
            if self.connection is None:
                self.connection = self._connect()
                return  # catch up once more: events may have come before LISTEN
            for _ in self.connection.notifies(timeout=self.interval, stop_after=1):
                pass
        except Exception:  # noqa: BLE001 - fall back to polling until reconnected
            self.close()
            self.stop.wait(self.interval)

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # noqa: BLE001
                pass
            self.connection = None


def run_once(app: Any, db: Database, names: Sequence[str] | None = None, **kwargs: Any) -> int:
    """Catch the read models up once (for scripts and tests)."""
    return ProjectionRunner(app, db, projections=names).catch_up(**kwargs)
