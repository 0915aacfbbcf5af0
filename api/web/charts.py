"""Inline SVG charts, drawn on the server: no script, no external file, printable.

Colours come from classes in the style sheet (a Content-Security-Policy without inline
styles still applies). Every mark carries its value as `data-*` attributes and a
`<title>` (a tooltip, and what a screen reader reads), so a chart can be checked against
the API's numbers as the tables can.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from api.web.i18n import Translator
from domain.values import Predikat, Rating

PREDIKAT_ORDER = [str(p) for p in Predikat]  # best first
RATING_ORDER = [str(r) for r in Rating]  # above, meets, below

_ROW = 22
_LEFT = 170
_STEP = 92


def _e(value: Any) -> str:
    return str(escape(value))


def _text(x: float, y: float, text: Any, cls: str = "", anchor: str = "start") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>'
            f"{_e(text)}</text>")


def employee_chart(rows: Sequence[Mapping[str, Any]], t: Translator) -> Markup:
    """Predikat (top panel) and HK / PK (bottom panel) per period. `rows` are the API's
    evaluation rows of one employee (period, predikat, hasil_kerja, perilaku_kerja,
    result_source), one per period, in period order."""
    periods = [str(r["period"]) for r in rows]
    # Wide enough for the legend however few the periods.
    width = max(_LEFT + len(periods) * _STEP + 20, 720)
    top = 28
    pred_y = {code: top + i * _ROW for i, code in enumerate(PREDIKAT_ORDER)}
    second = top + len(PREDIKAT_ORDER) * _ROW + 26
    rate_y = {code: second + i * _ROW for i, code in enumerate(RATING_ORDER)}
    axis = second + len(RATING_ORDER) * _ROW
    height = axis + 62

    def x_of(index: int) -> float:
        return _LEFT + index * _STEP + _STEP / 2

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart employee-chart" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-labelledby="employee-chart-title employee-chart-desc">',
           f'<title id="employee-chart-title">{_e(t("employee.chart"))}</title>',
           f'<desc id="employee-chart-desc">{_e(t("employee.chart_desc"))}</desc>',
           _text(4, 14, t("word.predikat"), "axis-title")]
    for code, y in pred_y.items():
        out.append(f'<line class="grid" x1="{_LEFT - 6}" y1="{y}" x2="{width - 10}" y2="{y}"/>')
        out.append(_text(_LEFT - 10, y + 4, t.value(code), "axis-label", "end"))
    out.append(_text(4, second - 12, f'{t("word.hk")} / {t("word.pk")}', "axis-title"))
    for code, y in rate_y.items():
        out.append(f'<line class="grid" x1="{_LEFT - 6}" y1="{y}" x2="{width - 10}" y2="{y}"/>')
        out.append(_text(_LEFT - 10, y + 4, t.value(code), "axis-label", "end"))
    for index, period in enumerate(periods):
        out.append(_text(x_of(index), axis + 16, period, "axis-label", "middle"))

    out += _polyline([pred_y.get(str(r.get("predikat"))) for r in rows], x_of, "line-predikat")
    out += _polyline([_shift(rate_y.get(str(r.get("hasil_kerja"))), -3) for r in rows], x_of,
                     "line-hk")
    out += _polyline([_shift(rate_y.get(str(r.get("perilaku_kerja"))), 3) for r in rows], x_of,
                     "line-pk")
    for index, row in enumerate(rows):
        x, period = x_of(index), _e(row["period"])
        predikat, hk, pk = row.get("predikat"), row.get("hasil_kerja"), row.get("perilaku_kerja")
        changed = row.get("result_source") not in (None, "delivered")
        if predikat is None:
            out.append(f'<circle class="point none" cx="{x:.1f}" cy="{top + 2 * _ROW}" r="4" '
                       f'data-period="{period}" data-predikat="">'
                       f'<title>{period}: {_e(t("employee.no_result"))}</title></circle>')
        else:
            note = (f' ({_e(t.value(row.get("result_source")))}, '
                    f'{_e(t("employee.changed_after"))})' if changed else "")
            if changed:
                out.append(f'<circle class="changed-ring" cx="{x:.1f}" '
                           f'cy="{pred_y[str(predikat)]}" r="10"/>')
            out.append(f'<circle class="point pred-{_e(predikat)}" cx="{x:.1f}" '
                       f'cy="{pred_y[str(predikat)]}" r="6" data-period="{period}" '
                       f'data-predikat="{_e(predikat)}">'
                       f'<title>{period}: {_e(t.value(predikat))}{note}</title></circle>')
        if hk is not None and str(hk) in rate_y:
            y = rate_y[str(hk)] - 3
            out.append(f'<circle class="point hk" cx="{x - 4:.1f}" cy="{y}" r="5" '
                       f'data-period="{period}" data-hk="{_e(hk)}"><title>{period}: '
                       f'{_e(t("word.hk"))} {_e(t.value(hk))}</title></circle>')
        if pk is not None and str(pk) in rate_y:
            y = rate_y[str(pk)] + 3
            out.append(f'<rect class="point pk" x="{x + 4 - 4.5:.1f}" y="{y - 4.5}" '
                       f'width="9" height="9" data-period="{period}" data-pk="{_e(pk)}">'
                       f'<title>{period}: {_e(t("word.pk"))} {_e(t.value(pk))}</title></rect>')
    legend_y = axis + 40
    out.append(f'<circle class="point hk" cx="{_LEFT}" cy="{legend_y - 4}" r="5"/>')
    out.append(_text(_LEFT + 10, legend_y, t("chart.legend_hk"), "legend"))
    out.append(f'<rect class="point pk" x="{_LEFT + 125}" y="{legend_y - 8.5}" width="9" '
               f'height="9"/>')
    out.append(_text(_LEFT + 140, legend_y, t("chart.legend_pk"), "legend"))
    out.append(f'<circle class="changed-ring" cx="{_LEFT + 274}" cy="{legend_y - 4}" r="7"/>')
    out.append(_text(_LEFT + 286, legend_y, t("employee.changed_after"), "legend"))
    out.append("</svg>")
    return Markup("\n".join(out))


def _shift(y: float | None, by: float) -> float | None:
    return None if y is None else y + by


def _polyline(ys: Sequence[float | None], x_of: Any, cls: str) -> list[str]:
    """Lines joining consecutive periods that both have a value (a gap stays a gap)."""
    parts, run = [], []
    for index, y in enumerate([*ys, None]):
        if y is None:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{v:.1f}" for x, v in run)
                parts.append(f'<polyline class="{cls}" points="{points}"/>')
            run = []
        else:
            run.append((x_of(index), y))
    return parts


_BAR_X = 10
_BAR_W = 560
_GAUGE_X = 300
_GAUGE_W = 230


def distribution_chart(found: Mapping[str, Any], t: Translator) -> Markup:
    """One period of a unit: the delivered predikat as a stacked bar, and under it each
    quota check of the curve as a gauge (the actual share beside the bound)."""
    counts: Mapping[str, int] = found.get("counts") or {}
    total = sum(int(counts.get(code, 0)) for code in PREDIKAT_ORDER)
    checks = list(found.get("quota_checks") or [])
    period = _e(found.get("period"))
    height = 44 + 24 * len(checks) + 8
    width = _BAR_X * 2 + _BAR_W
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart distribution-chart" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{_e(t("unit.chart"))}: {period}" data-period="{period}">',
           f'<rect class="bar-frame" x="{_BAR_X}" y="6" width="{_BAR_W}" height="28"/>']
    x = float(_BAR_X)
    for code in PREDIKAT_ORDER:
        count = int(counts.get(code, 0))
        if count == 0 or total == 0:
            continue
        w = _BAR_W * count / total
        out.append(f'<rect class="segment pred-{code}" x="{x:.2f}" y="6" width="{w:.2f}" '
                   f'height="28" data-predikat="{code}" data-count="{count}">'
                   f'<title>{_e(t.value(code))}: {count} / {total}</title></rect>')
        if w >= 28:
            out.append(_text(x + w / 2, 25, count, "segment-label", "middle"))
        x += w
    if total == 0:
        out.append(_text(_BAR_X + _BAR_W / 2, 25, "0", "segment-label muted", "middle"))
    for n, check in enumerate(checks):
        y = 48 + 24 * n
        label = _quota_label(check, t)
        holds = bool(check.get("holds"))
        actual, bound = _shares(check)
        out.append(_text(_BAR_X, y + 10, label, "gauge-label"))
        out.append(f'<rect class="gauge-frame" x="{_GAUGE_X}" y="{y}" width="{_GAUGE_W}" '
                   f'height="14"/>')
        if actual is not None:
            out.append(f'<rect class="gauge {"holds" if holds else "breach"}" x="{_GAUGE_X}" '
                       f'y="{y}" width="{_GAUGE_W * min(actual, 1.0):.2f}" height="14" '
                       f'data-count="{_e(check.get("count"))}" '
                       f'data-total="{_e(check.get("total"))}"/>')
        if bound is not None:
            bx = _GAUGE_X + _GAUGE_W * min(bound, 1.0)
            out.append(f'<line class="gauge-bound" x1="{bx:.2f}" y1="{y - 3}" x2="{bx:.2f}" '
                       f'y2="{y + 17}"/>')
        mark = "✓" if holds else "✗"
        out.append(_text(_GAUGE_X + _GAUGE_W + 8, y + 11, mark,
                         "gauge-mark " + ("holds" if holds else "breach")))
    out.append("</svg>")
    return Markup("\n".join(out))


def _quota_label(check: Mapping[str, Any], t: Translator) -> str:
    names = " + ".join(t.value(p) for p in check.get("predikat") or [])
    bound, value = check.get("bound"), check.get("value")
    sign = "≤" if bound == "max_share" else "≥"
    shown = str(value) if bound == "min_count" else t.share(value)
    return f"{names} {sign} {shown}"


def _shares(check: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(actual share, bound as a share) on one 0..1 scale; a count bound is drawn as the
    share it needs of the delivered results."""
    try:
        count, total = int(check.get("count")), int(check.get("total"))
        value = float(check.get("value"))
    except (TypeError, ValueError):
        return None, None
    if total <= 0:
        return 0.0, None
    actual = count / total
    bound = value / total if check.get("bound") == "min_count" else value
    return actual, bound
