"""Re-deriving an evaluation from its events alone: the heart of the evidence bundle.

`derive(evaluation_id, events)` replays the events of one evaluation's streams (the
evaluation, its appeal, the employee, the cycle, the rubric, and the feedback counted at
delivery), in log order, through the project's own scoring rules under the rubric
version pinned to the evaluation. It returns:

- `claims`: the derivation (items, capaian, ratings and overrides, perilaku values,
  HK, PK, predikat, every superseding change, the appeal, the result) computed from the
  rules, never copied from what an event says it computed;
- `timeline`: one line per event, in log order, for people to read;
- `problems`: every place where a recorded value disagrees with the rules (a capaian or
  rating that the pinned rubric does not give, a rating by someone not the rater in
  force, a rating while the cycle was locked, an appeal filed late or decided by someone
  not named to decide it, a stream with a version missing, ...).

The server builds a bundle's derivation and timeline with this function, and the offline
verifier runs it again on the proven leaf data; they must agree. Pure: the events are
plain JSON-ready mappings (decimals, dates and ids as strings), nothing is read or written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.base import derived_id
from domain.errors import DomainError
from domain.scoring import (
    FeedbackSummary,
    RubricPolicy,
    capaian,
    hasil_kerja,
    perilaku_kerja,
    predikat,
    rate_capaian,
    round_capaian,
    suggest_perilaku,
)
from domain.values import BerakhlakValue, ChangeSource, Direction, FeedbackSource, ItemKind, Rating

EVALUATION = "kinerja.evaluation."
APPEAL = "kinerja.appeal."
EMPLOYEE = "kinerja.employee."
CYCLE = "kinerja.cycle."
RUBRIC = "kinerja.rubric."
FEEDBACK_GIVEN = "kinerja.feedback.given.v1"

#: Evaluation events that only the rater in force may record, and never in a locked cycle.
_RATER_TOPICS = frozenset({
    "kinerja.evaluation.item-rated.v1", "kinerja.evaluation.perilaku-rated.v1",
    "kinerja.evaluation.result-delivered.v1"})
#: Evaluation events refused while the cycle is locked.
_UNLOCKED_TOPICS = _RATER_TOPICS | {
    "kinerja.evaluation.item-planned.v1", "kinerja.evaluation.targets-fixed.v1",
    "kinerja.evaluation.realisation-recorded.v1"}


@dataclass(frozen=True)
class LoggedEvent:
    """One event as the log holds it: leaf index, stream, version, topic, payload."""

    leaf_index: int
    topic: str
    originator_id: str
    originator_version: int
    data: Mapping[str, Any]


@dataclass
class Derivation:
    claims: dict[str, Any]
    timeline: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)


def appeal_id_for(evaluation_id: str) -> str:
    """The appeal stream of an evaluation (`Appeal.id_for`, without importing the
    aggregate): one appeal per evaluation, its id derived from the evaluation's."""
    return str(derived_id("appeal", evaluation_id))


def _short(topic: str) -> str:
    parts = topic.split(".")
    return f"{parts[1]}.{parts[2]}" if len(parts) >= 4 else topic


def _day(value: Any) -> date | None:
    """The calendar day of an ISO date or date-time (in its own offset), else None."""
    if not isinstance(value, str):
        return None
    try:
        if "T" in value:
            return datetime.fromisoformat(value).date()
        return date.fromisoformat(value)
    except ValueError:
        return None


def _in_force(assignments: Sequence[tuple[str, str]], day: date | None) -> str | None:
    """Who is in force on `day`: the assignment with the latest effective date on or
    before it, a later-recorded one winning a tie (`domain.employee._in_force`)."""
    if day is None:
        return None
    found = None
    for i in sorted(range(len(assignments)), key=lambda i: (_day(assignments[i][0]) or day, i)):
        effective = _day(assignments[i][0])
        if effective is not None and effective <= day:
            found = assignments[i][1]
    return found


