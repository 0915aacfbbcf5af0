"""The read side the API calls: answers from the read-model tables, as of any position.

Every answer is plain JSON-ready data (decimals as strings, dates ISO-8601) and carries
`"as_of": {"position": p}`, the log position it reflects. `as_of` accepts:

- None: the position every read model has reached;
- an int (or a string of digits): that log position;
- an aware `datetime` or an ISO-8601 date-time string with a zone (`Z`, `+07:00`): the
  last position recorded at or before that instant;
- a date `YYYY-MM-DD`: the end of that day in UTC.

A position beyond what the read models have reached is answered at the reached position
(so `as_of.position` may be lower than asked; `ProjectionRunner.wait_for(p)` first gives
read-your-writes). Cursors pin the position of the first page, so later pages come from
the same snapshot. Unknown ids give None or empty lists; a malformed `as_of` or `cursor`
raises `InvalidAsOf` / `InvalidCursor` (`domain.errors.InvalidValue`, kind "invalid").
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from domain.errors import InvalidValue
from domain.scoring import FeedbackSummary
from domain.values import BerakhlakValue, FeedbackSource, Predikat
from projections.base import loads
from projections.catalog import NAMES, TRACKING, create_tables
from projections.db import Cursor, Database
from projections.decoding import PERSONAL, EventDecoder, utc_text
from projections.history import NOTE_FIELDS, REASON_FIELDS

#: Maps log positions to (ledger_index, leaf_hash hex); provided by the Merkle ledger.
LeafLookup = Callable[[list[int]], dict[int, tuple[int, str]]]

AsOf = int | str | datetime | date | None

MAX_LIMIT = 500
_DIGITS = re.compile(r"^\d+$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_SCORE_COLUMNS = (
    "evaluation_id", "valid_from", "employee_id", "unit", "period", "cycle_id",
    "starts_on", "ends_on", "status", "hasil_kerja", "perilaku_kerja", "predikat",
    "result_source", "result_position", "delivered_on", "delivered_by", "rubric_id",
    "rubric_version", "delivered_position", "perilaku_suggestion", "departure_reason",
    "feedback_at_delivery",
    "appeal_id", "appeal_status", "appeal_outcome", "appeal_due", "started_position")
_ITEM_COLUMNS = (
    "valid_from", "item_id", "kind", "aspect", "indicator", "unit_of_measure", "supports",
    "target", "direction", "realisation", "evidence", "capaian", "computed_rating",
    "rating", "override_reason", "planned_position", "realised_position", "rated_position")
_DISTRIBUTION_COLUMNS = (
    "valid_from", "unit", "period", "cycle_id", "organisational_result", "counts",
    "delivered", "enrolled", "rubric_id", "rubric_version", "checks", "holds", "locked",
    "lock", "reopened")
_HISTORY_COLUMNS = ("position", "seq", "employee_id", "evaluation_id", "recorded_at", "at",
                    "actor", "topic", "kind", "marked", "change", "reason", "note",
                    "giver_ref")
_VALID_AT = "valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"


class InvalidAsOf(InvalidValue):
    code = "invalid-as-of"


class InvalidCursor(InvalidValue):
    code = "invalid-cursor"


def encode_cursor(key: Any, position: int) -> str:
    raw = json.dumps({"k": key, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key, position = data["k"], data["p"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError):
        raise InvalidCursor("the cursor is not one this service gave out") from None
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise InvalidCursor("the cursor is not one this service gave out")
    return key, position


def _limit(limit: int, most: int = MAX_LIMIT) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InvalidValue(f"limit must be a whole number from 1 to {most}")
    return min(limit, most)


def _row(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(names, values))


def _override(item: dict[str, Any]) -> dict[str, Any] | None:
    if item.get("rating") is None or item["rating"] == item.get("computed_rating"):
        return None
    return {"computed_rating": item["computed_rating"], "rating": item["rating"],
            "reason": item.get("override_reason")}


def _item(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "item_id": item["item_id"], "kind": item["kind"], "aspect": item["aspect"],
        "indicator": item["indicator"], "unit_of_measure": item["unit_of_measure"],
        "supports": item["supports"], "target": item["target"],
        "realisation": item["realisation"], "evidence": loads(item["evidence"]),
        "direction": item["direction"], "capaian": item["capaian"],
        "computed_rating": item["computed_rating"], "rating": item["rating"],
        "override": _override(item), "planned_position": item["planned_position"],
        "realised_position": item["realised_position"],
        "rated_position": item["rated_position"],
    }


def _perilaku(values: dict[str, str]) -> dict[str, str]:
    return {str(v): values[str(v)] for v in BerakhlakValue if str(v) in values}


def _summary(row: dict[str, Any], position: int | None = None) -> dict[str, Any]:
    appeal = None
    if row["appeal_status"] is not None:
        appeal = {"appeal_id": row["appeal_id"], "status": row["appeal_status"],
                  "outcome": row["appeal_outcome"], "due_by": row["appeal_due"]}
    return {
        "evaluation_id": row["evaluation_id"], "employee_id": row["employee_id"],
        "unit": row["unit"], "period": row["period"], "cycle_id": row["cycle_id"],
        "hasil_kerja": row["hasil_kerja"], "perilaku_kerja": row["perilaku_kerja"],
        "predikat": row["predikat"], "status": row["status"],
        "result_source": row["result_source"], "delivered_on": row["delivered_on"],
        "rubric": {"rubric_id": row["rubric_id"], "version": row["rubric_version"]},
        "appeal": appeal,
        "position": row["valid_from"] if position is None else position,
    }


class ReadModels:
    """Queries over the read models in `db`. `app` (the AppraisalLedger) is needed only by
    `events()`, which pages the raw log itself."""

    def __init__(self, db: Database, app: Any = None) -> None:
        self.db = db
        self.app = app
        self._decoder: EventDecoder | None = None
        self._opener: EventDecoder | None = None
        create_tables(db)

    # --- positions -------------------------------------------------------------------

    def current_position(self) -> int:
        """The position every read model has reached."""
        with self.db.reading() as cur:
            return self._reached(cur)

    @staticmethod
    def _reached(cur: Cursor) -> int:
        marks = ", ".join("?" for _ in NAMES)
        cur.execute(f"SELECT MIN(position) FROM {TRACKING} WHERE projection IN ({marks})",
                    list(NAMES))
        found = cur.fetchone()
        return int(found[0]) if found and found[0] is not None else 0

    def position_at(self, moment: datetime | date | str) -> int:
        """The last position recorded at or before `moment` (0 before the first)."""
        with self.db.reading() as cur:
            return min(self._position_at(cur, moment), self._reached(cur))

    def _position_at(self, cur: Cursor, moment: datetime | date | str) -> int:
        if isinstance(moment, str):
            moment = _parse_moment(moment)
        if isinstance(moment, datetime):
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise InvalidAsOf("a time for as_of must carry a time zone (Z or +07:00)")
            cur.execute("SELECT MAX(position) FROM rm_audit WHERE log_time <= ?",
                        [utc_text(moment)])
        else:
            next_day = datetime.combine(moment + timedelta(days=1), time(),
                                        tzinfo=timezone.utc)
            cur.execute("SELECT MAX(position) FROM rm_audit WHERE log_time < ?",
                        [utc_text(next_day)])
        found = cur.fetchone()
        return int(found[0]) if found and found[0] is not None else 0

    def _resolve(self, cur: Cursor, as_of: AsOf) -> int:
        reached = self._reached(cur)
        if as_of is None:
            return reached
        if isinstance(as_of, bool):
            raise InvalidAsOf("as_of is a log position or an ISO-8601 time")
        if isinstance(as_of, str) and _DIGITS.match(as_of.strip()):
            as_of = int(as_of.strip())
        if isinstance(as_of, int):
            if as_of < 0:
                raise InvalidAsOf("a log position is zero or more")
            return min(as_of, reached)
        if isinstance(as_of, (str, datetime, date)):
            return min(self._position_at(cur, as_of), reached)
        raise InvalidAsOf("as_of is a log position or an ISO-8601 time")

    # --- scores ----------------------------------------------------------------------

    def list_evaluations(self, *, unit: str | None = None, period: str | None = None,
                         employee_id: str | None = None,
                         employee_ids: set[str] | None = None, as_of: AsOf = None,
                         cursor: str | None = None, limit: int = 50) -> dict[str, Any]:
        """One page of evaluations as they stood at a position, ordered by id:
        {"items": [{"evaluation_id", "employee_id", "unit", "period", "cycle_id",
        "hasil_kerja", "perilaku_kerja", "predikat", "status", "result_source",
        "delivered_on", "rubric": {"rubric_id", "version"}, "appeal": None | {"appeal_id",
        "status", "outcome", "due_by"}, "position"}], "next_cursor", "as_of": {"position"}}.
        `employee_ids` restricts to a set (a rater's scope); an empty set gives nothing."""
        size = _limit(limit)
        with self.db.reading() as cur:
            if cursor is not None:
                after, position = decode_cursor(cursor)
                if not isinstance(after, str):
                    raise InvalidCursor("the cursor is not one this service gave out")
            else:
                after, position = None, self._resolve(cur, as_of)
            if employee_ids is not None and not employee_ids:
                return {"items": [], "next_cursor": None, "as_of": {"position": position}}
            where, params = [_VALID_AT], [position, position]
            for column, value in (("unit", unit), ("period", period),
                                  ("employee_id", employee_id)):
                if value is not None:
                    where.append(f"{column} = ?")
                    params.append(value)
            if employee_ids is not None:
                ids = sorted(employee_ids)
                where.append(f"employee_id IN ({', '.join('?' for _ in ids)})")
                params.extend(ids)
            if after is not None:
                where.append("evaluation_id > ?")
                params.append(after)
            cur.execute(f"SELECT {', '.join(_SCORE_COLUMNS)} FROM rm_scores "
                        f"WHERE {' AND '.join(where)} ORDER BY evaluation_id "
                        f"LIMIT {size + 1}", params)
            rows = [_row(_SCORE_COLUMNS, r) for r in cur.fetchall()]
            more = len(rows) > size
            rows = rows[:size]
            last = self._last_positions(cur, rows, position)
        return {"items": [_summary(r, last[r["evaluation_id"]]) for r in rows],
                "next_cursor": (encode_cursor(rows[-1]["evaluation_id"], position)
                                if more else None),
                "as_of": {"position": position}}

    @staticmethod
    def _last_positions(cur: Cursor, rows: list[dict[str, Any]],
                        position: int) -> dict[str, int]:
        """For each evaluation, the last position (at most `position`) that changed any
        part of it: its own row, an item or a perilaku value."""
        last = {r["evaluation_id"]: r["valid_from"] for r in rows}
        if not rows:
            return last
        ids = sorted(last)
        marks = ", ".join("?" for _ in ids)
        # Both tables in one statement: one round trip.
        cur.execute(" UNION ALL ".join(
            f"SELECT evaluation_id, MAX(valid_from) FROM {table} "
            f"WHERE evaluation_id IN ({marks}) AND valid_from <= ? GROUP BY evaluation_id"
            for table in ("rm_score_items", "rm_score_perilaku")),
            [*ids, position, *ids, position])
        for evaluation_id, changed in cur.fetchall():
            last[evaluation_id] = max(last[evaluation_id], changed)
        return last

    def _score(self, cur: Cursor, evaluation_id: str, position: int
               ) -> dict[str, Any] | None:
        cur.execute(f"SELECT {', '.join(_SCORE_COLUMNS)} FROM rm_scores "
                    f"WHERE evaluation_id = ? AND {_VALID_AT}",
                    [str(evaluation_id), position, position])
        found = cur.fetchone()
        if found is None:
            return None
        row = _row(_SCORE_COLUMNS, found)
        row["feedback_at_delivery"] = loads(row["feedback_at_delivery"])
        cur.execute(f"SELECT {', '.join(_ITEM_COLUMNS)} FROM rm_score_items "
                    f"WHERE evaluation_id = ? AND {_VALID_AT} ORDER BY planned_position",
                    [row["evaluation_id"], position, position])
        row["items"] = [_row(_ITEM_COLUMNS, r) for r in cur.fetchall()]
        cur.execute("SELECT valid_from, value, rating FROM rm_score_perilaku "
                    f"WHERE evaluation_id = ? AND {_VALID_AT}",
                    [row["evaluation_id"], position, position])
        perilaku = cur.fetchall()
        row["perilaku"] = {value: rating for _, value, rating in perilaku}
        row["last_position"] = max([row["valid_from"]]
                                   + [i["valid_from"] for i in row["items"]]
                                   + [p for p, _, _ in perilaku])
        return row

    def _feedback(self, cur: Cursor, employee_id: str, period: str,
                  position: int) -> dict[str, Any]:
        cur.execute("SELECT source, score FROM rm_feedback WHERE employee_id = ? "
                    "AND period = ? AND position <= ? ORDER BY position",
                    [employee_id, period, position])
        return FeedbackSummary.of_scores(
            (FeedbackSource(s), int(n)) for s, n in cur.fetchall()).to_dict()

    def evaluation(self, evaluation_id: str, *, as_of: AsOf = None
                   ) -> dict[str, Any] | None:
        """One evaluation in full as it stood at a position: the list fields plus
        "items", "perilaku_values", "feedback" (live summary by source),
        "feedback_at_delivery", "perilaku_suggestion", "departure_reason", "starts_on",
        "ends_on"; None if it did not exist then."""
        with self.db.reading() as cur:
            position = self._resolve(cur, as_of)
            row = self._score(cur, evaluation_id, position)
            if row is None:
                return None
            feedback = self._feedback(cur, row["employee_id"], row["period"], position)
        self._open_score_texts(row, [])
        return {**_summary(row, row["last_position"]), "starts_on": row["starts_on"],
                "ends_on": row["ends_on"],
                "items": [_item(i) for i in row["items"]],
                "perilaku_values": _perilaku(row["perilaku"]), "feedback": feedback,
                "feedback_at_delivery": row["feedback_at_delivery"],
                "perilaku_suggestion": row["perilaku_suggestion"],
                "departure_reason": row["departure_reason"],
                "as_of": {"position": position}}

    def explain(self, evaluation_id: str, *, as_of: AsOf = None,
                leaf_lookup: LeafLookup | None = None) -> dict[str, Any] | None:
        """How the result was derived, as it stood at a position: the pinned rubric
        version, each item (target, realisation, direction, capaian, computed and final
        rating, override with its reason), the perilaku values, HK, PK, predikat, every
        superseding change (previous, new, source, reason), and the input events with
        their log positions. `leaf_lookup` fills each input's `ledger_index` and
        `leaf_hash` (None without it). None if the evaluation did not exist then."""
        with self.db.reading() as cur:
            position = self._resolve(cur, as_of)
            row = self._score(cur, evaluation_id, position)
            if row is None:
                return None
            feedback = self._feedback(cur, row["employee_id"], row["period"], position)
            streams = [row["evaluation_id"]] + ([row["appeal_id"]] if row["appeal_id"] else [])
            cur.execute("SELECT position, topic, aggregate_id FROM rm_audit WHERE aggregate_id "
                        f"IN ({', '.join('?' for _ in streams)}) AND position <= ? "
                        "ORDER BY position", [*streams, position])
            inputs = {p: {"position": p, "topic": t,
                          "role": "evaluation" if a == row["evaluation_id"] else "appeal"}
                      for p, t, a in cur.fetchall()}
            cur.execute("SELECT position FROM rm_explain_refs WHERE ref = ? AND position <= ?",
                        [f"rubric:{row['rubric_id']}/{row['rubric_version']}", position])
            published = cur.fetchone()
            if published is not None:
                inputs[published[0]] = {"position": published[0],
                                        "topic": "kinerja.rubric.version-published.v1",
                                        "role": "rubric"}
            cur.execute("SELECT position, source, reference, reference_position, previous, "
                        "new, reason, actor, at, recorded_at FROM rm_explain_changes "
                        "WHERE evaluation_id = ? AND position <= ? ORDER BY position",
                        [row["evaluation_id"], position])
            changes = []
            for (at_position, source, reference, reference_position, previous, new,
                 reason, actor, at, recorded_at) in cur.fetchall():
                changes.append({"position": at_position, "source": source,
                                "reference": reference, "previous": loads(previous),
                                "new": loads(new), "reason": reason, "actor": actor,
                                "at": at, "recorded_at": recorded_at})
                if reference_position is not None and reference_position <= position:
                    inputs.setdefault(reference_position, {
                        "position": reference_position,
                        "topic": "kinerja.cycle.reopened.v1", "role": "reopening"})
        self._open_score_texts(row, changes)
        ordered = [inputs[p] for p in sorted(inputs)]
        leaves = leaf_lookup(list(sorted(inputs))) if leaf_lookup else {}
        for entry in ordered:
            index, leaf = leaves.get(entry["position"], (None, None))
            entry["ledger_index"], entry["leaf_hash"] = index, leaf
        return {
            "evaluation_id": row["evaluation_id"], "employee_id": row["employee_id"],
            "unit": row["unit"], "period": row["period"], "cycle_id": row["cycle_id"],
            "status": row["status"],
            "rubric": {"rubric_id": row["rubric_id"], "version": row["rubric_version"]},
            "items": [_item(i) for i in row["items"]],
            "perilaku_values": _perilaku(row["perilaku"]),
            "perilaku_suggestion": row["perilaku_suggestion"],
            "departure_reason": row["departure_reason"],
            "feedback": feedback, "feedback_at_delivery": row["feedback_at_delivery"],
            "hasil_kerja": row["hasil_kerja"], "perilaku_kerja": row["perilaku_kerja"],
            "predikat": row["predikat"], "result_source": row["result_source"],
            "result_position": row["result_position"], "result_changes": changes,
            "inputs": ordered, "as_of": {"position": position},
        }

    # --- history, distribution, audit ------------------------------------------------

    def history(self, employee_id: str, *, as_of: AsOf = None, cursor: str | None = None,
                limit: int | None = None) -> dict[str, Any]:
        """{"employee_id", "entries": [{"position", "recorded_at", "at", "actor", "topic",
        "kind", "marked", "evaluation_id", "change", "reason", "note", "giver_ref"}],
        "next_cursor", "as_of": {"position"}} in log order. `marked` is "override",
        "correction", "calibration", "appeal_decision", "departure", "reopening" or None.
        `giver_ref` is a peer's identity: hide it from the rated employee. Without
        `limit`, every entry."""
        size = None if limit is None else _limit(limit, 5000)
        with self.db.reading() as cur:
            if cursor is not None:
                after, position = decode_cursor(cursor)
                if (not isinstance(after, list) or len(after) != 2
                        or not all(isinstance(a, int) for a in after)):
                    raise InvalidCursor("the cursor is not one this service gave out")
            else:
                after, position = [0, -1], self._resolve(cur, as_of)
            cur.execute(f"SELECT {', '.join(_HISTORY_COLUMNS)} FROM rm_history "
                        "WHERE employee_id = ? AND position <= ? AND (position, seq) > (?, ?) "
                        "ORDER BY position, seq"
                        + (f" LIMIT {size + 1}" if size else ""),
                        [str(employee_id), position, after[0], after[1]])
            rows = [_row(_HISTORY_COLUMNS, r) for r in cur.fetchall()]
        more = size is not None and len(rows) > size
        rows = rows[:size] if size is not None else rows
        entries = []
        for row in rows:
            row["change"] = loads(row["change"])
            entries.append({k: row[k] for k in _HISTORY_COLUMNS
                            if k not in ("seq", "employee_id")})
        sealed = [e for e in entries if PERSONAL in (e["reason"], e["note"])]
        opened = self._opened({e["position"] for e in sealed})
        for entry in sealed:
            data = opened.get(entry["position"], {})
            for column, fields in (("reason", REASON_FIELDS), ("note", NOTE_FIELDS)):
                if entry[column] == PERSONAL:
                    entry[column] = next((data[f] for f in fields if data.get(f) is not None),
                                         None)
        return {"employee_id": str(employee_id), "entries": entries,
                "next_cursor": (encode_cursor([rows[-1]["position"], rows[-1]["seq"]],
                                              position) if more else None),
                "as_of": {"position": position}}

    def distribution(self, unit: str, period: str, *, as_of: AsOf = None
                     ) -> dict[str, Any] | None:
        """{"unit", "period", "cycle_id", "organisational_result", "counts": {predikat:
        n}, "total" (delivered results), "enrolled", "rubric": {"rubric_id", "version"},
        "quota_checks": [{"predikat", "bound", "value", "count", "total", "holds"}],
        "holds" (None without an organisational result), "locked", "lock", "reopened",
        "position", "as_of": {"position"}}; None if the period was not open then."""
        with self.db.reading() as cur:
            position = self._resolve(cur, as_of)
            cur.execute(f"SELECT {', '.join(_DISTRIBUTION_COLUMNS)} FROM rm_distribution "
                        f"WHERE unit = ? AND period = ? AND {_VALID_AT}",
                        [unit, period, position, position])
            found = cur.fetchone()
        if found is None:
            return None
        row = _row(_DISTRIBUTION_COLUMNS, found)
        counts = loads(row["counts"])
        return {
            "unit": row["unit"], "period": row["period"], "cycle_id": row["cycle_id"],
            "organisational_result": row["organisational_result"],
            "counts": {str(p): counts.get(str(p), 0) for p in Predikat},
            "total": row["delivered"], "enrolled": row["enrolled"],
            "rubric": {"rubric_id": row["rubric_id"], "version": row["rubric_version"]},
            "quota_checks": loads(row["checks"]),
            "holds": None if row["holds"] is None else bool(row["holds"]),
            "locked": bool(row["locked"]), "lock": loads(row["lock"]),
            "reopened": loads(row["reopened"]), "position": row["valid_from"],
            "as_of": {"position": position},
        }

    def audit(self, actor: str, *, as_of: AsOf = None, cursor: str | None = None,
              limit: int = 50) -> dict[str, Any]:
        """What `actor` recorded, in log order: {"actor", "items": [{"position",
        "recorded_at", "topic", "aggregate_id", "aggregate_version"}], "next_cursor",
        "as_of": {"position"}}."""
        size = _limit(limit)
        with self.db.reading() as cur:
            if cursor is not None:
                after, position = decode_cursor(cursor)
                if not isinstance(after, int) or isinstance(after, bool):
                    raise InvalidCursor("the cursor is not one this service gave out")
            else:
                after, position = 0, self._resolve(cur, as_of)
            cur.execute("SELECT position, recorded_at, topic, aggregate_id, aggregate_version "
                        "FROM rm_audit WHERE actor = ? AND position > ? AND position <= ? "
                        f"ORDER BY position LIMIT {size + 1}", [actor, after, position])
            rows = cur.fetchall()
        more = len(rows) > size
        items = [{"position": p, "recorded_at": r, "topic": t, "aggregate_id": a,
                  "aggregate_version": v} for p, r, t, a, v in rows[:size]]
        return {"actor": actor, "items": items,
                "next_cursor": encode_cursor(items[-1]["position"], position) if more else None,
                "as_of": {"position": position}}

    # --- personal text, opened from the events -----------------------------------------

    def _opened(self, positions: set[int]) -> dict[int, dict[str, Any]]:
        """The events at these positions with their personal fields opened (`[dihapus]`
        once shredded); nothing without the application. Called outside any read-model
        transaction: opening may read the key store in the same database."""
        if self.app is None or not positions:
            return {}
        if self._opener is None:
            self._opener = EventDecoder(self.app, open_personal=True)
        found = {}
        for position in sorted(positions):
            notifications = self.app.recorder.select_notifications(position, 1)
            if notifications and notifications[0].id == position:
                found[position] = self._opener.decode_one(notifications[0]).data
        return found

    def _open_score_texts(self, row: dict[str, Any], changes: list[dict[str, Any]]) -> None:
        """Replace the read models' PERSONAL markers in an evaluation with the texts."""
        wanted = {i["rated_position"] for i in row["items"]
                  if i["override_reason"] == PERSONAL}
        if row["departure_reason"] == PERSONAL:
            wanted.add(row["delivered_position"])
        wanted.update(c["position"] for c in changes if c["reason"] == PERSONAL)
        if not wanted:
            return
        opened = self._opened(wanted)
        row["items"] = [
            {**i, "override_reason": opened.get(i["rated_position"], {}).get(
                "override_reason")} if i["override_reason"] == PERSONAL else i
            for i in row["items"]]
        if row["departure_reason"] == PERSONAL:
            row["departure_reason"] = opened.get(row["delivered_position"], {}).get(
                "departure_reason")
        for change in changes:
            if change["reason"] == PERSONAL:
                change["reason"] = opened.get(change["position"], {}).get("reason")

    # --- the raw log -----------------------------------------------------------------

    def events(self, after: int = 0, limit: int = 100) -> dict[str, Any]:
        """The raw log after a position: {"items": [{"position", "topic", "originator_id",
        "originator_version", "recorded_at", "actor", "payload"}], "next_after"}
        (`next_after` None once the end of the log is reached). The payload is every
        field of the event as recorded (personal fields included: filter by role)."""
        if self.app is None:
            raise RuntimeError("ReadModels.events needs the application: ReadModels(db, app)")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise InvalidValue("after is a log position, zero or more")
        size = _limit(limit, 1000)
        if self._decoder is None:
            self._decoder = EventDecoder(self.app, open_personal=True)
        notifications = self.app.recorder.select_notifications(after + 1, size)
        items = []
        for event in self._decoder.decode(notifications):
            payload = {k: v for k, v in event.data.items()
                       if k not in ("timestamp", "originator_topic")}
            items.append({"position": event.position, "topic": event.topic,
                          "originator_id": event.originator_id,
                          "originator_version": event.originator_version,
                          "recorded_at": event.recorded_at,
                          "actor": event.data.get("actor"), "payload": payload})
        return {"items": items,
                "next_after": items[-1]["position"] if len(items) == size else None}

    # --- ports for the service and the API -------------------------------------------

    def feedback_scores(self, employee_id: str, period: str
                        ) -> list[tuple[FeedbackSource, int]]:
        """Feedback about an employee in a period, as (source, score), in log order:
        the service's `feedback_lookup` port."""
        with self.db.reading() as cur:
            cur.execute("SELECT source, score FROM rm_feedback WHERE employee_id = ? "
                        "AND period = ? ORDER BY position", [str(employee_id), period])
            return [(FeedbackSource(s), int(n)) for s, n in cur.fetchall()]

    def evaluation_scope(self, rater_id: str) -> set[str]:
        """Employee ids `rater_id` was ever assigned to rate (RaterAssigned), so that a
        rater keeps seeing the evaluations they made after a reassignment."""
        with self.db.reading() as cur:
            cur.execute("SELECT DISTINCT employee_id FROM rm_scope WHERE rater_id = ?",
                        [str(rater_id)])
            return {r[0] for r in cur.fetchall()}


def _parse_moment(text: str) -> datetime | date:
    value = text.strip()
    try:
        if _DATE_ONLY.match(value):
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidAsOf(f"as_of {text!r} is neither a log position nor an ISO-8601 "
                          "time") from None
