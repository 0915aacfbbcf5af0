"""The pure scoring rules, as tables of cases with their boundaries."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidValue
from domain.scoring import (
    DEFAULT_MATRIX,
    FeedbackSummary,
    QuotaRule,
    RubricPolicy,
    capaian,
    check_distribution,
    hasil_kerja,
    perilaku_kerja,
    predikat,
    rate_capaian,
    round_capaian,
    suggest_perilaku,
)
from domain.values import (
    BerakhlakValue,
    Direction,
    FeedbackSource,
    ItemKind,
    OrganisationalResult,
    Predikat,
    Rating,
)

ATAS, SESUAI, BAWAH = Rating.DI_ATAS, Rating.SESUAI, Rating.DI_BAWAH
UTAMA, TAMBAHAN = ItemKind.UTAMA, ItemKind.TAMBAHAN
HIGHER, LOWER = Direction.HIGHER_IS_BETTER, Direction.LOWER_IS_BETTER
POLICY = RubricPolicy()
D = Decimal


# --- capaian and the item rating ------------------------------------------------------

@pytest.mark.parametrize(("target", "realisation", "direction", "percent", "rating"), [
    # higher is better: realisation / target
    ("100", "80", HIGHER, "80", SESUAI),            # exactly 80 % meets expectation
    ("100", "79.99", HIGHER, "79.99", BAWAH),
    ("100", "110", HIGHER, "110", SESUAI),          # exactly 110 % meets expectation
    ("100", "110.01", HIGHER, "110.01", ATAS),
    ("3", "2.4", HIGHER, "80", SESUAI),             # 80 % exactly, from non-round inputs
    ("3", "3.3", HIGHER, "110", SESUAI),            # 110 % exactly, from non-round inputs
    ("7", "5.6", HIGHER, "80", SESUAI),
    ("100", "0", HIGHER, "0", BAWAH),               # nothing achieved
    ("100", "250", HIGHER, "250", ATAS),
    # lower is better (violations): target / realisation
    ("40", "50", LOWER, "80", SESUAI),              # exactly 80 %
    ("40", "50.01", LOWER, None, BAWAH),            # just under 80 %
    ("110", "100", LOWER, "110", SESUAI),           # exactly 110 %
    ("110.01", "100", LOWER, "110.01", ATAS),
    ("40", "30", LOWER, None, ATAS),                # 133.3... %
    ("40", "40", LOWER, "100", SESUAI),
    ("40", "0", LOWER, "unbounded", ATAS),          # no violations at all
    ("0", "0", LOWER, "100", SESUAI),               # a zero target met exactly
    ("0", "3", LOWER, "0", BAWAH),                  # a zero target missed
])
def test_capaian_and_item_rating(target, realisation, direction, percent, rating):
    value = capaian(D(target), D(realisation), direction)
    if percent == "unbounded":
        assert value is None
    elif percent is not None:
        assert value == D(percent)
    assert rate_capaian(value, POLICY) is rating


@pytest.mark.parametrize(("target", "realisation", "direction"), [
    ("0", "5", HIGHER),      # a higher-is-better target must be positive
    ("0", "0", HIGHER),
    ("-1", "5", HIGHER),
    ("10", "-1", HIGHER),
    ("-1", "5", LOWER),
    ("10", "-0.5", LOWER),
])
def test_capaian_refuses_impossible_inputs(target, realisation, direction):
    with pytest.raises(InvalidValue):
        capaian(D(target), D(realisation), direction)


def test_the_displayed_capaian_is_rounded_but_the_rating_uses_the_exact_value():
    # 159 990 of 200 000 is 79.995 %: shown as 80.00, still below the 80 % band.
    exact = capaian(D(200000), D(159990), HIGHER)
    assert exact == D("79.995")
    assert round_capaian(exact) == D("80.00")
    assert rate_capaian(exact, POLICY) is BAWAH


@pytest.mark.parametrize(("value", "shown"), [
    (D("133.3333333"), D("133.33")), (D("0.005"), D("0.01")), (D("80"), D("80.00")),
    (None, None),
])
def test_capaian_is_shown_to_two_decimals_rounding_half_up(value, shown):
    assert round_capaian(value) == shown


@pytest.mark.parametrize(("above", "below", "percent", "rating"), [
    ("120", "90", "120", SESUAI), ("120", "90", "120.0001", ATAS),
    ("120", "90", "90", SESUAI), ("120", "90", "89.9999", BAWAH),
    ("100", "100", "100", SESUAI),  # a one-point band
])
def test_the_bands_are_policy_fields_of_the_rubric(above, below, percent, rating):
    policy = RubricPolicy(above_threshold=D(above), below_threshold=D(below))
    assert rate_capaian(D(percent), policy) is rating


# --- hasil kerja: majority with the utama veto -----------------------------------------

@pytest.mark.parametrize(("items", "expected"), [
    ([(UTAMA, ATAS)], ATAS),
    ([(UTAMA, SESUAI)], SESUAI),
    ([(UTAMA, BAWAH)], BAWAH),
    ([(UTAMA, ATAS), (TAMBAHAN, ATAS), (TAMBAHAN, BAWAH)], ATAS),   # tambahan below: no veto
    ([(UTAMA, ATAS), (TAMBAHAN, ATAS), (UTAMA, BAWAH)], SESUAI),    # utama below: veto
    ([(UTAMA, ATAS), (UTAMA, ATAS), (UTAMA, ATAS), (UTAMA, BAWAH)], SESUAI),
    ([(UTAMA, ATAS), (UTAMA, SESUAI)], SESUAI),                     # half is not most
    ([(UTAMA, ATAS), (UTAMA, BAWAH)], SESUAI),
    ([(UTAMA, BAWAH), (TAMBAHAN, BAWAH), (UTAMA, ATAS)], BAWAH),
    ([(UTAMA, SESUAI), (TAMBAHAN, BAWAH), (TAMBAHAN, BAWAH)], BAWAH),
    ([(UTAMA, SESUAI), (UTAMA, ATAS), (TAMBAHAN, BAWAH)], SESUAI),  # no majority at all
    ([(UTAMA, ATAS), (TAMBAHAN, ATAS), (TAMBAHAN, SESUAI)], ATAS),
])
def test_hasil_kerja_follows_the_majority_rule_with_the_utama_veto(items, expected):
    assert hasil_kerja(items, POLICY) is expected


def test_hasil_kerja_needs_at_least_one_rated_item():
    with pytest.raises(InvalidValue):
        hasil_kerja([], POLICY)


@pytest.mark.parametrize(("share", "atas", "total", "expected"), [
    ("0.5", 3, 5, ATAS), ("0.5", 2, 4, SESUAI),
    ("0.6", 3, 5, SESUAI), ("0.6", 4, 6, ATAS),
    ("0", 1, 5, ATAS),   # "most" read as "any"
])
def test_the_majority_share_is_a_policy_field(share, atas, total, expected):
    policy = RubricPolicy(majority_share=D(share))
    items = [(UTAMA, ATAS)] * atas + [(TAMBAHAN, SESUAI)] * (total - atas)
    assert hasil_kerja(items, policy) is expected


# --- perilaku kerja -------------------------------------------------------------------

def _seven(*ratings: Rating) -> dict[BerakhlakValue, Rating]:
    assert len(ratings) == 7
    return dict(zip(BerakhlakValue, ratings, strict=True))


@pytest.mark.parametrize(("ratings", "expected"), [
    ((ATAS,) * 4 + (SESUAI,) * 3, ATAS),
    ((ATAS,) * 3 + (SESUAI,) * 4, SESUAI),
    ((BAWAH,) * 4 + (ATAS,) * 3, BAWAH),
    ((ATAS,) * 3 + (BAWAH,) * 3 + (SESUAI,), SESUAI),
    ((SESUAI,) * 7, SESUAI),
    ((ATAS,) * 7, ATAS),
    ((BAWAH,) * 7, BAWAH),
    # No utama veto among values: one value below does not stop Di Atas.
    ((ATAS,) * 6 + (BAWAH,), ATAS),
])
def test_perilaku_kerja_follows_the_majority_rule_over_the_seven_values(ratings, expected):
    assert perilaku_kerja(_seven(*ratings), POLICY) is expected


def test_perilaku_kerja_needs_all_seven_values():
    values = _seven(*(SESUAI,) * 7)
    del values[BerakhlakValue.LOYAL]
    with pytest.raises(InvalidValue) as raised:
        perilaku_kerja(values, POLICY)
    assert raised.value.details["missing"] == ["loyal"]


# --- predikat: the kuadran ------------------------------------------------------------

@pytest.mark.parametrize(("hk", "pk", "expected"), [
    (ATAS, BAWAH, Predikat.KURANG), (ATAS, SESUAI, Predikat.BAIK),
    (ATAS, ATAS, Predikat.SANGAT_BAIK),
    (SESUAI, BAWAH, Predikat.KURANG), (SESUAI, SESUAI, Predikat.BAIK),
    (SESUAI, ATAS, Predikat.BAIK),
    (BAWAH, BAWAH, Predikat.SANGAT_KURANG), (BAWAH, SESUAI, Predikat.BUTUH_PERBAIKAN),
    (BAWAH, ATAS, Predikat.BUTUH_PERBAIKAN),
])
def test_predikat_follows_the_kuadran_of_permenpanrb_6_2022(hk, pk, expected):
    assert predikat(hk, pk, POLICY) is expected


def test_predikat_is_read_from_the_rubric_matrix_not_from_code():
    matrix = {hk: dict(row) for hk, row in DEFAULT_MATRIX.items()}
    matrix[SESUAI][ATAS] = Predikat.SANGAT_BAIK
    policy = RubricPolicy.from_dict({**POLICY.to_dict(),
                                     "matrix": {str(h): {str(p): str(v) for p, v in r.items()}
                                                for h, r in matrix.items()}})
    assert predikat(SESUAI, ATAS, policy) is Predikat.SANGAT_BAIK
    assert predikat(SESUAI, ATAS, POLICY) is Predikat.BAIK


# --- the rubric policy as data ---------------------------------------------------------

def test_a_policy_survives_its_canonical_form():
    assert RubricPolicy.from_dict(POLICY.to_dict()) == RubricPolicy.from_dict({})
    assert RubricPolicy.from_dict(POLICY.to_dict()).to_dict() == POLICY.to_dict()


def test_the_default_policy_values():
    data = POLICY.to_dict()
    assert data["above_threshold"] == "110"
    assert data["below_threshold"] == "80"
    assert data["majority_share"] == "0.5"
    assert data["appeal_window_days"] == 14
    assert data["feedback_weights"] == {"rater": "0.6", "peers_and_subordinates": "0.25",
                                        "citizens": "0.15"}
    assert data["unit_head_hk"] == {"istimewa": "di_atas_ekspektasi",
                                    "baik": "sesuai_ekspektasi",
                                    "butuh_perbaikan": "di_bawah_ekspektasi",
                                    "kurang": "di_bawah_ekspektasi",
                                    "sangat_kurang": "di_bawah_ekspektasi"}


@pytest.mark.parametrize("data", [
    {"above_threshold": "70"},                                   # below 80
    {"majority_share": "1"},
    {"majority_share": "-0.1"},
    {"appeal_window_days": 0},
    {"appeal_window_days": True},
    {"appeal_window_days": "14"},
    {"above_threshold": "lots"},
    {"below_threshold": "NaN"},
    {"matrix": {"di_atas_ekspektasi": {"di_atas_ekspektasi": "sangat_baik"}}},  # cells lack
    {"matrix": {"di_atas_ekspektasi": {"di_atas_ekspektasi": "excellent"}}},
    {"quotas": {"istimewa": [{"predikat": ["sangat_baik"], "bound": "roughly",
                              "value": "0.7"}]}},
    {"quotas": {"legendary": []}},
    {"unit_head_hk": {"istimewa": "superb"}},
    {"feedback_weights": {"rater": "heavy"}},
    {"feedback_weights": {"rater": "0.6", "citizen": "0.4"}},   # misspelt source
    {"feedback_weights": {"rater": "-0.1"}},
    {"below_threshold": "-5"},
    {"quotas": {"istimewa": [{"predikat": ["sangat_baik"], "bound": "max_share",
                              "value": "70"}]}},                 # a percent, not a share
    {"quotas": {"baik": [{"predikat": ["kurang"], "bound": "min_count", "value": "-1"}]}},
])
def test_an_invalid_policy_is_refused_with_a_typed_error(data):
    with pytest.raises(InvalidValue):
        RubricPolicy.from_dict(data)


# --- the weighted perilaku suggestion -------------------------------------------------

def _feedback(**scores: list[int]) -> FeedbackSummary:
    return FeedbackSummary.of_scores(
        [(FeedbackSource(source), s) for source, values in scores.items() for s in values])


@pytest.mark.parametrize(("rater", "feedback", "expected"), [
    (SESUAI, {}, SESUAI),
    (ATAS, {}, ATAS),
    (BAWAH, {}, BAWAH),
    # rater 1.0 (weight 0.6), citizens 0.0 (0.15): 0.6 / 0.75 = 0.8
    (ATAS, {"citizen": [1]}, ATAS),
    # rater 0.5, peers 1.0: (0.3 + 0.25) / 0.85 = 0.647
    (SESUAI, {"peer": [5]}, SESUAI),
    # rater 0.0, peers 1.0, citizens 1.0: 0.40 exactly, which meets expectation
    (BAWAH, {"peer": [5], "citizen": [5]}, SESUAI),
    # rater 0.0, peers 0.75 (score 4), citizens 1.0: 0.3375 -> below
    (BAWAH, {"subordinate": [4], "citizen": [5]}, BAWAH),
    # rater 0.5, peers and subordinates pooled 1.0, citizens 1.0: 0.7 -> meets
    (SESUAI, {"peer": [5], "subordinate": [5], "citizen": [5]}, SESUAI),
    # rater 1.0, peers 0.0, citizens 1.0: (0.6 + 0 + 0.15) = 0.75 exactly -> above
    (ATAS, {"peer": [1], "citizen": [5]}, ATAS),
])
def test_the_weighted_perilaku_suggestion(rater, feedback, expected):
    values = _seven(*(rater,) * 7)
    assert suggest_perilaku(values, _feedback(**feedback), POLICY) is expected


def test_a_feedback_summary_survives_its_stored_form():
    summary = _feedback(peer=[4, 5], citizen=[1, 2, 2])
    assert summary.to_dict() == {"peer": {"count": 2, "mean": "4.50"},
                                 "citizen": {"count": 3, "mean": "1.67"}}
    assert FeedbackSummary.from_dict(summary.to_dict()) == summary


# --- the distribution curve (SE MenPANRB 3/2023) ---------------------------------------

SB, B, BP, K, SK = (Predikat.SANGAT_BAIK, Predikat.BAIK, Predikat.BUTUH_PERBAIKAN,
                    Predikat.KURANG, Predikat.SANGAT_KURANG)
R = OrganisationalResult


def _counts(**by: int) -> dict[Predikat, int]:
    names = {"SB": SB, "B": B, "BP": BP, "K": K, "SK": SK}
    return {names[k]: v for k, v in by.items()}


@pytest.mark.parametrize(("result", "counts", "breached"), [
    # Istimewa: at most 70 % Sangat Baik
    (R.ISTIMEWA, _counts(SB=7, B=3), []),
    (R.ISTIMEWA, _counts(SB=8, B=2), ["sangat_baik max_share"]),
    (R.ISTIMEWA, _counts(SB=10), ["sangat_baik max_share"]),
    # Baik: at most 70 % Baik, and some Butuh Perbaikan and/or Kurang
    (R.BAIK, _counts(B=7, SB=2, BP=1), []),
    (R.BAIK, _counts(B=6, SB=3, K=1), []),
    (R.BAIK, _counts(B=8, BP=2), ["baik max_share"]),
    (R.BAIK, _counts(B=7, SB=3), ["butuh_perbaikan+kurang min_count"]),
    (R.BAIK, _counts(B=10), ["baik max_share", "butuh_perbaikan+kurang min_count"]),
    # Butuh Perbaikan: at least 60 % BP, at most 10 % SB
    (R.BUTUH_PERBAIKAN, _counts(BP=6, B=3, SB=1), []),
    (R.BUTUH_PERBAIKAN, _counts(BP=5, B=5), ["butuh_perbaikan min_share"]),
    (R.BUTUH_PERBAIKAN, _counts(BP=6, B=2, SB=2), ["sangat_baik max_share"]),
    # Kurang: at least 60 % K, at least 10 % BP, at most 10 % SB
    (R.KURANG, _counts(K=6, BP=1, B=2, SB=1), []),
    (R.KURANG, _counts(K=5, BP=5), ["kurang min_share"]),
    (R.KURANG, _counts(K=7, B=3), ["butuh_perbaikan min_share"]),
    (R.KURANG, _counts(K=6, BP=2, SB=2), ["sangat_baik max_share"]),
    # Sangat Kurang: at least 60 % SK, at least 10 % K and/or BP, no SB
    (R.SANGAT_KURANG, _counts(SK=6, K=2, BP=2), []),
    (R.SANGAT_KURANG, _counts(SK=9, BP=1), []),
    (R.SANGAT_KURANG, _counts(SK=5, K=5), ["sangat_kurang min_share"]),
    (R.SANGAT_KURANG, _counts(SK=10), ["kurang+butuh_perbaikan min_share"]),
    (R.SANGAT_KURANG, _counts(SK=8, K=1, SB=1), ["sangat_baik max_share"]),
])
def test_the_distribution_check_per_organisational_result(result, counts, breached):
    checks = check_distribution(counts, result, POLICY)
    assert len(checks) == len(POLICY.quotas[result])
    assert all(c.total == sum(counts.values()) for c in checks)
    failed = ["+".join(c.rule.predikat) + " " + c.rule.bound for c in checks if not c.holds]
    assert failed == breached


def test_shares_hold_at_their_exact_boundaries():
    # 7 of 10 is exactly 70 %: allowed; 70.0x % is not.
    rule = QuotaRule((SB,), "max_share", D("0.70"))
    policy = RubricPolicy(quotas={R.ISTIMEWA: (rule,)})
    assert check_distribution({SB: 7, B: 3}, R.ISTIMEWA, policy)[0].holds
    assert not check_distribution({SB: 701, B: 299}, R.ISTIMEWA, policy)[0].holds
    assert check_distribution({SB: 700, B: 300}, R.ISTIMEWA, policy)[0].holds


def test_quotas_are_policy_fields_of_the_rubric():
    policy = RubricPolicy.from_dict({"quotas": {"istimewa": [
        {"predikat": ["sangat_baik"], "bound": "max_share", "value": "0.5"}]}})
    assert [c.holds for c in check_distribution({SB: 6, B: 4}, R.ISTIMEWA, policy)] == [False]
    assert check_distribution({SB: 6, B: 4}, R.BAIK, policy) == []  # no rule: nothing to hold
