"""The read side the API calls: answers from the read-model tables, as of any position.

SKELETON: signatures and shapes are fixed; bodies are being written (issue 3).

Every answer is plain JSON-ready data (decimals as strings, dates ISO-8601) and carries
`"as_of": {"position": p}`: the log position the answer reflects. `as_of` accepts a log
position (int), an ISO-8601 datetime string or an aware `datetime` (the last position
recorded at or before it), a date string `YYYY-MM-DD` (the end of that day, UTC), or
None (the position the read models have reached). A position beyond what the read models
have reached is answered at the reached position (compare `as_of.position` with the one you
asked for; `ProjectionRunner.wait_for` first gives read-your-writes).
Unknown ids give None or empty lists; malformed `as_of`/`cursor` raise `InvalidAsOf` /
`InvalidCursor` (both `domain.errors.InvalidValue`, kind "invalid").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain.errors import InvalidValue
from domain.values import FeedbackSource
from projections.db import Database

#: Maps log positions to (ledger_index, leaf_hash hex); provided by the Merkle ledger.
LeafLookup = Callable[[list[int]], dict[int, tuple[int, str]]]

AsOf = int | str | datetime | None


class InvalidAsOf(InvalidValue):
    code = "invalid-as-of"


class InvalidCursor(InvalidValue):
    code = "invalid-cursor"


class ReadModels:
    """Queries over the read models in `db`. `app` (the AppraisalLedger) is needed only by
    `events()`, which pages the raw log itself."""

    def __init__(self, db: Database, app: Any = None) -> None:
        self.db = db
        self.app = app

    def list_evaluations(self, *, unit: str | None = None, period: str | None = None,
                         employee_id: str | None = None,
                         employee_ids: set[str] | None = None, as_of: AsOf = None,
                         cursor: str | None = None, limit: int = 50) -> dict[str, Any]:
        """{"items": [{"evaluation_id", "employee_id", "unit", "period", "cycle_id",
        "hasil_kerja", "perilaku_kerja", "predikat", "status", "result_source",
        "rubric": {"rubric_id", "version"}, "appeal": {"status", "due_by"},
        "position"}], "next_cursor", "as_of": {"position"}}"""
        raise NotImplementedError

    def evaluation(self, evaluation_id: str, *, as_of: AsOf = None) -> dict[str, Any] | None:
        """One score row in full (items, perilaku values, feedback summary, appeal)."""
        raise NotImplementedError

    def explain(self, evaluation_id: str, *, as_of: AsOf = None,
                leaf_lookup: LeafLookup | None = None) -> dict[str, Any] | None:
        """Issue 4's explain shape: {"evaluation_id", "employee_id", "period", "rubric":
        {"rubric_id", "version"}, "items": [{"item_id", "kind", "target", "realisation",
        "direction", "capaian", "rating", "override"}], "perilaku_values", "hasil_kerja",
        "perilaku_kerja", "predikat", "result_changes": [...], "inputs": [{"position",
        "topic", "ledger_index", "leaf_hash"}], "as_of": {"position"}}.
        `override` is None or {"computed_rating", "rating", "reason"}."""
        raise NotImplementedError

    def history(self, employee_id: str, *, as_of: AsOf = None) -> dict[str, Any]:
        """{"employee_id", "entries": [{"position", "recorded_at", "at", "actor", "topic",
        "kind", "evaluation_id", "change", "reason", "marked", "giver_ref"}],
        "as_of": {"position"}}. `giver_ref` is a peer's identity: hide it from the rated
        employee."""
        raise NotImplementedError

    def distribution(self, unit: str, period: str, *, as_of: AsOf = None
                     ) -> dict[str, Any] | None:
        """{"unit", "period", "cycle_id", "organisational_result", "counts": {predikat: n},
        "total", "rubric": {"rubric_id", "version"}, "quota_checks": [...], "holds",
        "locked", "as_of": {"position"}}"""
        raise NotImplementedError

    def audit(self, actor: str, *, as_of: AsOf = None, cursor: str | None = None,
              limit: int = 50) -> dict[str, Any]:
        """{"actor", "items": [{"position", "recorded_at", "topic", "aggregate_id",
        "aggregate_version"}], "next_cursor", "as_of": {"position"}}"""
        raise NotImplementedError

    def events(self, after: int = 0, limit: int = 100) -> dict[str, Any]:
        """The raw log: {"items": [{"position", "topic", "originator_id",
        "originator_version", "recorded_at", "actor", "payload"}], "next_after"}"""
        raise NotImplementedError

    def feedback_scores(self, employee_id: str, period: str
                        ) -> list[tuple[FeedbackSource, int]]:
        """The service's `feedback_lookup` port."""
        raise NotImplementedError

    def evaluation_scope(self, rater_id: str) -> set[str]:
        """Employee ids the rater was ever assigned to rate (RaterAssigned)."""
        raise NotImplementedError

    def position_at(self, moment: datetime) -> int:
        """The last position recorded at or before `moment` (0 before the first)."""
        raise NotImplementedError

    def current_position(self) -> int:
        """The position every read model has reached."""
        raise NotImplementedError
