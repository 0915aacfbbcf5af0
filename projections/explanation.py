"""Explanation: for each evaluation, every superseding result (appeal decision,
calibration, correction) with what it replaced and why, and the references an explanation
cites: the publication of each rubric version and each reopening of a cycle.

The inputs of an explanation are the publication of its pinned rubric version, every event
of the evaluation's stream and of its appeal (found in the audit index by aggregate id),
and for a correction the reopening that authorised it. The intermediate values (capaian,
item ratings, overrides, perilaku values) come from the scores model at the same position;
`ReadModels.explain` joins them.
"""

from __future__ import annotations

from collections.abc import Sequence

from projections.base import Appended, Keyed, Projection, Table
from projections.db import Cursor
from projections.decoding import LogEvent

CHANGES = Table(
    "rm_explain_changes",
    (("evaluation_id", "TEXT NOT NULL"), ("position", "BIGINT NOT NULL"),
     ("employee_id", "TEXT NOT NULL"), ("source", "TEXT NOT NULL"),
     ("reference", "TEXT NOT NULL"), ("reference_position", "BIGINT"),
     ("previous", "TEXT NOT NULL"), ("new", "TEXT NOT NULL"), ("reason", "TEXT"),
     ("actor", "TEXT"), ("at", "TEXT"), ("recorded_at", "TEXT NOT NULL")),
    key=("evaluation_id", "position"),
    json_columns=frozenset({"previous", "new"}),
    position_column="position",
)

#: "rubric:<id>/<version>" and "reopening:<cycle id>/<version>" -> the position of that
#: event; "evaluation:<id>" -> whose evaluation it is (from the position it started).
REFS = Table(
    "rm_explain_refs",
    (("ref", "TEXT NOT NULL"), ("position", "BIGINT NOT NULL"), ("evaluation_id", "TEXT"),
     ("employee_id", "TEXT")),
    key=("ref",), position_column="position",
)


class ExplanationProjection(Projection):
    def __init__(self) -> None:
        super().__init__(name="explanation", tables=(CHANGES, REFS))
        self.changes = Appended(CHANGES)
        self.refs = Keyed(REFS)

    def started_empty(self) -> None:
        self.refs.complete = True

    def prefetch(self, cur: Cursor, events: Sequence[LogEvent]) -> None:
        wanted = set()
        for e in events:
            if e.topic == "kinerja.evaluation.result-changed.v1":
                wanted.add(f"evaluation:{e.originator_id}")
                wanted.add(f"reopening:{e.data['reference']}")
        self.refs.prefetch(cur, wanted)

    def flush(self, cur: Cursor) -> None:
        self.changes.flush(cur)
        self.refs.flush(cur)

    def discard(self) -> None:
        self.changes.discard()
        self.refs.discard()

    def apply(self, event: LogEvent) -> None:
        topic = event.topic
        if topic == "kinerja.evaluation.started.v1":
            self.refs.put({"ref": f"evaluation:{event.originator_id}",
                           "position": event.position, "evaluation_id": event.originator_id,
                           "employee_id": event.data["employee_id"]})
        elif topic == "kinerja.evaluation.result-changed.v1":
            self.result_changed(event)
        elif topic == "kinerja.rubric.version-published.v1":
            self.refs.put({"ref": f"rubric:{event.originator_id}/{event.data['version']}",
                           "position": event.position, "evaluation_id": None,
                           "employee_id": None})
        elif topic == "kinerja.cycle.reopened.v1":
            self.refs.put({
                "ref": f"reopening:{event.originator_id}/{event.originator_version}",
                "position": event.position, "evaluation_id": None, "employee_id": None})

    def result_changed(self, event: LogEvent) -> None:
        d = event.data
        evaluation_id = event.originator_id
        known = self.refs.get(f"evaluation:{evaluation_id}")
        if known is None:
            return
        reopening = (self.refs.get(f"reopening:{d['reference']}")
                     if d["source"] == "correction" else None)
        self.changes.add({
            "evaluation_id": evaluation_id, "position": event.position,
            "employee_id": known["employee_id"], "source": d["source"],
            "reference": d["reference"],
            "reference_position": reopening["position"] if reopening else None,
            "previous": d["previous"],
            "new": {"hasil_kerja": d["hasil_kerja"], "perilaku_kerja": d["perilaku_kerja"],
                    "predikat": d["predikat"]},
            "reason": d["reason"], "actor": d["actor"], "at": d["at"],
            "recorded_at": event.recorded_at})
