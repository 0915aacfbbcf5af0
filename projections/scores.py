"""Scores: one row per evaluation (in versions over time), with everything a list or a
detail view shows; plus the feedback items and rater assignments that scores are read with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections.base import (
    Appended,
    Projection,
    Table,
    Versioned,
    dumps,
    temporal_columns,
)
from projections.db import Cursor
from projections.decoding import LogEvent

EVALUATION = "kinerja.evaluation."
APPEAL = "kinerja.appeal."
PERILAKU_RATED = EVALUATION + "perilaku-rated.v1"
ITEM_TOPICS = frozenset(EVALUATION + t for t in (
    "item-planned.v1", "realisation-recorded.v1", "item-rated.v1"))

SCORES = Table(
    "rm_scores",
    temporal_columns([("evaluation_id", "TEXT NOT NULL")], [
        ("employee_id", "TEXT NOT NULL"),
        ("unit", "TEXT NOT NULL"),
        ("period", "TEXT NOT NULL"),
        ("cycle_id", "TEXT NOT NULL"),
        ("starts_on", "TEXT"),
        ("ends_on", "TEXT"),
        ("status", "TEXT NOT NULL"),
        ("hasil_kerja", "TEXT"),
        ("perilaku_kerja", "TEXT"),
        ("predikat", "TEXT"),
        ("result_source", "TEXT"),
        ("result_position", "BIGINT"),
        ("delivered_on", "TEXT"),
        ("delivered_by", "TEXT"),
        ("delivered_position", "BIGINT"),
        ("rubric_id", "TEXT NOT NULL"),
        ("rubric_version", "INTEGER NOT NULL"),
        ("perilaku_suggestion", "TEXT"),
        ("departure_reason", "TEXT"),
        ("feedback_at_delivery", "TEXT"),
        ("appeal_id", "TEXT"),
        ("appeal_status", "TEXT"),
        ("appeal_outcome", "TEXT"),
        ("appeal_due", "TEXT"),
        ("started_position", "BIGINT NOT NULL"),
    ]),
    key=("evaluation_id",),
    temporal=True,
    indexes=(
        "CREATE INDEX IF NOT EXISTS rm_scores_unit_period "
        "ON rm_scores (unit, period, evaluation_id, valid_from)",
        "CREATE INDEX IF NOT EXISTS rm_scores_period "
        "ON rm_scores (period, evaluation_id, valid_from)",
        "CREATE INDEX IF NOT EXISTS rm_scores_employee "
        "ON rm_scores (employee_id, evaluation_id, valid_from)",
        "CREATE INDEX IF NOT EXISTS rm_scores_appeal "
        "ON rm_scores (appeal_id) WHERE appeal_id IS NOT NULL AND valid_to IS NULL",
    ),
)

#: The RHK items of each evaluation, each in versions of its own (an item event changes
#: one small row, not the whole evaluation).
ITEMS = Table(
    "rm_score_items",
    temporal_columns([("item_key", "TEXT NOT NULL")], [
        ("evaluation_id", "TEXT NOT NULL"), ("item_id", "TEXT NOT NULL"),
        ("kind", "TEXT NOT NULL"), ("aspect", "TEXT NOT NULL"),
        ("indicator", "TEXT NOT NULL"), ("unit_of_measure", "TEXT"), ("supports", "TEXT"),
        ("target", "TEXT NOT NULL"), ("direction", "TEXT NOT NULL"),
        ("realisation", "TEXT"), ("evidence", "TEXT NOT NULL"), ("capaian", "TEXT"),
        ("computed_rating", "TEXT"), ("rating", "TEXT"), ("override_reason", "TEXT"),
        ("planned_position", "BIGINT NOT NULL"), ("realised_position", "BIGINT"),
        ("rated_position", "BIGINT"),
    ]),
    key=("item_key",),
    temporal=True,
    indexes=("CREATE INDEX IF NOT EXISTS rm_score_items_evaluation "
             "ON rm_score_items (evaluation_id, valid_from)",),
)

#: The seven BerAKHLAK ratings of each evaluation, each value in versions of its own.
PERILAKU = Table(
    "rm_score_perilaku",
    temporal_columns([("perilaku_key", "TEXT NOT NULL")], [
        ("evaluation_id", "TEXT NOT NULL"), ("value", "TEXT NOT NULL"),
        ("rating", "TEXT NOT NULL"),
    ]),
    key=("perilaku_key",),
    temporal=True,
    indexes=("CREATE INDEX IF NOT EXISTS rm_score_perilaku_evaluation "
             "ON rm_score_perilaku (evaluation_id, valid_from)",),
)

FEEDBACK = Table(
    "rm_feedback",
    (("position", "BIGINT NOT NULL"), ("feedback_id", "TEXT NOT NULL"),
     ("employee_id", "TEXT NOT NULL"), ("period", "TEXT NOT NULL"),
     ("source", "TEXT NOT NULL"), ("giver_ref", "TEXT NOT NULL"),
     ("score", "INTEGER NOT NULL"), ("value", "TEXT"), ("channel", "TEXT")),
    key=("position",),
    position_column="position",
    indexes=("CREATE INDEX IF NOT EXISTS rm_feedback_employee "
             "ON rm_feedback (employee_id, period, position)",),
)

SCOPE = Table(
    "rm_scope",
    (("position", "BIGINT NOT NULL"), ("employee_id", "TEXT NOT NULL"),
     ("rater_id", "TEXT NOT NULL"), ("effective_from", "TEXT NOT NULL")),
    key=("position",),
    position_column="position",
    indexes=("CREATE INDEX IF NOT EXISTS rm_scope_rater ON rm_scope (rater_id, employee_id)",),
)


class ScoresProjection(Projection):
    def __init__(self) -> None:
        super().__init__(name="scores", tables=(SCORES, ITEMS, PERILAKU, FEEDBACK, SCOPE))
        self.scores = Versioned(SCORES)
        self.items = Versioned(ITEMS)
        self.perilaku = Versioned(PERILAKU)
        self.feedback = Appended(FEEDBACK)
        self.scope = Appended(SCOPE)
        #: appeal id -> evaluation id, for appeal events after the filing.
        self._appeals: dict[str, str] = {}
        e = EVALUATION
        self.handlers = {
            e + "started.v1": self.evaluation_started,
            e + "item-planned.v1": self.item_planned,
            e + "targets-fixed.v1": self.targets_fixed,
            e + "realisation-recorded.v1": self.realisation_recorded,
            e + "item-rated.v1": self.item_rated,
            e + "perilaku-rated.v1": self.perilaku_rated,
            e + "result-delivered.v1": self.result_delivered,
            e + "result-changed.v1": self.result_changed,
            e + "appeal-lapsed.v1": self.appeal_lapsed,
            APPEAL + "filed.v1": self.appeal_filed,
            APPEAL + "explanation-requested.v1": self.explanation_requested,
            APPEAL + "decided.v1": self.appeal_decided,
            APPEAL + "withdrawn.v1": self.appeal_withdrawn,
            "kinerja.feedback.given.v1": self.feedback_given,
            "kinerja.employee.rater-assigned.v1": self.rater_assigned,
        }

    # --- batch plumbing ------------------------------------------------------------

    def started_empty(self) -> None:
        self.scores.complete = self.items.complete = self.perilaku.complete = True
        self._appeals = {}

    def prefetch(self, cur: Cursor, events: Sequence[LogEvent]) -> None:
        if self.scores.complete and self.items.complete and self.perilaku.complete:
            return
        evaluations = set()
        items, values = set(), set()
        for e in events:
            topic = e.topic
            if topic.startswith(EVALUATION):
                if topic == PERILAKU_RATED:
                    values.add(f"{e.originator_id}/{e.data['value']}")
                elif topic in ITEM_TOPICS:
                    items.add(f"{e.originator_id}/{e.data['item_id']}")
                else:
                    evaluations.add(e.originator_id)
            elif topic == APPEAL + "filed.v1":
                evaluations.add(e.data["evaluation_id"])
        self.scores.prefetch(cur, evaluations)
        self.items.prefetch(cur, items)
        self.perilaku.prefetch(cur, values)
        if self.scores.complete:
            return
        unknown = sorted({e.originator_id for e in events if e.topic.startswith(APPEAL)
                          and e.topic != APPEAL + "filed.v1"} - set(self._appeals))
        if unknown:
            marks = ", ".join("?" for _ in unknown)
            for key in self.scores.load_where(cur, f"appeal_id IN ({marks})", unknown):
                row = self.scores.get(key)
                if row is not None and row["appeal_id"]:
                    self._appeals[row["appeal_id"]] = key

    def flush(self, cur: Cursor) -> None:
        self.scores.flush(cur)
        self.items.flush(cur)
        self.perilaku.flush(cur)
        self.feedback.flush(cur)
        self.scope.flush(cur)

    def discard(self) -> None:
        self.scores.discard()
        self.items.discard()
        self.perilaku.discard()
        self.feedback.discard()
        self.scope.discard()
        self._appeals = {}

    def _change(self, event: LogEvent, evaluation_id: str | None = None,
                **changes: Any) -> None:
        key = evaluation_id or event.originator_id
        row = self.scores.get(key)
        if row is None:  # an event of a stream whose start this model never saw
            return
        self.scores.put({**row, **changes}, event.position)

    def _with_item(self, event: LogEvent, **changes: Any) -> None:
        key = f"{event.originator_id}/{event.data['item_id']}"
        item = self.items.get(key)
        if item is not None:
            self.items.put({**item, **changes}, event.position)

    # --- handlers, named after their events ----------------------------------------

    def evaluation_started(self, event: LogEvent) -> None:
        d = event.data
        self.scores.put({
            "evaluation_id": event.originator_id, "employee_id": d["employee_id"],
            "unit": d["unit"], "period": d["period"], "cycle_id": d["cycle_id"],
            "starts_on": d["starts_on"], "ends_on": d["ends_on"], "status": "planning",
            "hasil_kerja": None, "perilaku_kerja": None, "predikat": None,
            "result_source": None, "result_position": None, "delivered_on": None,
            "delivered_by": None, "delivered_position": None, "rubric_id": d["rubric_id"],
            "rubric_version": d["rubric_version"], "perilaku_suggestion": None,
            "departure_reason": None, "feedback_at_delivery": None, "appeal_id": None,
            "appeal_status": None, "appeal_outcome": None, "appeal_due": None,
            "started_position": event.position,
        }, event.position)

    def item_planned(self, event: LogEvent) -> None:
        d = event.data
        self.items.put({
            "item_key": f"{event.originator_id}/{d['item_id']}",
            "evaluation_id": event.originator_id, "item_id": d["item_id"],
            "kind": d["kind"], "aspect": d["aspect"], "indicator": d["indicator"],
            "unit_of_measure": d["unit_of_measure"], "supports": d["supports"],
            "target": d["target"], "direction": d["direction"], "realisation": None,
            "evidence": "[]", "capaian": None, "computed_rating": None, "rating": None,
            "override_reason": None, "planned_position": event.position,
            "realised_position": None, "rated_position": None,
        }, event.position)

    def targets_fixed(self, event: LogEvent) -> None:
        row = self.scores.get(event.originator_id)
        if row is not None:
            status = row["status"] if row["status"] == "delivered" else "in_progress"
            self._change(event, status=status)

    def realisation_recorded(self, event: LogEvent) -> None:
        d = event.data
        # As in the aggregate: a new realisation makes the earlier rating stale.
        self._with_item(event, realisation=d["value"], evidence=dumps(d["evidence"]),
                        realised_position=event.position, capaian=None,
                        computed_rating=None, rating=None, override_reason=None,
                        rated_position=None)

    def item_rated(self, event: LogEvent) -> None:
        d = event.data
        self._with_item(event, capaian=d["capaian"], computed_rating=d["computed_rating"],
                        rating=d["rating"], override_reason=d["override_reason"],
                        rated_position=event.position)

    def perilaku_rated(self, event: LogEvent) -> None:
        d = event.data
        self.perilaku.put({"perilaku_key": f"{event.originator_id}/{d['value']}",
                           "evaluation_id": event.originator_id, "value": d["value"],
                           "rating": d["rating"]}, event.position)

    def result_delivered(self, event: LogEvent) -> None:
        d = event.data
        self._change(event, status="delivered", hasil_kerja=d["hasil_kerja"],
                     perilaku_kerja=d["perilaku_kerja"], predikat=d["predikat"],
                     result_source="delivered", result_position=event.position,
                     delivered_on=d["delivered_on"], delivered_by=d["actor"],
                     delivered_position=event.position,
                     perilaku_suggestion=d["perilaku_suggestion"],
                     departure_reason=d["departure_reason"],
                     feedback_at_delivery=dumps(d["feedback"]), appeal_due=d["appeal_due"],
                     appeal_status="not_filed")

    def result_changed(self, event: LogEvent) -> None:
        d = event.data
        self._change(event, hasil_kerja=d["hasil_kerja"], perilaku_kerja=d["perilaku_kerja"],
                     predikat=d["predikat"], result_source=d["source"],
                     result_position=event.position)

    def appeal_lapsed(self, event: LogEvent) -> None:
        self._change(event, appeal_status="lapsed")

    def appeal_filed(self, event: LogEvent) -> None:
        evaluation_id = event.data["evaluation_id"]
        self._appeals[event.originator_id] = evaluation_id
        self._change(event, evaluation_id, appeal_id=event.originator_id,
                     appeal_status="filed")

    def explanation_requested(self, event: LogEvent) -> None:
        self._change(event, self._appeals.get(event.originator_id),
                     appeal_status="under_review")

    def appeal_decided(self, event: LogEvent) -> None:
        self._change(event, self._appeals.get(event.originator_id), appeal_status="decided",
                     appeal_outcome=event.data["outcome"])

    def appeal_withdrawn(self, event: LogEvent) -> None:
        self._change(event, self._appeals.get(event.originator_id),
                     appeal_status="withdrawn")

    def feedback_given(self, event: LogEvent) -> None:
        d = event.data
        self.feedback.add({
            "position": event.position, "feedback_id": event.originator_id,
            "employee_id": d["employee_id"], "period": d["period"], "source": d["source"],
            "giver_ref": d["giver_ref"], "score": d["score"], "value": d.get("value"),
            "channel": d.get("channel")})

    def rater_assigned(self, event: LogEvent) -> None:
        d = event.data
        self.scope.add({"position": event.position, "employee_id": event.originator_id,
                        "rater_id": d["rater_id"], "effective_from": d["effective_from"]})

