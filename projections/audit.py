"""Audit index: every event by position, who recorded it and when; by actor for audits,
by time for turning a date into a log position.

`log_time` is the latest recording time up to and including the row, so it never
decreases along the log even if clocks of concurrent writers disagree: the position as of
a time t is the last one whose `log_time` is at or before t, and everything before it was
recorded at or before t too.
"""

from __future__ import annotations

from collections.abc import Sequence

from projections.base import Appended, Projection, Table
from projections.db import Cursor
from projections.decoding import LogEvent

AUDIT = Table(
    "rm_audit",
    (("position", "BIGINT NOT NULL"), ("recorded_at", "TEXT NOT NULL"),
     ("log_time", "TEXT NOT NULL"), ("actor", "TEXT"), ("topic", "TEXT NOT NULL"),
     ("aggregate_id", "TEXT NOT NULL"), ("aggregate_version", "BIGINT NOT NULL")),
    key=("position",),
    position_column="position",
    indexes=(
        "CREATE INDEX IF NOT EXISTS rm_audit_actor ON rm_audit (actor, position)",
        "CREATE INDEX IF NOT EXISTS rm_audit_time ON rm_audit (log_time, position)",
        # The events of one aggregate: an explanation's inputs.
        "CREATE INDEX IF NOT EXISTS rm_audit_aggregate "
        "ON rm_audit (aggregate_id, position)",
    ),
)


class AuditProjection(Projection):
    def __init__(self) -> None:
        super().__init__(name="audit", tables=(AUDIT,))
        self.rows = Appended(AUDIT)
        self._log_time: str | None = None

    def started_empty(self) -> None:
        self._log_time = ""

    def prefetch(self, cur: Cursor, events: Sequence[LogEvent]) -> None:
        if self._log_time is None:
            cur.execute("SELECT log_time FROM rm_audit ORDER BY position DESC LIMIT 1")
            found = cur.fetchone()
            self._log_time = found[0] if found else ""

    def apply(self, event: LogEvent) -> None:
        assert self._log_time is not None
        if event.recorded_at > self._log_time:
            self._log_time = event.recorded_at
        self.rows.add_values((event.position, event.recorded_at, self._log_time,
                              event.data.get("actor"), event.topic, event.originator_id,
                              event.originator_version))

    def flush(self, cur: Cursor) -> None:
        self.rows.flush(cur)

    def discard(self) -> None:
        self.rows.discard()
        self._log_time = None
