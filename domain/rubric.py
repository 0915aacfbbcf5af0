"""A rubric: the agency's appraisal policy, published in whole versions, never edited.

Evaluations pin (rubric id, version), so a score can always be re-derived under the
policy it was given under, even after the agency changes its policy.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import LedgerAggregate, derived_id, require_aware, require_text
from domain.errors import InvalidValue, NoRubricInForce, NotFound, RubricVersionConflict
from domain.scoring import RubricPolicy
from domain.values import Aspect, Direction, ItemKind


def check_indicator_template(data: dict[str, Any]) -> dict[str, Any]:
    """A suggested RHK row that evaluations under this rubric may start from."""
    try:
        return {
            "code": require_text(data.get("code"), "indicator code", 50),
            "indicator": require_text(data.get("indicator"), "indicator", 300),
            "kind": str(ItemKind(data.get("kind", ItemKind.UTAMA))),
            "aspect": str(Aspect(data.get("aspect", Aspect.KUANTITAS))),
            "direction": str(Direction(data.get("direction", Direction.HIGHER_IS_BETTER))),
            "unit_of_measure": str(data.get("unit_of_measure", "")).strip()[:50],
        }
    except ValueError as error:
        raise InvalidValue(f"invalid indicator template: {error}") from None


class Rubric(LedgerAggregate):
    TOPIC = "kinerja.rubric"

    class Created(LedgerAggregate.Event, Aggregate.Created):
        """Required by the library; never recorded (rubrics begin with `Established`)."""

        TOPIC = "kinerja.rubric.created.v0"

    class Established(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "kinerja.rubric.established.v1"

        actor: str
        at: datetime
        code: str
        title: str

    @staticmethod
    def id_for(code: str) -> Any:
        return derived_id("rubric", code)

    @classmethod
    def establish(cls, *, code: str, title: str, actor: str, at: datetime) -> Rubric:
        code = require_text(code, "rubric code", 50)
        return cls._create(cls.Established, id=cls.id_for(code), actor=actor,
                           at=require_aware(at), code=code,
                           title=require_text(title, "rubric title", 200))

    def __init__(self, actor: str, at: datetime, code: str, title: str) -> None:
        self.code = code
        self.title = title
        self.versions: dict[int, dict[str, Any]] = {}

    @property
    def latest_version(self) -> int:
        return max(self.versions, default=0)

    def publish(self, *, version: int, effective_from: date, policy: dict[str, Any],
                indicators: list[dict[str, Any]], summary: str, actor: str,
                at: datetime) -> None:
        """Publish the next whole version. `version` must be the next number, so two
        officers publishing at once cannot both believe theirs is version N."""
        if version != self.latest_version + 1:
            raise RubricVersionConflict(
                f"rubric {self.code} is at version {self.latest_version}; "
                f"the next version is {self.latest_version + 1}, not {version}")
        canonical = RubricPolicy.from_dict(policy).to_dict()
        templates = [check_indicator_template(t) for t in indicators]
        codes = [t["code"] for t in templates]
        if len(set(codes)) != len(codes):
            raise InvalidValue("indicator codes must be unique within a rubric version")
        self._version_published(actor=actor, at=require_aware(at), version=version,
                                effective_from=effective_from, policy=canonical,
                                indicators=templates,
                                summary=require_text(summary, "summary", 2000))

    @event("VersionPublished", topic="kinerja.rubric.version-published.v1")
    def _version_published(self, actor: str, at: datetime, version: int,
                           effective_from: date, policy: dict[str, Any],
                           indicators: list[dict[str, Any]], summary: str) -> None:
        self.versions[version] = {"effective_from": effective_from, "policy": policy,
                                  "indicators": indicators, "summary": summary}

    def policy(self, version: int) -> RubricPolicy:
        if version not in self.versions:
            raise NotFound(f"rubric {self.code} has no version {version}")
        return RubricPolicy.from_dict(self.versions[version]["policy"])

    def version_in_force(self, day: date) -> int:
        """The version whose effective date is the latest on or before `day`
        (of two with the same date, the later published)."""
        candidates = [(v["effective_from"], n) for n, v in self.versions.items()
                      if v["effective_from"] <= day]
        if not candidates:
            raise NoRubricInForce(f"rubric {self.code} has no version in force on {day}")
        return max(candidates)[1]