class _Replay:
    """The walk over the log: state of every stream at the current leaf."""

    def __init__(self, evaluation_id: str, events: Sequence[LoggedEvent]) -> None:
        self.evaluation_id = evaluation_id
        self.appeal_id = appeal_id_for(evaluation_id)
        self.events = sorted(events, key=lambda e: e.leaf_index)
        self.problems: list[str] = []
        self.timeline: list[dict[str, Any]] = []
        # Filled from the evaluation's first event.
        self.started: dict[str, Any] | None = None
        self.employee_id: str | None = None
        self.cycle_id: str | None = None
        self.rubric_id: str | None = None
        # Employee
        self.raters: list[tuple[str, str]] = []
        self.reviewers: list[tuple[str, str]] = []
        # Cycle
        self.locked = False
        self.reopened: str | None = None
        self.panel: list[str] = []
        self.cycle_events: list[dict[str, Any]] = []
        # Rubric
        self.versions: dict[int, dict[str, Any]] = {}
        self.rubric_code: str | None = None
        self.policy: RubricPolicy | None = None
        self.policy_data: dict[str, Any] | None = None
        # Evaluation
        self.items: dict[str, dict[str, Any]] = {}
        self.perilaku: dict[str, str] = {}
        self.delivery: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.result_version: int | None = None
        self.changes: list[dict[str, Any]] = []
        self.lapsed: dict[str, Any] | None = None
        # Appeal
        self.appeal: dict[str, Any] | None = None
        self.open_requests: list[str] = []
        # Feedback counted at delivery
        self.feedback: list[LoggedEvent] = []

    # --- helpers --------------------------------------------------------------------

    def problem(self, event: LoggedEvent | None, message: str) -> None:
        where = "" if event is None else f"leaf {event.leaf_index} ({_short(event.topic)}): "
        self.problems.append(where + message)

    def expect(self, event: LoggedEvent, name: str, recorded: Any, derived: Any) -> None:
        if recorded != derived:
            self.problem(event, f"{name} is recorded as {recorded!r}, but the rules give "
                                f"{derived!r}")

    def line(self, event: LoggedEvent, text: str, marked: str | None = None) -> None:
        self.timeline.append({
            "leaf_index": event.leaf_index, "at": event.data.get("at"),
            "recorded_at": event.data.get("timestamp"), "actor": event.data.get("actor"),
            "topic": event.topic, "marked": marked, "text": text})

    def rater_on(self, event: LoggedEvent) -> str | None:
        return _in_force(self.raters, _day(event.data.get("at")))

    # --- streams --------------------------------------------------------------------

    def check_streams(self) -> None:
        """Each stream in the bundle must be whole from version 1: an event left out of
        the middle of a stream (an override, a change) shows as a gap."""
        streams: dict[str, list[int]] = {}
        for e in self.events:
            streams.setdefault(e.originator_id, []).append(e.originator_version)
        for originator, versions in streams.items():
            if len(set(versions)) != len(versions):
                self.problem(None, f"stream {originator} holds the same version twice")
            present = sorted(set(versions))
            if present != list(range(1, len(present) + 1)):
                if not self._is_feedback_stream(originator):
                    self.problem(None, f"stream {originator} lacks version(s) "
                                       f"{_first_missing(present)}")
        indexes = [e.leaf_index for e in self.events]
        if len(set(indexes)) != len(indexes):
            self.problem(None, "two events claim the same leaf index")

    def _is_feedback_stream(self, originator: str) -> bool:
        return any(e.originator_id == originator and e.topic == FEEDBACK_GIVEN
                   for e in self.events)

    def run(self) -> Derivation:
        first = [e for e in self.events if e.originator_id == self.evaluation_id]
        starts = [e for e in first if e.originator_version == 1]
        if not starts or starts[0].topic != "kinerja.evaluation.started.v1":
            self.problem(None, f"the bundle lacks the first event (Started) of evaluation "
                               f"{self.evaluation_id}")
            return Derivation(claims={}, timeline=[], problems=self.problems)
        self.started = dict(starts[0].data)
        self.employee_id = str(self.started.get("employee_id"))
        self.cycle_id = str(self.started.get("cycle_id"))
        self.rubric_id = str(self.started.get("rubric_id"))
        self.check_streams()
        for event in self.events:
            try:
                self.apply(event)
            except (DomainError, KeyError, TypeError, ValueError, InvalidOperation) as error:
                self.problem(event, f"cannot be replayed: {type(error).__name__}: {error}")
        self.check_feedback()
        return Derivation(claims=self.claims(), timeline=self.timeline,
                          problems=self.problems)

    def apply(self, event: LoggedEvent) -> None:
        origin, topic = event.originator_id, event.topic
        if origin == self.evaluation_id and topic.startswith(EVALUATION):
            self.on_evaluation(event)
        elif origin == self.appeal_id and topic.startswith(APPEAL):
            self.on_appeal(event)
        elif origin == self.employee_id and topic.startswith(EMPLOYEE):
            self.on_employee(event)
        elif origin == self.cycle_id and topic.startswith(CYCLE):
            self.on_cycle(event)
        elif origin == self.rubric_id and topic.startswith(RUBRIC):
            self.on_rubric(event)
        elif topic == FEEDBACK_GIVEN:
            self.on_feedback(event)
        else:
            self.problem(event, f"belongs to no stream of evaluation {self.evaluation_id}")

    # --- the employee, the cycle, the rubric --------------------------------------

    def on_employee(self, event: LoggedEvent) -> None:
        d = event.data
        name = event.topic.split(".")[2]
        if name == "registered":
            self.line(event, f"Employee registered in unit {d.get('unit')} as "
                             f"{d.get('position')}")
        elif name == "rater-assigned":
            self.raters.append((d["effective_from"], str(d["rater_id"])))
            self.line(event, f"Rater {d['rater_id']} in force from {d['effective_from']}")
        elif name == "reviewer-assigned":
            self.reviewers.append((d["effective_from"], str(d["reviewer_id"])))
            self.line(event, f"Rater's superior (appeal reviewer) {d['reviewer_id']} in "
                             f"force from {d['effective_from']}")
        elif name == "transferred":
            self.line(event, f"Transferred to {d.get('unit')} from {d.get('effective_from')}")
        elif name == "employment-ended":
            self.line(event, f"Employment ended on {d.get('effective_on')}")
        elif name == "personal-data-shredded":
            self.line(event, "Personal data key destroyed (crypto-shredding)")
        else:
            self.line(event, _short(event.topic))

    def on_cycle(self, event: LoggedEvent) -> None:
        d = event.data
        name = event.topic.split(".")[2]
        period = (self.started or {}).get("period")
        if name == "started":
            self.line(event, f"Cycle {d.get('unit')} {d.get('year')} started "
                             f"({d.get('periodicity')})")
        elif name in ("period-opened", "period-closed"):
            if d.get("period") == period:
                self.line(event, f"Period {period} {name.split('-')[1]}")
        elif name == "evaluations-enrolled":
            if self.evaluation_id in [str(i) for i in d.get("evaluation_ids", [])]:
                self.line(event, f"Evaluation enrolled in period {d.get('period')}")
        elif name == "organisational-result-set":
            if d.get("period") == period:
                self.line(event, f"Unit's organisational result for {period}: "
                                 f"{d.get('result')}")
        elif name == "appeal-panel-named":
            self.panel = sorted(str(m) for m in d["members"])
            self.line(event, f"Appeal panel named: {', '.join(self.panel)}")
        elif name == "locked":
            self.locked, self.reopened = True, None
            breaches = d.get("breaches") or []
            self.cycle_events.append({"event": "locked", "leaf_index": event.leaf_index,
                                      "breaches": len(breaches)})
            self.line(event, "Cycle locked" + (
                f" despite {len(breaches)} breach(es) of the distribution curve, with a "
                "recorded justification" if breaches else ""), marked="lock")
        elif name == "reopened":
            self.locked = False
            self.reopened = f"{event.originator_id}/{event.originator_version}"
            self.cycle_events.append({"event": "reopened", "leaf_index": event.leaf_index,
                                      "reference": self.reopened,
                                      "authority": d.get("authority")})
            self.line(event, f"Cycle reopened for correction by {d.get('actor')} "
                             f"(authority: {d.get('authority')})", marked="reopening")

    def on_rubric(self, event: LoggedEvent) -> None:
        d = event.data
        if event.topic == "kinerja.rubric.established.v1":
            self.rubric_code = d.get("code")
            self.line(event, f"Rubric {d.get('code')} established")
            return
        if event.topic != "kinerja.rubric.version-published.v1":
            return
        version = int(d["version"])
        self.versions[version] = {"effective_from": d["effective_from"],
                                  "policy": d["policy"], "leaf_index": event.leaf_index}
        assert self.started is not None
        if version == self.started.get("rubric_version"):
            self.line(event, f"Rubric version {version} published, effective from "
                             f"{d['effective_from']} (the version this evaluation is "
                             "scored under)")

    # --- the evaluation -------------------------------------------------------------

    def on_evaluation(self, event: LoggedEvent) -> None:
        d = event.data
        topic = event.topic
        if topic in _UNLOCKED_TOPICS and self.locked:
            self.problem(event, "recorded while the cycle was locked")
        if topic in _RATER_TOPICS:
            rater = self.rater_on(event)
            if d.get("actor") == self.employee_id:
                self.problem(event, "the employee rated themselves")
            elif d.get("actor") != rater:
                self.problem(event, f"recorded by {d.get('actor')}, but the rater in force "
                                    f"on {_day(d.get('at'))} was {rater}")
        handler = {
            "kinerja.evaluation.started.v1": self.started_event,
            "kinerja.evaluation.item-planned.v1": self.item_planned,
            "kinerja.evaluation.targets-fixed.v1": self.targets_fixed,
            "kinerja.evaluation.realisation-recorded.v1": self.realisation_recorded,
            "kinerja.evaluation.item-rated.v1": self.item_rated,
            "kinerja.evaluation.perilaku-rated.v1": self.perilaku_rated,
            "kinerja.evaluation.result-delivered.v1": self.result_delivered,
            "kinerja.evaluation.result-changed.v1": self.result_changed,
            "kinerja.evaluation.appeal-lapsed.v1": self.appeal_lapsed,
        }.get(topic)
        if handler is None:
            self.problem(event, "an evaluation event this verifier does not know")
            return
        handler(event, d)

    def started_event(self, event: LoggedEvent, d: Mapping[str, Any]) -> None:
        version = d["rubric_version"]
        pinned = self.versions.get(version)
        if pinned is None:
            self.problem(event, f"the bundle lacks the publication of rubric "
                                f"{d['rubric_id']} version {version}, published before "
                                "the evaluation started")
        else:
            self.policy_data = dict(pinned["policy"])
            try:
                self.policy = RubricPolicy.from_dict(self.policy_data)
            except DomainError as error:
                self.problem(event, f"the pinned rubric policy is not valid: {error}")
            else:
                if self.policy.to_dict() != self.policy_data:
                    self.problem(event, "the pinned rubric policy is not in its canonical "
                                        "published form")
            in_force = self._version_in_force(_day(d["starts_on"]))
            if in_force != version:
                self.problem(event, f"pinned rubric version {version}, but the version in "
                                    f"force on {d['starts_on']} was {in_force}")
        self.line(event, f"SKP opened for period {d['period']} ({d['starts_on']} to "
                         f"{d['ends_on']}) in unit {d['unit']}, pinned to rubric version "
                         f"{version}")

    def _version_in_force(self, day: date | None) -> int | None:
        candidates = [(_day(v["effective_from"]), n) for n, v in self.versions.items()
                      if day is not None and (_day(v["effective_from"]) or day) <= day]
        return max(candidates)[1] if candidates else None

    def item_planned(self, event: LoggedEvent, d: Mapping[str, Any]) -> None:
        self.items[d["item_id"]] = {
            "item_id": d["item_id"], "kind": d["kind"], "aspect": d["aspect"],
            "indicator": d["indicator"], "unit_of_measure": d.get("unit_of_measure"),
            "supports": d.get("supports"), "direction": d["direction"],
            "target": d["target"], "realisation": None, "evidence": [],
            "capaian": None, "computed_rating": None, "rating": None, "override": None,
            "planned_leaf": event.leaf_index, "realised_leaf": None, "rated_leaf": None}
        self.line(event, f"RHK item '{d['item_id']}' planned ({d['kind']}, {d['aspect']}, "
                         f"{d['direction']}): target {d['target']} "
                         f"{d.get('unit_of_measure') or ''}".rstrip())

    def targets_fixed(self, event: LoggedEvent, d: Mapping[str, Any]) -> None:
        self.line(event, "Targets fixed")

    def realisation_recorded(self, event: LoggedEvent, d: Mapping[str, Any]) -> None:
        item = self._item(event, d["item_id"])
        if item is None:
            return
        item.update(realisation=d["value"], evidence=list(d.get("evidence") or []),
                    realised_leaf=event.leaf_index, capaian=None, computed_rating=None,
                    rating=None, override=None, rated_leaf=None)
        count = len(item["evidence"])
        self.line(event, f"Realisation of '{d['item_id']}': {d['value']} "
                         f"({count} evidence reference{'s' if count != 1 else ''})")

    def item_rated(self, event: LoggedEvent, d: Mapping[str, Any]) -> None:
        item = self._item(event, d["item_id"])
        if item is None or self.policy is None:
            return
        if item["realisation"] is None:
            self.problem(event, f"item '{d['item_id']}' rated with no realisation")
            return
        exact = capaian(Decimal(str(item["target"])), Decimal(str(item["realisation"])),
                        Direction(item["direction"]))
        rounded = round_capaian(exact)
        shown = None if rounded is None else str(rounded)
        computed = str(rate_capaian(exact, self.policy))
        rating = str(Rating(d["rating"]))
        self.expect(event, f"capaian of '{d['item_id']}'", d.get("capaian"), shown)
        self.expect(event, f"computed rating of '{d['item_id']}'", d.get("computed_rating"),
                    computed)
        override = None
        if rating != computed:
            if d.get("override_reason") is None:
                self.problem(event, f"item '{d['item_id']}' rated {rating} against the "
                                    f"computed {computed} without a written reason")
            override = {"computed_rating": computed, "rating": rating,
                        "reason_leaf": event.leaf_index}
        item.update(capaian=shown, computed_rating=computed, rating=rating,
                    override=override, rated_leaf=event.leaf_index)
        text = (f"Item '{d['item_id']}' rated {rating} (capaian "
                f"{shown + ' %' if shown is not None else 'unbounded'})")
        if override:
            text += f", overriding the computed {computed} with a written reason"
        self.line(event, text, marked="override" if override else None)

    def perilaku_rated(self, event: LoggedEvent, d: Mapping[str, Any]) -> None:
        value, rating = str(BerakhlakValue(d["value"])), str(Rating(d["rating"]))
        self.perilaku[value] = rating
        self.line(event, f"Perilaku '{value}' rated {rating}")

    def result_delivered(self, event: LoggedEvent, d: Mapping[str, Any]) -> None:
        if self.policy is None:
            return
        if self.delivery is not None:
            self.problem(event, "a second delivery of the same evaluation")
        unrated = [i for i, item in self.items.items() if item["rating"] is None]
        if not self.items or unrated:
            self.problem(event, f"delivered with unrated item(s): {', '.join(unrated)}")
            return
        values = {BerakhlakValue(v): Rating(r) for v, r in self.perilaku.items()}
        hk = hasil_kerja([(ItemKind(i["kind"]), Rating(i["rating"]))
                          for i in self.items.values()], self.policy)
        pk = perilaku_kerja(values, self.policy)
        pred = predikat(hk, pk, self.policy)
        summary = FeedbackSummary.from_dict(d.get("feedback") or {})
        suggestion = suggest_perilaku(values, summary, self.policy)
        delivered_on = _day(d.get("at"))
        assert delivered_on is not None
        due = delivered_on + timedelta(days=self.policy.appeal_window_days)
        assert self.started is not None
        for name, recorded, derived in (
                ("hasil_kerja", d.get("hasil_kerja"), str(hk)),
                ("perilaku_kerja", d.get("perilaku_kerja"), str(pk)),
                ("predikat", d.get("predikat"), str(pred)),
                ("perilaku_suggestion", d.get("perilaku_suggestion"), str(suggestion)),
                ("rubric_version", d.get("rubric_version"), self.started["rubric_version"]),
                ("delivered_on", d.get("delivered_on"), delivered_on.isoformat()),
                ("appeal_due", d.get("appeal_due"), due.isoformat())):
            self.expect(event, name, recorded, derived)
        if pk is not suggestion and d.get("departure_reason") is None:
            self.problem(event, f"perilaku kerja {pk} departs from the weighted suggestion "
                                f"{suggestion} without a written reason")
        self.delivery = {
            "hasil_kerja": str(hk), "perilaku_kerja": str(pk), "predikat": str(pred),
            "perilaku_suggestion": str(suggestion), "feedback": summary.to_dict(),
            "departure_reason_given": d.get("departure_reason") is not None,
            "delivered_on": delivered_on.isoformat(), "appeal_due": due.isoformat(),
            "delivered_by": d.get("actor"), "leaf_index": event.leaf_index}
        self.result = {"hasil_kerja": str(hk), "perilaku_kerja": str(pk),
                       "predikat": str(pred), "source": "delivery",
                       "leaf_index": event.leaf_index}
        self.result_version = event.originator_version
        self.line(event, f"Result delivered: hasil kerja {hk}, perilaku kerja {pk}, "
                         f"predikat {pred}; an appeal is due by {due.isoformat()}",
                  marked="departure" if d.get("departure_reason") is not None else None)

    def result_changed(self, event: LoggedEvent, d: Mapping[str, Any]) -> None:
        if self.policy is None:
            return
        if self.result is None:
            self.problem(event, "a change of a result that was never delivered")
            return
        previous = {k: self.result[k] for k in ("hasil_kerja", "perilaku_kerja", "predikat")}
        source = str(ChangeSource(d["source"]))
        hk, pk = Rating(d["hasil_kerja"]), Rating(d["perilaku_kerja"])
        pred = str(predikat(hk, pk, self.policy))
        self.expect(event, "previous result", d.get("previous"), previous)
        self.expect(event, "predikat", d.get("predikat"), pred)
        self.expect(event, "supersedes", d.get("supersedes"), self.result_version)
        if d.get("reason") is None:
            self.problem(event, f"a {source} without a written reason")
        reference = str(d.get("reference"))
        if source == ChangeSource.APPEAL:
            decided = (self.appeal or {}).get("decision")
            if reference != self.appeal_id or not decided or decided["outcome"] != "changed":
                self.problem(event, "an appeal change that no appeal decision in the bundle "
                                    "made")
            elif (decided["hasil_kerja"], decided["perilaku_kerja"]) != (str(hk), str(pk)):
                self.problem(event, "the change differs from the appeal decision")
        elif source == ChangeSource.CALIBRATION:
            if self.locked:
                self.problem(event, "a calibration while the cycle was locked")
        elif source == ChangeSource.CORRECTION:
            if self.locked or self.reopened is None or reference != self.reopened:
                self.problem(event, f"a correction citing {reference}, but the cycle was "
                                    f"not reopened by that event at the time")
        new = {"hasil_kerja": str(hk), "perilaku_kerja": str(pk), "predikat": pred}
        self.changes.append({"source": source, "reference": reference,
                             "previous": previous, "new": new, "actor": d.get("actor"),
                             "at": d.get("at"), "leaf_index": event.leaf_index})
        self.result = {**new, "source": source, "leaf_index": event.leaf_index}
        self.result_version = event.originator_version
        what = {"appeal": "an appeal decision", "calibration": f"calibration ({reference})",
                "correction": "a correction after reopening"}[source]
        self.line(event, f"Result changed by {what}: {previous['predikat']} "
                         f"(HK {previous['hasil_kerja']}, PK {previous['perilaku_kerja']}) "
                         f"-> {pred} (HK {hk}, PK {pk}); the earlier result stays in the log",
                  marked={"appeal": "appeal_decision"}.get(source, source))

    def appeal_lapsed(self, event: LoggedEvent, d: Mapping[str, Any]) -> None:
        due = (self.delivery or {}).get("appeal_due")
        self.expect(event, "due", d.get("due"), due)
        today = _day(d.get("at"))
        if due is None or today is None or today <= date.fromisoformat(due):
            self.problem(event, "recorded as lapsed before the window closed")
        if self.appeal is not None:
            self.problem(event, "recorded as lapsed although an appeal was filed")
        self.lapsed = {"due": due, "leaf_index": event.leaf_index}
        self.line(event, f"The appeal window (due {due}) passed with no appeal: the result "
                         "stands")

    def _item(self, event: LoggedEvent, item_id: str) -> dict[str, Any] | None:
        item = self.items.get(item_id)
        if item is None:
            self.problem(event, f"names item '{item_id}', never planned")
        return item

    # --- the appeal -----------------------------------------------------------------

    def on_appeal(self, event: LoggedEvent) -> None:
        d = event.data
        name = event.topic.split(".")[2]
        if name == "filed":
            self.appeal_filed(event, d)
            return
        if self.appeal is None:
            self.problem(event, "an appeal event before the filing")
            return
        reviewers = self.appeal["reviewers"]
        if self.appeal["status"] not in ("filed", "under_review"):
            self.problem(event, f"recorded after the appeal was {self.appeal['status']}")
        if name == "explanation-requested":
            if d.get("actor") not in reviewers:
                self.problem(event, f"asked by {d.get('actor')}, who is not named to decide")
            self.open_requests.append(str(d.get("party")))
            self.appeal["status"] = "under_review"
            self.appeal["explanations"].append({"party": d.get("party"),
                                                "requested_leaf": event.leaf_index,
                                                "given_leaf": None})
            self.line(event, f"Explanation requested from the {d.get('party')}")
        elif name == "explanation-given":
            party = {self.appeal["rater_id"]: "rater",
                     self.employee_id: "employee"}.get(d.get("actor"))
            if party != d.get("party") or party not in self.open_requests:
                self.problem(event, f"an explanation by {d.get('actor')} as "
                                    f"{d.get('party')}, not requested of them")
            else:
                self.open_requests.remove(party)
                for request in self.appeal["explanations"]:
                    if request["party"] == party and request["given_leaf"] is None:
                        request["given_leaf"] = event.leaf_index
                        break
            self.line(event, f"Explanation given by the {d.get('party')}")
        elif name == "decided":
            self.appeal_decided(event, d)
        elif name == "withdrawn":
            if d.get("actor") != self.employee_id:
                self.problem(event, "withdrawn by someone other than the employee")
            self.appeal["status"] = "withdrawn"
            self.appeal["closed_leaf"] = event.leaf_index
            self.line(event, "Appeal withdrawn by the employee")
        else:
            self.problem(event, "an appeal event this verifier does not know")

    def appeal_filed(self, event: LoggedEvent, d: Mapping[str, Any]) -> None:
        if self.appeal is not None:
            self.problem(event, "a second appeal of the same evaluation")
            return
        if str(d.get("evaluation_id")) != self.evaluation_id:
            self.problem(event, "an appeal of another evaluation")
        if self.delivery is None:
            self.problem(event, "filed before the result was delivered")
        if d.get("actor") != self.employee_id:
            self.problem(event, "filed by someone other than the evaluated employee")
        filed_on = _day(d.get("at"))
        due = (self.delivery or {}).get("appeal_due")
        self.expect(event, "filed_on", d.get("filed_on"),
                    filed_on.isoformat() if filed_on else None)
        self.expect(event, "window_due", d.get("window_due"), due)
        if due is not None and filed_on is not None and filed_on > date.fromisoformat(due):
            self.problem(event, f"filed on {filed_on}, after the window closed on {due}")
        if self.panel:
            kind, reviewers = "panel", list(self.panel)
        else:
            superior = _in_force(self.reviewers, filed_on)
            kind, reviewers = "superior", [superior] if superior else []
        self.expect(event, "reviewer_kind", d.get("reviewer_kind"), kind)
        self.expect(event, "reviewers", list(d.get("reviewers") or []), reviewers)
        self.expect(event, "rater_id", d.get("rater_id"),
                    (self.delivery or {}).get("delivered_by"))
        self.appeal = {
            "appeal_id": event.originator_id, "filed_on": d.get("filed_on"),
            "window_due": due, "reviewer_kind": kind, "reviewers": reviewers,
            "rater_id": d.get("rater_id"), "status": "filed", "explanations": [],
            "decision": None, "filed_leaf": event.leaf_index, "closed_leaf": None}
        routed = ("the appeal panel named for the cycle" if kind == "panel"
                  else "the rater's superior")
        self.line(event, f"Appeal filed by the employee on {d.get('filed_on')} (window due "
                         f"{due}), routed to {routed}: {', '.join(reviewers)}",
                  marked="appeal")

    def appeal_decided(self, event: LoggedEvent, d: Mapping[str, Any]) -> None:
        assert self.appeal is not None
        if d.get("actor") not in self.appeal["reviewers"]:
            self.problem(event, f"decided by {d.get('actor')}, who is not named to decide "
                                "this appeal")
        if d.get("reasons") is None:
            self.problem(event, "a decision without written reasons")
        outcome = d.get("outcome")
        hk, pk = Rating(d["hasil_kerja"]), Rating(d["perilaku_kerja"])
        pred = d.get("predikat")
        if self.policy is not None:
            pred = str(predikat(hk, pk, self.policy))
            self.expect(event, "predikat", d.get("predikat"), pred)
        current = self.result or {}
        if outcome == "kept":
            if (str(hk), str(pk)) != (current.get("hasil_kerja"), current.get("perilaku_kerja")):
                self.problem(event, "kept the result, but names a different one")
        elif outcome != "changed":
            self.problem(event, f"an outcome {outcome!r} is neither kept nor changed")
        self.appeal["status"] = "decided"
        self.appeal["closed_leaf"] = event.leaf_index
        self.appeal["decision"] = {"outcome": outcome, "hasil_kerja": str(hk),
                                   "perilaku_kerja": str(pk),
                                   "predikat": pred, "decided_by": d.get("actor"),
                                   "leaf_index": event.leaf_index}
        if outcome == "kept":
            text = f"Appeal decided: the result is kept ({pred})"
        else:
            text = f"Appeal decided: the result is changed to HK {hk}, PK {pk}, predikat {pred}"
        self.line(event, text + "; the decision is final", marked="appeal_decision")

    # --- feedback -------------------------------------------------------------------

    def on_feedback(self, event: LoggedEvent) -> None:
        d = event.data
        assert self.started is not None
        if d.get("employee_id") != self.employee_id or d.get("period") != self.started.get(
                "period"):
            self.problem(event, "feedback about another employee or period")
            return
        if self.delivery is not None:
            self.problem(event, "feedback recorded after delivery cannot have been counted")
            return
        self.feedback.append(event)
        who = {"peer": "a peer", "subordinate": "a subordinate",
               "citizen": f"a citizen (via {d.get('channel')})"}.get(d.get("source"),
                                                                   d.get("source"))
        self.line(event, f"Feedback from {who}: score {d.get('score')}"
                         + (f" on {d.get('value')}" if d.get("value") else ""))

    def check_feedback(self) -> None:
        if not self.feedback or self.delivery is None:
            return
        counted = FeedbackSummary.of_scores(
            (FeedbackSource(e.data["source"]), int(e.data["score"])) for e in self.feedback)
        if counted.to_dict() != self.delivery["feedback"]:
            self.problem(None, f"the feedback in the bundle sums to {counted.to_dict()}, "
                               f"not to the summary counted at delivery "
                               f"{self.delivery['feedback']}")

    # --- the result -----------------------------------------------------------------

    def claims(self) -> dict[str, Any]:
        assert self.started is not None
        s = self.started
        pinned = self.versions.get(s.get("rubric_version"), {})
        return {
            "evaluation": {
                "evaluation_id": self.evaluation_id, "employee_id": self.employee_id,
                "unit": s.get("unit"), "cycle_id": self.cycle_id, "period": s.get("period"),
                "starts_on": s.get("starts_on"), "ends_on": s.get("ends_on")},
            "rubric": {
                "rubric_id": self.rubric_id, "code": self.rubric_code,
                "version": s.get("rubric_version"),
                "effective_from": pinned.get("effective_from"),
                "leaf_index": pinned.get("leaf_index"), "policy": self.policy_data},
            "items": list(self.items.values()),
            "perilaku_values": {str(v): self.perilaku[str(v)] for v in BerakhlakValue
                                if str(v) in self.perilaku},
            "delivery": self.delivery,
            "changes": self.changes,
            "appeal": self.appeal,
            "appeal_lapsed": self.lapsed,
            "cycle": self.cycle_events,
            "feedback_counted": [e.leaf_index for e in self.feedback],
            "result": self.result,
        }


def derive(evaluation_id: str, events: Iterable[LoggedEvent]) -> Derivation:
    """Replay `events` (any order; sorted by leaf index here) for `evaluation_id`."""
    return _Replay(str(evaluation_id), list(events)).run()


def _first_missing(present: list[int], shown: int = 10) -> str:
    """The first versions missing below the highest present, as text. Walks the gaps, so
    an altered version near 2**64 costs nothing (listing the whole range exhausted the
    memory of the machine checking the bundle)."""
    missing: list[int] = []
    expected = 1
    for version in present:
        while expected < version and len(missing) <= shown:
            missing.append(expected)
            expected += 1
        expected = max(expected, version + 1)
        if len(missing) > shown:
            break
    text = ", ".join(map(str, missing[:shown]))
    return text + ", ..." if len(missing) > shown else text
