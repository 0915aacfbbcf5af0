"""Distribution: per unit and period, how predikat are spread, against the quota rules of
the unit's organisational result (SE MenPANRB 3/2023).

The rules checked are those of the cycle's rubric version in force on the period's first
day (the version its evaluations pin), as published by the position the row reflects;
`domain.scoring.check_distribution` does the checking. A lock records what was checked at
the time (`lock`), which may differ from a later check after calibrations or appeals.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from domain.scoring import RubricPolicy, check_distribution
from domain.values import OrganisationalResult, Predikat
from projections.base import Keyed, Projection, Table, Versioned, dumps, temporal_columns
from projections.db import Cursor
from projections.decoding import LogEvent

DISTRIBUTION = Table(
    "rm_distribution",
    temporal_columns([("cycle_period", "TEXT NOT NULL")], [
        ("unit", "TEXT NOT NULL"), ("period", "TEXT NOT NULL"),
        ("cycle_id", "TEXT NOT NULL"), ("starts_on", "TEXT NOT NULL"),
        ("organisational_result", "TEXT"), ("counts", "TEXT NOT NULL"),
        ("delivered", "INTEGER NOT NULL"), ("enrolled", "INTEGER NOT NULL"),
        ("rubric_id", "TEXT NOT NULL"), ("rubric_version", "INTEGER"),
        ("checks", "TEXT NOT NULL"), ("holds", "INTEGER"), ("locked", "INTEGER NOT NULL"),
        ("lock", "TEXT"), ("reopened", "TEXT"),
    ]),
    key=("cycle_period",),
    json_columns=frozenset({"counts", "checks", "lock", "reopened"}),
    temporal=True,
    indexes=("CREATE INDEX IF NOT EXISTS rm_distribution_unit_period "
             "ON rm_distribution (unit, period, valid_from)",),
)

EVALUATIONS = Table(
    "rm_distribution_evaluations",
    (("evaluation_id", "TEXT NOT NULL"), ("cycle_period", "TEXT NOT NULL"),
     ("predikat", "TEXT")),
    key=("evaluation_id",), content=False,
)

CYCLES = Table(
    "rm_distribution_cycles",
    (("cycle_id", "TEXT NOT NULL"), ("unit", "TEXT NOT NULL"),
     ("rubric_id", "TEXT NOT NULL")),
    key=("cycle_id",), content=False,
)

RUBRICS = Table(
    "rm_distribution_rubrics",
    (("rubric_key", "TEXT NOT NULL"), ("rubric_id", "TEXT NOT NULL"),
     ("version", "INTEGER NOT NULL"), ("effective_from", "TEXT NOT NULL"),
     ("policy", "TEXT NOT NULL")),
    key=("rubric_key",), json_columns=frozenset({"policy"}), content=False,
)

PREDIKAT = tuple(str(p) for p in Predikat)


@lru_cache(maxsize=256)
def _policy(policy_json: str) -> RubricPolicy:
    import json
    return RubricPolicy.from_dict(json.loads(policy_json))


def quota_checks(counts: dict[str, int], organisational_result: str | None,
                 policy: RubricPolicy | None) -> tuple[list[dict[str, Any]], bool | None]:
    if organisational_result is None or policy is None:
        return [], None
    checks = check_distribution({Predikat(p): n for p, n in counts.items()},
                                OrganisationalResult(organisational_result), policy)
    return [c.to_dict() for c in checks], all(c.holds for c in checks)


class DistributionProjection(Projection):
    def __init__(self) -> None:
        super().__init__(name="distribution",
                         tables=(DISTRIBUTION, EVALUATIONS, CYCLES, RUBRICS))
        self.rows = Versioned(DISTRIBUTION)
        self.evaluations = Keyed(EVALUATIONS)
        self.cycles = Keyed(CYCLES)
        self.rubrics = Keyed(RUBRICS)
        #: Parsed policies by rubric key (published versions never change).
        self._policies: dict[str, RubricPolicy] = {}
        c, e = "kinerja.cycle.", "kinerja.evaluation."
        self.handlers = {
            "kinerja.rubric.version-published.v1": self.version_published,
            c + "started.v1": self.cycle_started,
            c + "period-opened.v1": self.period_opened,
            c + "evaluations-enrolled.v1": self.evaluations_enrolled,
            c + "organisational-result-set.v1": self.organisational_result_set,
            c + "locked.v1": self.locked,
            c + "reopened.v1": self.reopened,
            e + "started.v1": self.evaluation_started,
            e + "result-delivered.v1": self.result_settled,
            e + "result-changed.v1": self.result_settled,
        }

    def started_empty(self) -> None:
        for cache in (self.rows, self.evaluations, self.cycles, self.rubrics):
            cache.complete = True

    def prefetch(self, cur: Cursor, events: Sequence[LogEvent]) -> None:
        # Rows per unit and period, cycles and rubric versions are few: all in memory.
        if not self.rows.complete:
            self.rows.load_where(cur, "1 = 1", ())
            self.rows.complete = True
        self.cycles.load_all(cur)
        self.rubrics.load_all(cur)
        self.evaluations.prefetch(cur, {e.originator_id for e in events
                                        if e.topic.startswith("kinerja.evaluation.")})

    def flush(self, cur: Cursor) -> None:
        for cache in (self.rows, self.evaluations, self.cycles, self.rubrics):
            cache.flush(cur)

    def discard(self) -> None:
        for cache in (self.rows, self.evaluations, self.cycles, self.rubrics):
            cache.discard()

    # --- derivation ------------------------------------------------------------------

    def _version_in_force(self, rubric_id: str, day: str) -> dict[str, Any] | None:
        """As `Rubric.version_in_force`: the latest effective date on or before `day`,
        of two with the same date the later version."""
        candidates = [(r["effective_from"], r["version"], r)
                      for r in self.rubrics.current.values()
                      if r is not None and r["rubric_id"] == rubric_id
                      and r["effective_from"] <= day]
        return max(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None

    def _put(self, row: dict[str, Any], position: int) -> None:
        """Store `row` with its checks recomputed, if anything changed."""
        rubric = self._version_in_force(row["rubric_id"], row["starts_on"])
        policy = None
        if rubric is not None and row["organisational_result"] is not None:
            policy = self._policies.get(rubric["rubric_key"])
            if policy is None:
                policy = self._policies[rubric["rubric_key"]] = _policy(dumps(rubric["policy"]))
        checks, holds = quota_checks(row["counts"], row["organisational_result"], policy)
        row = {**row, "rubric_version": rubric["version"] if rubric else None,
               "checks": checks, "holds": None if holds is None else int(holds)}
        if row != self.rows.get(row["cycle_period"]):
            self.rows.put(row, position)

    def _rows_of_cycle(self, cycle_id: str) -> list[dict[str, Any]]:
        return sorted((r for r in self.rows.current.values()
                       if r is not None and r["cycle_id"] == cycle_id),
                      key=lambda r: r["cycle_period"])

    # --- handlers ------------------------------------------------------------------

    def version_published(self, event: LogEvent) -> None:
        d = event.data
        self.rubrics.put({"rubric_key": f"{event.originator_id}/{d['version']}",
                          "rubric_id": event.originator_id, "version": d["version"],
                          "effective_from": d["effective_from"], "policy": d["policy"]})
        for cycle in self.cycles.current.values():
            if cycle is not None and cycle["rubric_id"] == event.originator_id:
                for row in self._rows_of_cycle(cycle["cycle_id"]):
                    self._put(row, event.position)

    def cycle_started(self, event: LogEvent) -> None:
        d = event.data
        self.cycles.put({"cycle_id": event.originator_id, "unit": d["unit"],
                         "rubric_id": d["rubric_id"]})

    def period_opened(self, event: LogEvent) -> None:
        cycle = self.cycles.get(event.originator_id)
        if cycle is None:
            return
        d = event.data
        self._put({
            "cycle_period": f"{event.originator_id}/{d['period']}", "unit": cycle["unit"],
            "period": d["period"], "cycle_id": event.originator_id,
            "starts_on": d["starts_on"], "organisational_result": None,
            "counts": {p: 0 for p in PREDIKAT}, "delivered": 0, "enrolled": 0,
            "rubric_id": cycle["rubric_id"], "locked": 0, "lock": None, "reopened": None,
        }, event.position)

    def _row(self, cycle_id: str, period: str) -> dict[str, Any] | None:
        return self.rows.get(f"{cycle_id}/{period}")

    def evaluations_enrolled(self, event: LogEvent) -> None:
        row = self._row(event.originator_id, event.data["period"])
        if row is not None:
            self._put({**row, "enrolled": row["enrolled"] + len(event.data["evaluation_ids"])},
                      event.position)

    def organisational_result_set(self, event: LogEvent) -> None:
        row = self._row(event.originator_id, event.data["period"])
        if row is not None:
            self._put({**row, "organisational_result": event.data["result"]}, event.position)

    def locked(self, event: LogEvent) -> None:
        d = event.data
        for row in self._rows_of_cycle(event.originator_id):
            prefix = f"{row['period']}: "
            lock = {"position": event.position, "at": d["at"],
                    "justification": d["justification"],
                    "breaches": [b for b in d["breaches"] if b.startswith(prefix)],
                    "checks": d["distribution"].get(row["period"])}
            self._put({**row, "locked": 1, "lock": lock}, event.position)

    def reopened(self, event: LogEvent) -> None:
        d = event.data
        for row in self._rows_of_cycle(event.originator_id):
            self._put({**row, "locked": 0, "reopened": {
                "position": event.position, "at": d["at"], "authority": d["authority"]}},
                event.position)

    def evaluation_started(self, event: LogEvent) -> None:
        d = event.data
        self.evaluations.put({"evaluation_id": event.originator_id,
                              "cycle_period": f"{d['cycle_id']}/{d['period']}",
                              "predikat": None})

    def result_settled(self, event: LogEvent) -> None:
        evaluation = self.evaluations.get(event.originator_id)
        if evaluation is None:
            return
        row = self.rows.get(evaluation["cycle_period"])
        old, new = evaluation["predikat"], event.data["predikat"]
        self.evaluations.put({**evaluation, "predikat": new})
        if row is None or old == new:
            return
        counts = dict(row["counts"])
        if old is not None:
            counts[old] -= 1
        counts[new] += 1
        self._put({**row, "counts": counts,
                   "delivered": row["delivered"] + (old is None)}, event.position)
