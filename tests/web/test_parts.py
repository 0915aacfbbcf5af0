"""Invariants of the web view's parts, over generated input: whatever the text, the SVG and
the timeline stay well-formed with the text as text; the login never sends the browser
off-site; numbers keep their digits in either language."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from api.web import charts, timeline
from api.web.i18n import LANGUAGES, TEXT, Translator, choose_language
from api.web.session import safe_next
from domain.values import Predikat, Rating

# XML 1.0 cannot carry most control characters at all; user text here never holds them.
TEXTS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
PREDIKAT = st.sampled_from([None, *[str(p) for p in Predikat]])
RATING = st.sampled_from([None, *[str(r) for r in Rating]])
SOURCES = st.sampled_from([None, "delivered", "appeal", "calibration", "correction"])


@given(st.text(max_size=60))
def test_after_login_the_browser_stays_on_these_pages(target: str) -> None:
    chosen = safe_next(target)
    assert chosen == "/ui/" or (chosen == target and chosen.startswith("/ui/")
                                and not chosen.startswith("//") and "\\" not in chosen)


@given(st.lists(st.fixed_dictionaries({
    "period": TEXTS, "predikat": PREDIKAT, "hasil_kerja": RATING, "perilaku_kerja": RATING,
    "result_source": SOURCES}), max_size=8), st.sampled_from(LANGUAGES))
def test_the_employee_chart_is_well_formed_whatever_the_text(rows: list[dict], lang: str
                                                             ) -> None:
    svg = ET.fromstring(str(charts.employee_chart(rows, Translator(lang))))
    marks = [c.get("data-predikat") for c in svg.iter("{http://www.w3.org/2000/svg}circle")
             if c.get("data-predikat") is not None]
    assert marks == [r["predikat"] or "" for r in rows]
    periods = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")
               if t.get("text-anchor") == "middle"]
    assert periods == [r["period"] or None for r in rows]


@given(st.fixed_dictionaries({
    "period": TEXTS,
    "counts": st.fixed_dictionaries({str(p): st.integers(0, 50) for p in Predikat}),
    "quota_checks": st.lists(st.fixed_dictionaries({
        "predikat": st.lists(st.sampled_from([str(p) for p in Predikat]), min_size=1,
                             max_size=3),
        "bound": st.sampled_from(["max_share", "min_share", "min_count"]),
        "value": st.sampled_from(["0.10", "0.60", "0.70", "1", "2"]),
        "count": st.integers(0, 50), "total": st.integers(0, 50),
        "holds": st.booleans()}), max_size=4)}))
def test_the_distribution_chart_draws_each_count_and_check(found: dict) -> None:
    svg = ET.fromstring(str(charts.distribution_chart(found, Translator("en"))))
    ns = "{http://www.w3.org/2000/svg}"
    drawn = {r.get("data-predikat"): int(r.get("data-count")) for r in svg.iter(f"{ns}rect")
             if r.get("data-predikat")}
    assert drawn == {p: n for p, n in found["counts"].items() if n}
    assert svg.get("data-period") == found["period"]
    marks = [t.text for t in svg.iter(f"{ns}text") if t.text in ("✓", "✗")]
    assert marks == ["✓" if q["holds"] else "✗" for q in found["quota_checks"]]


@given(st.lists(st.fixed_dictionaries({
    "position": st.integers(1, 10**6), "kind": st.sampled_from(
        ["evaluation.item_rated", "appeal.filed", "feedback.given", "evaluation.started"]),
    "marked": st.sampled_from([None, "override", "correction"]),
    "at": TEXTS, "actor": st.one_of(st.none(), TEXTS), "reason": st.one_of(st.none(), TEXTS),
    "note": st.one_of(st.none(), TEXTS), "evaluation_id": st.one_of(st.none(), TEXTS),
    "change": st.dictionaries(TEXTS, st.one_of(TEXTS, st.integers(),
                                               st.lists(TEXTS, max_size=2)), max_size=3)}),
    max_size=5))
def test_timeline_rows_keep_user_text_as_text(entries: list[dict]) -> None:
    html = str(timeline.rows(entries, Translator("id"), lambda path: path))
    table = ET.fromstring(f"<table>{html.replace('<br>', '<br/>')}</table>")
    rows = table.findall("tr")
    assert [int(r.get("data-position")) for r in rows] == [e["position"] for e in entries]
    for row, entry in zip(rows, entries, strict=True):
        text = "".join(row.itertext())
        for value in (entry["reason"], entry["note"], entry["actor"]):
            if value:
                assert value in text
        assert (row.get("data-mark") is not None) == bool(
            entry["marked"] or entry["kind"].startswith("appeal."))


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2,
                   min_value=-10**6, max_value=10**6))
def test_a_decimal_keeps_its_digits_in_both_languages(value) -> None:
    text = str(value)
    assert Translator("en").number(text) == text
    assert Translator("id").number(text).replace(",", ".") == text


def test_every_word_exists_in_both_languages() -> None:
    assert all(len(pair) == 2 and all(pair) for pair in TEXT.values())


@given(st.one_of(st.none(), st.text(max_size=30)))
def test_the_language_is_always_one_we_have(accept: str | None) -> None:
    assert choose_language(None, None, accept) in LANGUAGES
    assert choose_language("en", "id", accept) == "en"
    assert choose_language("xx", "en", accept) == "en"
