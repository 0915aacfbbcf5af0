"""Pure scoring rules: every input is an argument, arithmetic is Decimal, rounding explicit.

The numbers that the rules leave to policy live in `RubricPolicy`, which is published as
data in a rubric version and pinned to every evaluation scored under it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from domain.errors import InvalidValue
from domain.values import (
    BerakhlakValue,
    Direction,
    FeedbackSource,
    ItemKind,
    OrganisationalResult,
    Predikat,
    Rating,
)

HUNDRED = Decimal(100)
#: Capaian is shown to two decimals; ratings compare the exact ratio, so 80 % and 110 %
#: boundaries hold exactly and rounding never moves an item across a band.
CAPAIAN_QUANTUM = Decimal("0.01")
SHARE_QUANTUM = Decimal("0.0001")

R = Rating
P = Predikat

#: The kuadran of PermenPANRB 6/2022, rows hasil kerja, columns perilaku kerja.
DEFAULT_MATRIX: dict[Rating, dict[Rating, Predikat]] = {
    R.DI_ATAS: {R.DI_BAWAH: P.KURANG, R.SESUAI: P.BAIK, R.DI_ATAS: P.SANGAT_BAIK},
    R.SESUAI: {R.DI_BAWAH: P.KURANG, R.SESUAI: P.BAIK, R.DI_ATAS: P.BAIK},
    R.DI_BAWAH: {
        R.DI_BAWAH: P.SANGAT_KURANG,
        R.SESUAI: P.BUTUH_PERBAIKAN,
        R.DI_ATAS: P.BUTUH_PERBAIKAN,
    },
}


@dataclass(frozen=True)
class QuotaRule:
    """One bound of the distribution curve over a set of predikat.

    `bound` is `max_share`, `min_share` (fractions of the unit's evaluations) or
    `min_count` (at least this many).
    """

    predikat: tuple[Predikat, ...]
    bound: str
    value: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"predikat": [str(p) for p in self.predikat], "bound": self.bound,
                "value": str(self.value)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuotaRule:
        bound = str(data["bound"])
        if bound not in {"max_share", "min_share", "min_count"}:
            raise InvalidValue(f"unknown quota bound {bound!r}")
        return cls(
            predikat=tuple(Predikat(p) for p in data["predikat"]),
            bound=bound,
            value=_decimal(data["value"], "quota value"),
        )


def _q(predikat: Iterable[Predikat], bound: str, value: str) -> QuotaRule:
    return QuotaRule(tuple(predikat), bound, Decimal(value))


#: SE MenPANRB 3/2023, as DOMAIN.md reads it.
DEFAULT_QUOTAS: dict[OrganisationalResult, tuple[QuotaRule, ...]] = {
    OrganisationalResult.ISTIMEWA: (_q([P.SANGAT_BAIK], "max_share", "0.70"),),
    OrganisationalResult.BAIK: (
        _q([P.BAIK], "max_share", "0.70"),
        _q([P.BUTUH_PERBAIKAN, P.KURANG], "min_count", "1"),
    ),
    OrganisationalResult.BUTUH_PERBAIKAN: (
        _q([P.BUTUH_PERBAIKAN], "min_share", "0.60"),
        _q([P.SANGAT_BAIK], "max_share", "0.10"),
    ),
    OrganisationalResult.KURANG: (
        _q([P.KURANG], "min_share", "0.60"),
        _q([P.BUTUH_PERBAIKAN], "min_share", "0.10"),
        _q([P.SANGAT_BAIK], "max_share", "0.10"),
    ),
    OrganisationalResult.SANGAT_KURANG: (
        _q([P.SANGAT_KURANG], "min_share", "0.60"),
        _q([P.KURANG, P.BUTUH_PERBAIKAN], "min_share", "0.10"),
        _q([P.SANGAT_BAIK], "max_share", "0"),
    ),
}

#: The sources a rubric weighs in the perilaku suggestion (DOMAIN.md: 0.6 / 0.25 / 0.15).
FEEDBACK_WEIGHT_KEYS = ("rater", "peers_and_subordinates", "citizens")

DEFAULT_FEEDBACK_WEIGHTS: dict[str, Decimal] = {
    "rater": Decimal("0.6"),
    "peers_and_subordinates": Decimal("0.25"),
    "citizens": Decimal("0.15"),
}

DEFAULT_UNIT_HEAD_HK: dict[OrganisationalResult, Rating] = {
    OrganisationalResult.ISTIMEWA: R.DI_ATAS,
    OrganisationalResult.BAIK: R.SESUAI,
    OrganisationalResult.BUTUH_PERBAIKAN: R.DI_BAWAH,
    OrganisationalResult.KURANG: R.DI_BAWAH,
    OrganisationalResult.SANGAT_KURANG: R.DI_BAWAH,
}


def _decimal(value: Any, what: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidValue(f"{what} must be a decimal number, got {value!r}") from None
    if not result.is_finite():
        raise InvalidValue(f"{what} must be finite, got {value!r}")
    return result


@dataclass(frozen=True)
class RubricPolicy:
    """Everything a rubric version decides. Published whole; never edited."""

    matrix: Mapping[Rating, Mapping[Rating, Predikat]] = field(
        default_factory=lambda: DEFAULT_MATRIX
    )
    #: capaian (percent) strictly above this rates Di Atas.
    above_threshold: Decimal = Decimal("110")
    #: capaian (percent) strictly below this rates Di Bawah.
    below_threshold: Decimal = Decimal("80")
    #: "Most" means strictly more than this share of the ratings.
    majority_share: Decimal = Decimal("0.5")
    feedback_weights: Mapping[str, Decimal] = field(
        default_factory=lambda: DEFAULT_FEEDBACK_WEIGHTS
    )
    quotas: Mapping[OrganisationalResult, tuple[QuotaRule, ...]] = field(
        default_factory=lambda: DEFAULT_QUOTAS
    )
    unit_head_hk: Mapping[OrganisationalResult, Rating] = field(
        default_factory=lambda: DEFAULT_UNIT_HEAD_HK
    )
    appeal_window_days: int = 14

    def __post_init__(self) -> None:
        if self.below_threshold > self.above_threshold:
            raise InvalidValue("below_threshold must not exceed above_threshold")
        if not (Decimal(0) <= self.majority_share < Decimal(1)):
            raise InvalidValue("majority_share must be in [0, 1)")
        if self.appeal_window_days < 1:
            raise InvalidValue("appeal_window_days must be at least 1")
        if self.below_threshold < 0:
            raise InvalidValue("capaian thresholds must not be negative")
        # A misspelt source would silently weigh nothing; a negative weight inverts it.
        unknown = sorted(set(self.feedback_weights) - set(FEEDBACK_WEIGHT_KEYS))
        if unknown:
            raise InvalidValue(f"unknown feedback weight {', '.join(unknown)}; the sources "
                               f"are {', '.join(FEEDBACK_WEIGHT_KEYS)}")
        if any(Decimal(w) < 0 for w in self.feedback_weights.values()):
            raise InvalidValue("feedback weights must not be negative")
        for rules in self.quotas.values():
            for rule in rules:
                if rule.value < 0 or (rule.bound != "min_count" and rule.value > 1):
                    raise InvalidValue("a quota share is a fraction from 0 to 1, a quota "
                                       "count is zero or more")
        for hk in Rating:
            for pk in Rating:
                if pk not in self.matrix.get(hk, {}):
                    raise InvalidValue(f"predikat matrix lacks ({hk}, {pk})")

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON-ready form stored in the rubric's event."""
        return {
            "matrix": {str(hk): {str(pk): str(p) for pk, p in row.items()}
                       for hk, row in self.matrix.items()},
            "above_threshold": str(self.above_threshold),
            "below_threshold": str(self.below_threshold),
            "majority_share": str(self.majority_share),
            "feedback_weights": {k: str(v) for k, v in self.feedback_weights.items()},
            "quotas": {str(r): [rule.to_dict() for rule in rules]
                       for r, rules in self.quotas.items()},
            "unit_head_hk": {str(k): str(v) for k, v in self.unit_head_hk.items()},
            "appeal_window_days": self.appeal_window_days,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RubricPolicy:
        """Build from stored or submitted data; missing keys take the defaults."""
        defaults = cls()
        try:
            matrix = (
                {Rating(hk): {Rating(pk): Predikat(p) for pk, p in row.items()}
                 for hk, row in data["matrix"].items()}
                if "matrix" in data else defaults.matrix
            )
            quotas = (
                {OrganisationalResult(r): tuple(QuotaRule.from_dict(q) for q in rules)
                 for r, rules in data["quotas"].items()}
                if "quotas" in data else defaults.quotas
            )
            unit_head_hk = (
                {OrganisationalResult(k): Rating(v)
                 for k, v in data["unit_head_hk"].items()}
                if "unit_head_hk" in data else defaults.unit_head_hk
            )
        except ValueError as error:
            raise InvalidValue(f"invalid rubric policy: {error}") from None
        weights = (
            {str(k): _decimal(v, f"feedback weight {k}")
             for k, v in data["feedback_weights"].items()}
            if "feedback_weights" in data else defaults.feedback_weights
        )
        window = data.get("appeal_window_days", defaults.appeal_window_days)
        if not isinstance(window, int) or isinstance(window, bool):
            raise InvalidValue("appeal_window_days must be a whole number")
        return cls(
            matrix=matrix,
            above_threshold=_decimal(
                data.get("above_threshold", defaults.above_threshold), "above_threshold"),
            below_threshold=_decimal(
                data.get("below_threshold", defaults.below_threshold), "below_threshold"),
            majority_share=_decimal(
                data.get("majority_share", defaults.majority_share), "majority_share"),
            feedback_weights=weights,
            quotas=quotas,
            unit_head_hk=unit_head_hk,
            appeal_window_days=window,
        )


def capaian(target: Decimal, realisation: Decimal, direction: Direction) -> Decimal | None:
    """Achievement in percent, exact (not rounded).

    Higher-is-better: realisation / target. Lower-is-better: target / realisation.
    None means "unbounded": a lower-is-better item realised at zero against a positive
    target (no violations at all), which always rates above expectation.
    """
    if target < 0 or realisation < 0:
        raise InvalidValue("targets and realisations must not be negative")
    if Direction(direction) is Direction.HIGHER_IS_BETTER:
        if target == 0:
            raise InvalidValue("a higher-is-better target must be positive")
        return realisation / target * HUNDRED
    if realisation == 0:
        return HUNDRED if target == 0 else None
    return target / realisation * HUNDRED


def round_capaian(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CAPAIAN_QUANTUM, ROUND_HALF_UP)


def rate_capaian(value: Decimal | None, policy: RubricPolicy) -> Rating:
    """Above the upper band is Di Atas, below the lower band Di Bawah, the bands inclusive
    of their edges (exactly 80 % and exactly 110 % both meet expectation)."""
    if value is None or value > policy.above_threshold:
        return Rating.DI_ATAS
    if value < policy.below_threshold:
        return Rating.DI_BAWAH
    return Rating.SESUAI


def _is_most(count: int, total: int, policy: RubricPolicy) -> bool:
    return total > 0 and Decimal(count) > policy.majority_share * Decimal(total)


def hasil_kerja(items: Iterable[tuple[ItemKind, Rating]], policy: RubricPolicy) -> Rating:
    """BKN e-Kinerja rule: Di Atas when most items are above and no utama item is below;
    Di Bawah when most are below; otherwise Sesuai."""
    rated = [(ItemKind(kind), Rating(rating)) for kind, rating in items]
    if not rated:
        raise InvalidValue("hasil kerja needs at least one rated item")
    counts = Counter(rating for _, rating in rated)
    utama_below = any(k is ItemKind.UTAMA and r is Rating.DI_BAWAH for k, r in rated)
    if _is_most(counts[Rating.DI_ATAS], len(rated), policy) and not utama_below:
        return Rating.DI_ATAS
    if _is_most(counts[Rating.DI_BAWAH], len(rated), policy):
        return Rating.DI_BAWAH
    return Rating.SESUAI


def perilaku_kerja(values: Mapping[BerakhlakValue, Rating], policy: RubricPolicy) -> Rating:
    """The same majority rule over the seven BerAKHLAK values, all of which must be rated."""
    missing = [v for v in BerakhlakValue if v not in values]
    if missing:
        raise InvalidValue("perilaku kerja needs all seven BerAKHLAK values",
                           missing=[str(v) for v in missing])
    counts = Counter(Rating(r) for r in values.values())
    total = len(values)
    if _is_most(counts[Rating.DI_ATAS], total, policy):
        return Rating.DI_ATAS
    if _is_most(counts[Rating.DI_BAWAH], total, policy):
        return Rating.DI_BAWAH
    return Rating.SESUAI


def predikat(hk: Rating, pk: Rating, policy: RubricPolicy) -> Predikat:
    return Predikat(policy.matrix[Rating(hk)][Rating(pk)])


RATING_POINTS = {Rating.DI_BAWAH: Decimal(0), Rating.SESUAI: Decimal("0.5"),
                 Rating.DI_ATAS: Decimal(1)}


@dataclass(frozen=True)
class FeedbackSummary:
    """Feedback an evaluation's rater saw: count and mean score (1 to 5) by source."""

    counts: Mapping[FeedbackSource, int] = field(default_factory=dict)
    means: Mapping[FeedbackSource, Decimal] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {str(s): {"count": self.counts[s], "mean": str(self.means[s])}
                for s in FeedbackSource if self.counts.get(s)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeedbackSummary:
        return cls(
            counts={FeedbackSource(s): int(v["count"]) for s, v in data.items()},
            means={FeedbackSource(s): Decimal(v["mean"]) for s, v in data.items()},
        )

    @classmethod
    def of_scores(cls, scores: Iterable[tuple[FeedbackSource, int]]) -> FeedbackSummary:
        totals: Counter[FeedbackSource] = Counter()
        counts: Counter[FeedbackSource] = Counter()
        for source, score in scores:
            counts[FeedbackSource(source)] += 1
            totals[FeedbackSource(source)] += score
        means = {s: (Decimal(totals[s]) / counts[s]).quantize(CAPAIAN_QUANTUM, ROUND_HALF_UP)
                 for s in counts}
        return cls(counts=dict(counts), means=means)


def suggest_perilaku(rater_values: Mapping[BerakhlakValue, Rating],
                     feedback: FeedbackSummary, policy: RubricPolicy) -> Rating:
    """The weighted PK suggestion: the rater's seven ratings, peers and subordinates, and
    citizens, each put on a 0..1 scale and weighted by the rubric (weights of absent
    sources are shared out among the present ones). At 0.75 or more: Di Atas; below 0.40:
    Di Bawah. A rater whose PK departs from it must give a reason."""
    parts: list[tuple[Decimal, Decimal]] = []
    if rater_values:
        mean = sum(RATING_POINTS[Rating(r)] for r in rater_values.values()) / len(rater_values)
        parts.append((policy.feedback_weights.get("rater", Decimal(0)), mean))

    def scaled(sources: tuple[FeedbackSource, ...]) -> Decimal | None:
        count = sum(feedback.counts.get(s, 0) for s in sources)
        if not count:
            return None
        total = sum(feedback.means[s] * feedback.counts[s] for s in sources
                    if feedback.counts.get(s))
        return (total / count - 1) / 4

    peers = scaled((FeedbackSource.PEER, FeedbackSource.SUBORDINATE))
    if peers is not None:
        parts.append((policy.feedback_weights.get("peers_and_subordinates", Decimal(0)), peers))
    citizens = scaled((FeedbackSource.CITIZEN,))
    if citizens is not None:
        parts.append((policy.feedback_weights.get("citizens", Decimal(0)), citizens))
    weight = sum(w for w, _ in parts)
    if not parts or weight == 0:
        return Rating.SESUAI
    score = sum(w * v for w, v in parts) / weight
    if score >= Decimal("0.75"):
        return Rating.DI_ATAS
    if score < Decimal("0.40"):
        return Rating.DI_BAWAH
    return Rating.SESUAI


@dataclass(frozen=True)
class QuotaCheck:
    rule: QuotaRule
    count: int
    total: int
    holds: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.rule.to_dict(), "count": self.count, "total": self.total,
                "holds": self.holds}


def check_distribution(predikat_counts: Mapping[Predikat, int],
                       organisational_result: OrganisationalResult,
                       policy: RubricPolicy) -> list[QuotaCheck]:
    """Every quota rule of the unit's organisational result, with whether it holds."""
    total = sum(predikat_counts.values())
    checks = []
    for rule in policy.quotas.get(OrganisationalResult(organisational_result), ()):
        count = sum(predikat_counts.get(p, 0) for p in rule.predikat)
        if rule.bound == "min_count":
            holds = count >= rule.value
        elif total == 0:
            holds = True
        elif rule.bound == "max_share":
            holds = Decimal(count) <= rule.value * total
        else:
            holds = Decimal(count) >= rule.value * total
        checks.append(QuotaCheck(rule, count, total, holds))
    return checks
