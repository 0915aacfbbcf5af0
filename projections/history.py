"""History: per employee, every event that touched their appraisals, who did it and why.

One row per (event, employee touched). Free text goes to `reason` (why: override,
departure, correction, decision reasons) or `note` (notes, grounds, questions,
explanations, comments), never into `change`. Personal text is stored as the marker
`[personal]` and opened from the event when a query answers (projections/decoding.py).
A peer's identity is kept in `giver_ref` alone: the API hides it from the rated
employee.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections.base import Appended, Keyed, Projection, Table, dumps
from projections.db import Cursor
from projections.decoding import LogEvent

HISTORY = Table(
    "rm_history",
    (("position", "BIGINT NOT NULL"), ("seq", "INTEGER NOT NULL"),
     ("employee_id", "TEXT NOT NULL"), ("evaluation_id", "TEXT"),
     ("recorded_at", "TEXT NOT NULL"), ("at", "TEXT"), ("actor", "TEXT"),
     ("topic", "TEXT NOT NULL"), ("kind", "TEXT NOT NULL"), ("marked", "TEXT"),
     ("change", "TEXT NOT NULL"), ("reason", "TEXT"), ("note", "TEXT"),
     ("giver_ref", "TEXT")),
    key=("position", "seq"),
    json_columns=frozenset({"change"}),
    position_column="position",
    indexes=("CREATE INDEX IF NOT EXISTS rm_history_employee "
             "ON rm_history (employee_id, position, seq)",),
)

#: Working state: evaluation or appeal id -> whose it is (and for evaluations, the cycle).
KEYS = Table(
    "rm_history_keys",
    (("key", "TEXT NOT NULL"), ("employee_id", "TEXT NOT NULL"),
     ("evaluation_id", "TEXT NOT NULL"), ("cycle_id", "TEXT")),
    key=("key",),
    content=False,
    indexes=("CREATE INDEX IF NOT EXISTS rm_history_keys_cycle "
             "ON rm_history_keys (cycle_id, employee_id)",),
)

#: Fields never copied into `change`: bookkeeping, the actor and times (columns of their
#: own), personal data, and free text (which goes to `reason` or `note`).
_NOT_CHANGES = frozenset({"timestamp", "originator_topic", "actor", "at", "nip", "name",
                          "giver_ref"})
#: Free-text fields giving a reason, and other free text, by field name.
_REASONS = ("reason", "reasons", "override_reason", "departure_reason", "justification")
_NOTES = ("note", "grounds", "question", "text", "comment")
#: Where `reason` and `note` come from (the first present field), for the query layer.
REASON_FIELDS, NOTE_FIELDS = _REASONS, _NOTES
_REASON_SET = frozenset(_REASONS)
_NOTE_SET = frozenset(_NOTES)
_KINDS: dict[str, str] = {}
_MARKED_BY_SOURCE = {"appeal": "appeal_decision", "calibration": "calibration",
                     "correction": "correction"}


def kind_of(topic: str) -> str:
    """`kinerja.evaluation.item-rated.v1` -> `evaluation.item_rated`."""
    parts = topic.split(".")
    return f"{parts[1]}.{parts[2].replace('-', '_')}" if len(parts) >= 4 else topic


def marked_of(topic: str, data: dict[str, Any]) -> str | None:
    """Corrections, overrides, appeal decisions and calibrations, marked as such."""
    if topic == "kinerja.evaluation.item-rated.v1":
        return "override" if data["rating"] != data["computed_rating"] else None
    if topic == "kinerja.evaluation.result-changed.v1":
        return _MARKED_BY_SOURCE.get(data["source"], data["source"])
    if topic == "kinerja.appeal.decided.v1":
        return "appeal_decision"
    if topic == "kinerja.evaluation.result-delivered.v1":
        return "departure" if data.get("departure_reason") else None
    if topic == "kinerja.cycle.reopened.v1":
        return "reopening"
    return None


class HistoryProjection(Projection):
    def __init__(self) -> None:
        super().__init__(name="history", tables=(HISTORY, KEYS))
        self.rows = Appended(HISTORY)
        self.keys = Keyed(KEYS)
        self._cur: Cursor | None = None
        self.handlers = {}

    def apply(self, event: LogEvent) -> None:
        topic = event.topic
        if topic.startswith("kinerja.evaluation."):
            self.evaluation_event(event)
        elif topic.startswith("kinerja.appeal."):
            self.appeal_event(event)
        elif topic.startswith("kinerja.employee."):
            self._add(event, event.originator_id, None)
        elif topic == "kinerja.feedback.given.v1":
            self._add(event, event.data["employee_id"], None,
                      giver_ref=event.data["giver_ref"])
        elif topic in ("kinerja.cycle.locked.v1", "kinerja.cycle.reopened.v1"):
            self.cycle_locked_or_reopened(event)

    def started_empty(self) -> None:
        self.keys.complete = True

    def prefetch(self, cur: Cursor, events: Sequence[LogEvent]) -> None:
        self._cur = cur
        self.keys.prefetch(cur, {e.originator_id for e in events
                                 if e.topic.startswith(("kinerja.evaluation.",
                                                        "kinerja.appeal."))})

    def flush(self, cur: Cursor) -> None:
        self.rows.flush(cur)
        self.keys.flush(cur)

    def discard(self) -> None:
        self.rows.discard()
        self.keys.discard()

    def _add(self, event: LogEvent, employee_id: str, evaluation_id: str | None, *,
             seq: int = 0, giver_ref: str | None = None) -> None:
        data = event.data
        reason = note = None
        change = {}
        for key, value in data.items():
            if key in _REASON_SET:
                if reason is None:
                    reason = value
            elif key in _NOTE_SET:
                if note is None:
                    note = value
            elif key not in _NOT_CHANGES:
                change[key] = value
        topic = event.topic
        kind = _KINDS.get(topic)
        if kind is None:
            kind = _KINDS[topic] = kind_of(topic)
        self.rows.add_values((
            event.position, seq, employee_id, evaluation_id, event.recorded_at,
            data.get("at"), data.get("actor"), topic, kind, marked_of(topic, data),
            dumps(change), reason, note, giver_ref))

    # --- handlers ------------------------------------------------------------------

    def evaluation_event(self, event: LogEvent) -> None:
        if event.topic == "kinerja.evaluation.started.v1":
            self.keys.put({"key": event.originator_id,
                           "employee_id": event.data["employee_id"],
                           "evaluation_id": event.originator_id,
                           "cycle_id": event.data["cycle_id"]})
        known = self.keys.get(event.originator_id)
        if known is not None:
            self._add(event, known["employee_id"], event.originator_id)

    def appeal_event(self, event: LogEvent) -> None:
        if event.topic == "kinerja.appeal.filed.v1":
            self.keys.put({"key": event.originator_id,
                           "employee_id": event.data["employee_id"],
                           "evaluation_id": event.data["evaluation_id"], "cycle_id": None})
        known = self.keys.get(event.originator_id)
        if known is not None:
            self._add(event, known["employee_id"], known["evaluation_id"])

    def cycle_locked_or_reopened(self, event: LogEvent) -> None:
        """A lock (no more ratings) or a reopening (corrections may follow) touches
        everyone with an evaluation in the cycle so far: one entry each."""
        assert self._cur is not None
        self.keys.flush(self._cur)
        self._cur.execute("SELECT DISTINCT employee_id FROM rm_history_keys "
                          "WHERE cycle_id = ? ORDER BY employee_id", [event.originator_id])
        for seq, (employee_id,) in enumerate(self._cur.fetchall()):
            self._add(event, employee_id, None, seq=seq)
