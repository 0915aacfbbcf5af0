"""The pages under /ui/: thin routes over the same read models, roles and scopes as the
API's queries (api/routes/queries.py), rendered with Jinja2.

Each page reads through `api.routes.common.Reader` (as_of resolution, read scope,
redaction of a peer's identity) and `projections.queries.ReadModels`, the very calls the
JSON routes make, so a page shows the numbers the API answers for the same query. A page
resolves `as_of` once and pins every further read to the position the first answer
reflects, so one page never mixes two moments.

Errors become HTML pages here (`HtmlRoute`), by way of `api.errors.problem_for`, so their
status and wording are the API's; a missing or expired token redirects to the login page.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.auth import Principal, Role
from api.errors import ApiError, RoleNotPermitted, Unauthenticated, problem_for
from api.routes.common import Reader, roles
from api.web import charts, timeline
from api.web.i18n import LANGUAGES, Translator, choose_language
from api.web.proofs import check_inputs
from api.web.session import (
    LANG_COOKIE,
    LoginRequired,
    forget_token,
    keep_language,
    keep_token,
    principal_of,
    safe_next,
    same_origin,
    verify_pasted,
)
from domain.errors import DomainError, NotFound

HERE = Path(__file__).resolve().parent
STYLESHEET = "/ui/static/kinerja.css"

PERSONAL_ROLES = (Role.ADMIN, Role.INSPECTOR, Role.APPEAL_PANEL, Role.RATER, Role.EMPLOYEE)
UNIT_ROLES = (Role.ADMIN, Role.INSPECTOR, Role.APPEAL_PANEL, Role.RATER)

#: Pages hold personal records: never cached, never framed, no script at all.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
#: The bundle's printable page carries its own inline style sheet.
BUNDLE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
              "frame-ancestors 'none'; base-uri 'none'")

AsOf = Annotated[str | None, Query(max_length=64)]
Lang = Annotated[str | None, Query(max_length=8)]
IdPath = Annotated[str, PathParam(max_length=64)]
#: Pages of the evaluation list hold this many rows.
PAGE_SIZE = 50


class HtmlRoute(APIRoute):
    """Answers errors with an HTML page (or a redirect to the login page), keeps the
    chosen language in a cookie, and adds the security headers to every answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except LoginRequired as needed:
                response = RedirectResponse(needed.location(), status_code=303)
            except RequestValidationError as error:
                detail = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: "
                                   f"{e.get('msg', '')}" for e in error.errors()[:5])
                response = error_page(request, 422, "validation-failed", detail)
            except (DomainError, ApiError) as error:
                status, body, headers = problem_for(error, request.url.path)
                response = error_page(request, status, body["code"], body["detail"],
                                      title=body["title"])
                response.headers.update(headers)
            lang = request.query_params.get("lang")
            if lang in LANGUAGES and request.cookies.get(LANG_COOKIE) != lang:
                keep_language(response, request, lang)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return handler


router = APIRouter(prefix="/ui", route_class=HtmlRoute, include_in_schema=False)


@functools.lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"),
                       autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


@functools.lru_cache(maxsize=1)
def _stylesheet() -> bytes:
    return (HERE / "static" / "kinerja.css").read_bytes()


def translator_for(request: Request) -> Translator:
    return Translator(choose_language(request.query_params.get("lang"),
                                      request.cookies.get(LANG_COOKIE),
                                      request.headers.get("accept-language")))


class Page:
    """What every template gets: the words, the caller, the as-of choice, and links
    that keep that choice."""

    def __init__(self, request: Request, principal: Principal | None = None,
                 as_of: str | None = None, position: int | None = None) -> None:
        self.request = request
        self.t = translator_for(request)
        self.lang = self.t.lang
        self.principal = principal
        self.as_of = (as_of or "").strip() or None
        self.position = position

    def url(self, path: str, **params: Any) -> str:
        """A link to `path` that keeps the page's as_of unless `params` say otherwise."""
        query = {"as_of": self.as_of, **params}
        query = {k: v for k, v in query.items() if v not in (None, "")}
        return path + ("?" + urlencode(query) if query else "")

    def here(self, **params: Any) -> str:
        """This page with some query parameters changed (None removes one)."""
        query = {k: v[-1] for k, v in parse_qs(self.request.url.query).items()}
        query.update(params)
        query = {k: v for k, v in query.items() if v not in (None, "")}
        return self.request.url.path + ("?" + urlencode(query) if query else "")

    def kept_params(self) -> list[tuple[str, str]]:
        """Query parameters an as-of form must carry along (hidden inputs)."""
        skip = {"as_of", "cursor", "lang"}
        return [(k, v[-1]) for k, v in parse_qs(self.request.url.query).items()
                if k not in skip]

    @property
    def as_of_date(self) -> str:
        text = self.as_of or ""
        return text[:10] if len(text) >= 10 and text[4:5] == "-" else ""

    @property
    def as_of_position(self) -> str:
        return self.as_of if self.as_of and self.as_of.isdigit() else ""

    @property
    def reads_all(self) -> bool:
        return bool(self.principal and self.principal.reads_all)

    @property
    def reads_units(self) -> bool:
        return bool(self.principal and self.principal.has(*UNIT_ROLES))


