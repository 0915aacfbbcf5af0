"""The rows of an employee's timeline, written out in Python.

A person's history runs to hundreds of entries a year; built by the template, macro by
macro, the table was most of the page's time. Here each row is one f-string in which every
value passes through markupsafe's `escape` (what Jinja's autoescape calls), so user text
stays text exactly as it does in a template.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from markupsafe import Markup
from markupsafe import escape as e

from api.web.i18n import Translator


def timeline_mark(entry: Mapping[str, Any]) -> str | None:
    """The mark a row carries: the read model's (override, correction, calibration,
    appeal decision, departure, reopening), else "appeal" for every other step of an
    appeal, so an appeal reads as one marked thread."""
    if entry.get("marked"):
        return str(entry["marked"])
    kind = str(entry.get("kind", ""))
    if kind.startswith("appeal.") or kind == "evaluation.appeal_lapsed":
        return "appeal"
    return None


def describe(value: Any, t: Translator) -> str:
    """A recorded value in words: codes translated, numbers as the language writes them,
    nested fields flattened."""
    if isinstance(value, dict):
        return "; ".join(f"{k} {describe(v, t)}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple)):
        return ", ".join(describe(v, t) for v in value)
    if isinstance(value, str):
        return t.number(t.value(value))
    return "—" if value is None else str(value)


def rows(entries: Iterable[Mapping[str, Any]], t: Translator,
         link: Callable[[str], str]) -> Markup:
    """The <tr> of each history entry; `link(path)` keeps the page's as-of."""
    out = []
    hidden = f'<span class="muted">{e(t("word.hidden"))}</span>'
    evaluation_word = e(t("word.evaluation"))
    for entry in entries:
        mark = timeline_mark(entry)
        kind = str(entry.get("kind", ""))
        when = str(entry.get("at") or entry.get("recorded_at") or "")
        details = "".join(
            f'<span class="kv"><span class="muted">{e(key)}</span> {e(describe(value, t))}'
            "</span>" for key, value in (entry.get("change") or {}).items()
            if value is not None and key != "employee_id")
        why = "<br>".join(
            [*([f'<span class="reason">{e(entry["reason"])}</span>'] if entry.get("reason")
               else []),
             *([f'<span class="note muted">{e(entry["note"])}</span>'] if entry.get("note")
               else [])])
        css = " ".join(c for c in ("marked" if mark else "",
                                   "feedback" if kind == "feedback.given" else "") if c)
        actor = entry.get("actor")
        who = f"<code>{e(actor)}</code>" if actor else hidden
        badge = (f' <span class="badge mark-{e(mark)}" data-mark="{e(mark)}">'
                 f"{e(t.value(mark))}</span>" if mark else "")
        evaluation = entry.get("evaluation_id")
        to = (f'<br><a href="{e(link(f"/ui/evaluations/{evaluation}"))}" class="muted">'
              f"{evaluation_word}</a>" if evaluation else "")
        mark_attr = f' data-mark="{e(mark)}"' if mark else ""
        position = int(entry["position"])
        out.append(
            f'<tr data-position="{position}" data-kind="{e(kind)}"{mark_attr} '
            f'class="{css}"><td class="num">{position}</td>'
            f'<td><time datetime="{e(when)}">{e(when.replace("T", " "))}</time></td>'
            f"<td>{who}</td><td>{e(t.event(kind))}{badge}{to}</td>"
            f'<td class="change">{details}</td><td class="why">{why}</td></tr>\n')
    # Every value above went through escape(); the rest is our own markup.
    return Markup("".join(out))
