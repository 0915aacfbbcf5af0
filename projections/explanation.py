"""Explanation: for each evaluation, the events it was derived from and every superseding
result, so that a score can be traced to its inputs and re-derived.

Inputs are the publication of the pinned rubric version, every event of the evaluation's
stream and of its appeal; a correction also cites the reopening that authorised it. The
intermediate values (capaian, item ratings, overrides, perilaku values) come from the
scores model at the same position; `ReadModels.explain` joins the two.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.personal_data import SHREDDED
from projections.base import Appended, Keyed, Projection, Table
from projections.db import Cursor
from projections.decoding import LogEvent

INPUTS = Table(
    "rm_explain_inputs",
    (("evaluation_id", "TEXT NOT NULL"), ("position", "BIGINT NOT NULL"),
     ("topic", "TEXT NOT NULL"), ("role", "TEXT NOT NULL")),
    key=("evaluation_id", "position"),
    position_column="position",
)

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

#: Working state: "rubric:<id>/<version>" and "reopening:<cycle id>/<version>" -> the
#: position of that event; "appeal:<id>" and "evaluation:<id>" -> whose it is.
REFS = Table(
    "rm_explain_refs",
    (("ref", "TEXT NOT NULL"), ("position", "BIGINT"), ("evaluation_id", "TEXT"),
     ("employee_id", "TEXT")),
    key=("ref",), content=False,
)


class ExplanationProjection(Projection):
    def __init__(self) -> None:
        super().__init__(name="explanation", tables=(INPUTS, CHANGES, REFS))
        self.inputs = Appended(INPUTS)
        self.changes = Appended(CHANGES)
        self.refs = Keyed(REFS)
        self._shredded: list[str] = []

    def started_empty(self) -> None:
        self.refs.complete = True

    def prefetch(self, cur: Cursor, events: Sequence[LogEvent]) -> None:
        wanted = set()
        for e in events:
            if e.topic.startswith("kinerja.evaluation."):
                wanted.add(f"evaluation:{e.originator_id}")
                if e.topic == "kinerja.evaluation.started.v1":
                    wanted.add(f"rubric:{e.data['rubric_id']}/{e.data['rubric_version']}")
                elif e.topic == "kinerja.evaluation.result-changed.v1":
                    wanted.add(f"reopening:{e.data['reference']}")
            elif e.topic.startswith("kinerja.appeal."):
                wanted.add(f"appeal:{e.originator_id}")
        self.refs.prefetch(cur, wanted)

    def flush(self, cur: Cursor) -> None:
        self.inputs.flush(cur)
        self.changes.flush(cur)
        self.refs.flush(cur)
        for employee_id in self._shredded:
            # As a replay would read it once the person's key is gone.
            cur.execute("UPDATE rm_explain_changes SET reason = ? WHERE employee_id = ? "
                        "AND reason IS NOT NULL", [SHREDDED, employee_id])
        self._shredded = []

    def discard(self) -> None:
        self.inputs.discard()
        self.changes.discard()
        self.refs.discard()
        self._shredded = []

    def apply(self, event: LogEvent) -> None:
        topic = event.topic
        if topic.startswith("kinerja.evaluation."):
            self.evaluation_event(event)
        elif topic.startswith("kinerja.appeal."):
            self.appeal_event(event)
        elif topic == "kinerja.rubric.version-published.v1":
            self.refs.put({"ref": f"rubric:{event.originator_id}/{event.data['version']}",
                           "position": event.position, "evaluation_id": None,
                           "employee_id": None})
        elif topic == "kinerja.employee.personal-data-shredded.v1":
            self._shredded.append(event.originator_id)
        elif topic == "kinerja.cycle.reopened.v1":
            self.refs.put({
                "ref": f"reopening:{event.originator_id}/{event.originator_version}",
                "position": event.position, "evaluation_id": None, "employee_id": None})

    def _input(self, evaluation_id: str, position: int, topic: str, role: str) -> None:
        self.inputs.add({"evaluation_id": evaluation_id, "position": position,
                         "topic": topic, "role": role})

    def evaluation_event(self, event: LogEvent) -> None:
        d = event.data
        evaluation_id = event.originator_id
        if event.topic == "kinerja.evaluation.started.v1":
            self.refs.put({"ref": f"evaluation:{evaluation_id}", "position": event.position,
                           "evaluation_id": evaluation_id, "employee_id": d["employee_id"]})
            rubric = self.refs.get(f"rubric:{d['rubric_id']}/{d['rubric_version']}")
            if rubric is not None:
                self._input(evaluation_id, rubric["position"],
                            "kinerja.rubric.version-published.v1", "rubric")
        known = self.refs.get(f"evaluation:{evaluation_id}")
        if known is None:
            return
        self._input(evaluation_id, event.position, event.topic, "evaluation")
        if event.topic == "kinerja.evaluation.result-changed.v1":
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

    def appeal_event(self, event: LogEvent) -> None:
        if event.topic == "kinerja.appeal.filed.v1":
            self.refs.put({"ref": f"appeal:{event.originator_id}", "position": event.position,
                           "evaluation_id": event.data["evaluation_id"],
                           "employee_id": event.data["employee_id"]})
        known = self.refs.get(f"appeal:{event.originator_id}")
        if known is not None:
            self._input(known["evaluation_id"], event.position, event.topic, "appeal")
