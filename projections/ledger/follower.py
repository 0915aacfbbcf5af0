"""A background thread that keeps the ledger caught up and publishes checkpoints on time."""

from __future__ import annotations

import logging
import threading

from projections.ledger.store import Ledger

log = logging.getLogger("kinerja.ledger")


class LedgerFollower:
    """Calls `catch_up()` then `maybe_publish()` every `interval` seconds, or sooner after
    `poke()`. A failure is logged and retried with backoff (up to 30 s); it never ends the
    thread, and the last one is kept in `last_error` for health checks."""

    def __init__(self, ledger: Ledger, *, interval: float = 0.5) -> None:
        self.ledger = ledger
        self.interval = interval
        self.last_error: BaseException | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LedgerFollower:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kinerja-ledger",
                                            daemon=True)
            self._thread.start()
        return self

    def poke(self) -> None:
        """New events were written: catch up now rather than at the next tick."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def step(self) -> int:
        """One round, in the caller's thread: the tree size after it."""
        size = self.ledger.catch_up()
        self.ledger.maybe_publish()
        return size

    def _run(self) -> None:
        delay = self.interval
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as error:  # noqa: BLE001 - the follower must outlive a bad moment
                self.last_error = error
                log.exception("ledger follower failed; retrying in %.1f s", delay)
                delay = min(max(delay * 2, self.interval), 30.0)
            else:
                self.last_error = None
                delay = self.interval
            self._wake.wait(delay)
            self._wake.clear()