def render(page: Page, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _environment().get_template(template).render(
        page=page, t=page.t, stylesheet=STYLESHEET, **context)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, code: str, detail: str, *,
               title: str | None = None) -> HTMLResponse:
    page = Page(request)
    try:
        page.principal = principal_of(request)
    except LoginRequired:
        pass
    return render(page, "error.html", status=status, status_code=status, code=code,
                  detail=detail, title=title)


def reader_for(request: Request, allowed: tuple[Role, ...]) -> Reader:
    """The API's reader for the cookie's principal, once its roles allow the page."""
    principal = principal_of(request)
    roles(*allowed)(principal)
    return Reader(request.app.state.kinerja, principal)


def _pinned(answer: dict[str, Any]) -> int:
    return int(answer["as_of"]["position"])


# --- login ---------------------------------------------------------------------------------

@router.get("/login")
def login_form(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None,
               expired: Annotated[str | None, Query(max_length=2)] = None,
               lang: Lang = None) -> HTMLResponse:
    page = Page(request)
    message = page.t("login.expired") if expired else None
    return render(page, "login.html", next=safe_next(next), message=message)


@router.post("/login")
async def login(request: Request) -> Response:
    """The pasted token (a form field) becomes the session cookie, once it verifies."""
    if not same_origin(request):
        raise RoleNotPermitted("sign in from this site's own login page")
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"),
                    max_num_fields=10)
    token = (form.get("token") or [""])[-1]
    target = safe_next((form.get("next") or [None])[-1])
    page = Page(request)
    try:
        verify_pasted(request, token)
    except Unauthenticated as error:
        return render(page, "login.html", status=401, next=target,
                      message=page.t("login.failed", detail=error.detail))
    response = RedirectResponse(target, status_code=303)
    keep_token(response, request, token)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    if not same_origin(request):
        raise RoleNotPermitted("sign out from this site's own pages")
    response = RedirectResponse("/ui/login", status_code=303)
    forget_token(response, request)
    return response


