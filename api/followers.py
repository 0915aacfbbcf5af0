"""The log's followers in a process of their own: `kinerja follow`.

By default `kinerja serve` runs two followers beside the API, as threads: the projection
runner (read models) and the Merkle ledger's appender (leaves, nodes, signed
checkpoints). Both share the API's interpreter lock, and under a stream of writes they
take a large share of it. `kinerja serve --no-follow` leaves them out, and `kinerja follow`
runs them here instead, on the same store. Several followers, and an API that catches up
by itself for a read that asks for its own write, may share one database: each batch of
either follower is one transaction that re-reads its position under a lock (see
`projections/runner.py` and `projections/ledger/store.py`).
"""

from __future__ import annotations

import logging
from typing import Any

from api.settings import Settings

log = logging.getLogger("kinerja.follow")


#: How long the follower lets new events gather before it catches up. Longer than the
#: in-process runner's 50 ms: here nothing waits on it (a read that asks for a position
#: catches up by itself), and a catch-up's fixed cost is spread over more events: at
#: about 3,000 writes/s, a quarter of a second took the follower's CPU per event from
#: about 100 µs to about 70 µs. The Merkle appender already runs every half second.
DEFAULT_LINGER = 0.25


class Followers:
    """The projection runner and the Merkle ledger follower over `settings`' store."""

    def __init__(self, settings: Settings, *, linger: float = DEFAULT_LINGER) -> None:
        from api.ledger_keys import open_merkle_ledger
        from api.store import open_ledger
        from projections.db import open_database
        from projections.ledger.follower import LedgerFollower
        from projections.runner import ProjectionRunner

        store = settings.store()
        if store.kind == "memory":
            raise ValueError("a memory:// store lives inside one process; another process "
                             "cannot follow it")
        # This process only reads the log: no group committer, no writer thread.
        self.ledger: Any = open_ledger(settings, group_commit=False)
        self._closers: list[Any] = [self.ledger.close]
        try:
            self.db = open_database(store, pool_size=2)
            self._closers.insert(0, self.db.close)
            self.runner = ProjectionRunner(self.ledger, self.db, linger=linger)
            self.merkle = open_merkle_ledger(settings, self.ledger, db=self.db)
            self._closers.insert(0, self.merkle.close)
            self.merkle_follower = LedgerFollower(self.merkle)
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        self.runner.start()
        self.merkle_follower.start()

    def stop(self) -> None:
        self.merkle_follower.stop()
        self.runner.stop()

    def close(self) -> None:
        for close in self._closers:
            try:
                close()
            except Exception:  # noqa: BLE001 - close the rest regardless
                log.exception("closing the followers")
        self._closers.clear()

    def __enter__(self) -> Followers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.close()
