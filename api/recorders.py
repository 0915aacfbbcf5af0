"""Recorders that also check read versions ("guards") inside the insert's transaction.

A command that decides on an aggregate it does not change — a rating decided on an
evaluation while the cycle is unlocked — must fail if that aggregate changed before the
rating is committed (the cycle was locked meanwhile). The command passes
`guards=[(aggregate id, version it read)]`; the recorder checks, in the same transaction
as the insert and after the table lock, that each is still the latest version, and raises
IntegrityError otherwise, so the command is decided again on fresh state and refused.
The rows written are exactly the library's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

Guard = tuple[UUID, int]


def check_guards(guards: Iterable[Guard], latest: Mapping[str, int]) -> None:
    for aggregate_id, version in guards:
        current = latest.get(str(aggregate_id), 0)
        if current != version:
            raise IntegrityError(
                f"aggregate {aggregate_id} moved from version {version} to {current} "
                "while the command was decided")


class GuardedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        # Checked after the insert, in its transaction (rolled back if a guard fails), so
        # that a neighbour in the same batch that moved a guarded aggregate counts.
        ids = super()._insert_events(c, stored_events, **kwargs)
        guards = list(kwargs.get("guards") or ())
        if guards:
            keys = sorted({g[0].hex for g in guards})
            c.execute(f"SELECT originator_id, MAX(originator_version) FROM "
                      f"{self.events_table_name} WHERE originator_id IN "
                      f"({','.join('?' * len(keys))}) GROUP BY originator_id", keys)
            latest = {str(UUID(row[0])): row[1] for row in c.fetchall()}
            check_guards(guards, latest)
        return ids


class GuardedPOPOApplicationRecorder(POPOApplicationRecorder):
    def _insert_events(self, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        with self._database_lock:
            guards = list(kwargs.get("guards") or ())
            if guards:
                latest = {str(g[0]): max(self._stored_events_index.get(str(g[0]), {}),
                                         default=0) for g in guards}
                for record in stored_events:  # neighbours in the same batch count
                    key = str(record.originator_id)
                    if key in latest:
                        latest[key] = max(latest[key], record.originator_version)
                check_guards(guards, latest)
            return super()._insert_events(stored_events, **kwargs)