@router.get("/static/kinerja.css")
def stylesheet() -> Response:
    return Response(_stylesheet(), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600"})


# --- pages ---------------------------------------------------------------------------------

@router.get("/")
def home(request: Request, as_of: AsOf = None, lang: Lang = None,
         unit: Annotated[str | None, Query(max_length=100)] = None,
         period: Annotated[str | None, Query(max_length=10)] = None,
         cursor: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
    """The evaluations in the caller's scope, as GET /v1/evaluations lists them."""
    reader = reader_for(request, PERSONAL_ROLES)
    found = reader.reads.list_evaluations(
        unit=unit or None, period=period or None, employee_ids=reader.scope(),
        as_of=reader.as_of(as_of), cursor=cursor or None, limit=PAGE_SIZE)
    page = Page(request, reader.principal, as_of, _pinned(found))
    units = sorted({row["unit"] for row in found["items"]})
    return render(page, "home.html", found=found, unit=unit or "", period=period or "",
                  units=units, cursor=cursor)


@router.get("/employees/{employee_id}")
def employee(request: Request, employee_id: IdPath, as_of: AsOf = None,
             lang: Lang = None) -> HTMLResponse:
    """One employee: predikat, HK and PK per period (chart and table) and the timeline,
    from GET /v1/employees/{id}/history and GET /v1/evaluations?employee_id=."""
    reader = reader_for(request, PERSONAL_ROLES)
    reader.require_in_scope(employee_id)
    history = reader.redact(employee_id, reader.reads.history(
        employee_id, as_of=reader.as_of(as_of)))
    position = _pinned(history)
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        found = reader.reads.list_evaluations(
            employee_id=employee_id, employee_ids=reader.scope(), as_of=position,
            cursor=cursor, limit=500)
        rows += found["items"]
        cursor = found["next_cursor"]
        if cursor is None:
            break
    rows.sort(key=lambda r: (r["period"], r["evaluation_id"]))
    page = Page(request, reader.principal, as_of, position)
    entries = history["entries"]
    units = sorted({r["unit"] for r in rows})
    return render(page, "employee.html", employee_id=employee_id, rows=rows,
                  entries=entries, units=units,
                  chart=charts.employee_chart(rows, page.t) if rows else None,
                  timeline_rows=timeline.rows(entries, page.t, page.url))


@router.get("/evaluations/{evaluation_id}")
def evaluation(request: Request, evaluation_id: IdPath, as_of: AsOf = None,
               lang: Lang = None) -> HTMLResponse:
    """The receipt, from GET /v1/evaluations/{id}/explain, with each input's proof
    checked now against the latest signed checkpoint."""
    reader = reader_for(request, PERSONAL_ROLES)
    explained = reader.reads.explain(evaluation_id, as_of=reader.as_of(as_of),
                                     leaf_lookup=reader.rt.leaf_lookup)
    if explained is None:
        raise NotFound(f"no evaluation {evaluation_id}")
    reader.require_in_scope(explained["employee_id"])
    explained = reader.redact(explained["employee_id"], explained)
    position = _pinned(explained)
    summary = reader.redact(explained["employee_id"],
                            reader.reads.evaluation(evaluation_id, as_of=position))
    merkle = getattr(request.app.state, "merkle_ledger", None)
    proofs = check_inputs(merkle, explained["inputs"])
    page = Page(request, reader.principal, as_of, position)
    summary = {"starts_on": None, "ends_on": None, "delivered_on": None, "appeal": None,
               **(summary or {})}
    return render(page, "evaluation.html", e=explained, summary=summary,
                  proofs=proofs, derivation=derivation(explained))


def derivation(explained: dict[str, Any]) -> dict[str, Any]:
    """Counts behind HK and PK (from the final ratings the API gives) and the result as
    first delivered, before any change."""
    ratings = Counter(str(i.get("rating")) for i in explained["items"])
    utama_below = sum(1 for i in explained["items"] if i.get("kind") == "utama"
                      and i.get("rating") == "di_bawah_ekspektasi")
    values = Counter(str(v) for v in explained["perilaku_values"].values())
    changes = explained.get("result_changes") or []
    first = changes[0]["previous"] if changes else {
        "hasil_kerja": explained["hasil_kerja"], "perilaku_kerja": explained["perilaku_kerja"],
        "predikat": explained["predikat"]}
    return {
        "items": {"above": ratings["di_atas_ekspektasi"], "meets": ratings["sesuai_ekspektasi"],
                  "below": ratings["di_bawah_ekspektasi"], "utama_below": utama_below},
        "values": {"above": values["di_atas_ekspektasi"], "meets": values["sesuai_ekspektasi"],
                   "below": values["di_bawah_ekspektasi"]},
        "first": first,
    }


@router.get("/evaluations/{evaluation_id}/bundle.json")
def bundle_json(request: Request, evaluation_id: IdPath) -> Response:
    """The evidence bundle, made by the API's own route function (same scope, same
    withholding of feedback from the person rated)."""
    from api.routes.bundle import evaluation_bundle

    reader = reader_for(request, PERSONAL_ROLES)
    response = evaluation_bundle(evaluation_id, request, reader)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="bundle-{evaluation_id}.json"')
    return response


@router.get("/evaluations/{evaluation_id}/bundle.html")
def bundle_html(request: Request, evaluation_id: IdPath) -> Response:
    from api.routes.bundle import evaluation_bundle_html

    reader = reader_for(request, PERSONAL_ROLES)
    response = evaluation_bundle_html(evaluation_id, request, reader)
    response.headers["Content-Security-Policy"] = BUNDLE_CSP
    return response


@router.get("/units/{unit}")
def unit_page(request: Request, unit: Annotated[str, PathParam(max_length=100)],
              as_of: AsOf = None, lang: Lang = None,
              year: Annotated[int | None, Query(ge=1900, le=2200)] = None) -> HTMLResponse:
    """A unit's predikat distribution per period against the curve, from
    GET /v1/units/{unit}/distribution for each period of the year."""
    reader = reader_for(request, UNIT_ROLES)
    resolved = reader.as_of(as_of)
    position = _position_of(reader, resolved)
    chosen = year if year is not None else _year_of(resolved)
    periods = _periods(reader, unit, chosen, position)
    if not periods and year is None:
        earlier = _periods(reader, unit, chosen - 1, position)
        if earlier:
            chosen, periods = chosen - 1, earlier
    page = Page(request, reader.principal, as_of, position)
    return render(page, "unit.html", unit=unit, year=chosen, periods=[
        {**found, "chart": charts.distribution_chart(found, page.t)} for found in periods])


def _position_of(reader: Reader, resolved: int | str | None) -> int:
    """The position the read models answer `as_of` at (as `ReadModels._resolve` does)."""
    if resolved is None:
        return reader.reads.current_position()
    if isinstance(resolved, int):
        return min(resolved, reader.reads.current_position())
    return reader.reads.position_at(resolved)


def _year_of(resolved: int | str | None) -> int:
    if isinstance(resolved, str):
        try:
            return date.fromisoformat(resolved[:10]).year
        except ValueError:
            pass
    return datetime.now(timezone.utc).year


def _periods(reader: Reader, unit: str, year: int, position: int) -> list[dict[str, Any]]:
    """Every period of `year` open in the unit's cycle at `position`, monthly or
    quarterly, each as the API's distribution answer."""
    names = [f"{year}-{m:02d}" for m in range(1, 13)] + [f"{year}-Q{q}" for q in range(1, 5)]
    found = []
    for name in names:
        answer = reader.reads.distribution(unit, name, as_of=position)
        if answer is not None:
            found.append(answer)
    return found


@router.get("")
def ui_root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/{anything:path}")
def no_such_page(request: Request, anything: str) -> HTMLResponse:
    """Registered last: any other /ui/ path is a page of ours that does not exist."""
    return error_page(request, 404, "route-not-found", f"no page /ui/{anything}")
