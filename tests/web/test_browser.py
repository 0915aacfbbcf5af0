"""End to end in a real headless Chromium: the demo served by uvicorn, a user who logs in
with a token, opens each page, switches language, looks into the past and prints; every
number on the pages is compared with the API's JSON for the same query. Screenshots go
to test-output/web/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.web.conftest import SCREENSHOTS, ServedDemo, screenshot

pytestmark = pytest.mark.browser


class ApiClient:
    """The JSON API of the served demo, as an integrator would call it."""

    def __init__(self, demo: ServedDemo, role: str, actor: str | None = None) -> None:
        self.client = httpx.Client(base_url=demo.base_url, timeout=30, headers={
            "Authorization": f"Bearer {demo.token(role, actor)}"})

    def get(self, path: str, **params: Any) -> Any:
        answer = self.client.get(path, params=params)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return answer.json()


@pytest.fixture(scope="module")
def inspector(served_demo: ServedDemo) -> Iterator[ApiClient]:
    api = ApiClient(served_demo, "inspector")
    yield api
    api.client.close()


@pytest.fixture(scope="module")
def session(chromium: Any, served_demo: ServedDemo) -> Iterator[Any]:
    """One browser tab of an inspector, in Indonesian, printed on A4 when asked."""
    context = chromium.new_context(locale="id-ID", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def values(page: Any, selector: str) -> list[str]:
    """The `data-value` of each element matching `selector`."""
    return page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.value)")


def attribute(page: Any, selector: str, name: str) -> list[str]:
    return page.eval_on_selector_all(
        selector, f"els => els.map(e => e.getAttribute({name!r}))")


def test_an_inspector_logs_in_and_lands_on_the_page_asked_for(
        session: Any, served_demo: ServedDemo) -> None:
    page, demo = session, served_demo
    target = f"/ui/employees/{demo.summary.sample_employee_id}"
    page.goto(demo.base_url + target)
    assert page.url.startswith(demo.base_url + "/ui/login?next=")
    assert page.get_attribute("html", "lang") == "id"
    screenshot(page, "01-login")
    page.fill("#token", demo.token("inspector"))
    page.click("#sign-in")
    page.wait_for_url(demo.base_url + target)
    cookie = next(c for c in page.context.cookies() if c["name"] == "kinerja_ui_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert page.text_content("#actor") == demo.summary.actors["inspector"]


def test_the_evaluation_list_shows_the_apis_rows(session: Any, served_demo: ServedDemo,
                                                inspector: ApiClient) -> None:
    page, demo = session, served_demo
    page.goto(demo.base_url + "/ui/")
    api = inspector.get("/v1/evaluations")
    rows = attribute(page, "#evaluations tbody tr", "data-evaluation")
    assert rows == [row["evaluation_id"] for row in api["items"]]
    assert values(page, "#evaluations [data-field=predikat] > span[data-value]") == [
        row["predikat"] or "" for row in api["items"]]
    assert values(page, "#evaluations [data-field=hasil_kerja] > span[data-value]") == [
        row["hasil_kerja"] or "" for row in api["items"]]
    assert int(page.get_attribute("#as-of-state", "data-position")) == api["as_of"]["position"]
    screenshot(page, "02-evaluations")


def test_the_employee_page_charts_and_lists_what_the_api_answers(
        session: Any, served_demo: ServedDemo, inspector: ApiClient) -> None:
    page, demo = session, served_demo
    employee = demo.summary.sample_employee_id
    page.goto(f"{demo.base_url}/ui/employees/{employee}")
    rows = sorted(inspector.get("/v1/evaluations", employee_id=employee)["items"],
                  key=lambda r: (r["period"], r["evaluation_id"]))
    history = inspector.get(f"/v1/employees/{employee}/history")
    chart = page.locator("svg.employee-chart")
    assert chart.is_visible()
    assert attribute(page, "svg.employee-chart circle[data-predikat]", "data-predikat") == [
        r["predikat"] or "" for r in rows]
    assert attribute(page, "svg.employee-chart [data-hk]", "data-hk") == [
        r["hasil_kerja"] for r in rows if r["hasil_kerja"]]
    assert attribute(page, "svg.employee-chart [data-pk]", "data-pk") == [
        r["perilaku_kerja"] for r in rows if r["perilaku_kerja"]]
    assert values(page, "#results [data-field=predikat] > span[data-value]") == [
        r["predikat"] or "" for r in rows]
    # The timeline is the history: every entry, in order, marks where the API marks.
    positions = [int(p) for p in attribute(page, "#timeline tbody tr", "data-position")]
    assert positions == [e["position"] for e in history["entries"]]
    marks = dict(zip(positions, attribute(page, "#timeline tbody tr", "data-mark"),
                     strict=True))
    for entry in history["entries"]:
        if entry["marked"]:
            assert marks[entry["position"]] == entry["marked"]
    assert "appeal_decision" in marks.values() and "appeal" in marks.values()
    reasons = [e["reason"] for e in history["entries"] if e["reason"]]
    assert reasons and reasons[0] in page.text_content("#timeline")
    screenshot(page, "03-employee")
    screenshot(page, "03-employee-chart", full_page=False)


def test_the_receipt_matches_explain_and_every_proof_verifies(
        session: Any, served_demo: ServedDemo, inspector: ApiClient) -> None:
    page, demo = session, served_demo
    evaluation = demo.summary.sample_evaluation_id
    page.goto(f"{demo.base_url}/ui/evaluations/{evaluation}")
    api = inspector.get(f"/v1/evaluations/{evaluation}/explain")
    for field in ("target", "realisation", "capaian", "computed_rating", "rating"):
        assert values(page, f"#items [data-field={field}] > span[data-value]") == [
            i[field] or "" for i in api["items"]], field
    # Shown as Indonesian writes numbers, from the API's own text.
    assert [c.strip() for c in page.locator("#items [data-field=capaian] > span[data-value]")
            .all_text_contents()] == [i["capaian"].replace(".", ",") for i in api["items"]]
    assert values(page, "#perilaku [data-field=rating] > span[data-value]") == list(
        api["perilaku_values"].values())
    assert page.get_attribute("#predikat > span", "data-value") == api["predikat"]
    assert page.get_attribute("#hasil-kerja > span", "data-value") == api["hasil_kerja"]
    assert page.get_attribute("#rubric", "data-version") == str(api["rubric"]["version"])
    assert attribute(page, "#changes tbody tr", "data-mark") == [
        c["source"] for c in api["result_changes"]]
    inputs = attribute(page, "#inputs tbody tr", "data-position")
    assert [int(p) for p in inputs] == [i["position"] for i in api["inputs"]]
    assert set(attribute(page, "#inputs tbody tr", "data-proof")) == {"verified"}
    assert page.get_attribute("#checkpoint-signature", "data-ok") == "true"
    checkpoint = inspector.get("/v1/ledger/checkpoint")
    assert page.text_content("#checkpoint-root").strip() == checkpoint["root_hash"]
    screenshot(page, "04-receipt")
    # The bundle links answer with the API's bundle.
    with page.expect_download() as download:
        page.click("#bundle-json")
    assert download.value.suggested_filename == f"bundle-{evaluation}.json"
    page.click("#bundle-html")
    assert evaluation in page.content()
    screenshot(page, "05-bundle", full_page=False)


def test_the_unit_page_shows_the_distribution_against_the_quota(
        session: Any, served_demo: ServedDemo, inspector: ApiClient) -> None:
    page, demo = session, served_demo
    unit = next(iter(demo.summary.units))
    page.goto(f"{demo.base_url}/ui/units/{quote(unit)}")
    sections = attribute(page, "section.period", "data-period")
    assert sections == demo.summary.periods
    for period in sections:
        api = inspector.get(f"/v1/units/{quote(unit)}/distribution", period=period)
        section = page.locator(f"section.period[data-period='{period}']")
        counts = section.locator("table.counts td[data-predikat]")
        shown = dict(zip(counts.evaluate_all("els => els.map(e => e.dataset.predikat)"),
                         [int(c) for c in counts.all_text_contents()], strict=True))
        assert shown == api["counts"]
        assert section.get_attribute("data-total") == str(api["total"])
        holds = section.locator("table.quota tbody tr").evaluate_all(
            "els => els.map(e => e.dataset.holds === 'true')")
        assert holds == [q["holds"] for q in api["quota_checks"]]
        drawn = section.locator("svg rect.segment").evaluate_all(
            "els => els.map(e => [e.dataset.predikat, +e.dataset.count])")
        assert dict(drawn) == {p: n for p, n in api["counts"].items() if n}
    screenshot(page, "06-unit")


def test_switching_language_rewrites_the_page_and_is_remembered(
        session: Any, served_demo: ServedDemo) -> None:
    page, demo = session, served_demo
    page.goto(f"{demo.base_url}/ui/evaluations/{demo.summary.sample_evaluation_id}")
    assert page.text_content("h1").startswith("Tanda terima penilaian")
    page.click("a[data-lang=en]")
    assert page.get_attribute("html", "lang") == "en"
    assert page.text_content("h1").startswith("Score receipt")
    page.click("#employee-link")
    assert page.get_attribute("html", "lang") == "en"
    assert "Timeline of events" in page.text_content("main")
    screenshot(page, "07-employee-en", full_page=False)
    page.click("a[data-lang=id]")
    assert page.get_attribute("html", "lang") == "id"


def test_as_of_shows_the_receipt_as_first_delivered_then_now_again(
        session: Any, served_demo: ServedDemo, inspector: ApiClient) -> None:
    page, demo = session, served_demo
    evaluation, day = demo.summary.sample_evaluation_id, demo.summary.as_of.isoformat()
    page.goto(f"{demo.base_url}/ui/evaluations/{evaluation}")
    now = inspector.get(f"/v1/evaluations/{evaluation}/explain")
    then = inspector.get(f"/v1/evaluations/{evaluation}/explain", as_of=day)
    assert (now["hasil_kerja"], now["result_source"]) != (then["hasil_kerja"],
                                                          then["result_source"])
    page.fill("#as-of-date input[name=as_of]", day)
    page.click("#as-of-date button")
    page.wait_for_url(f"**as_of={day}")
    assert page.get_attribute("#as-of-state", "data-position") == str(
        then["as_of"]["position"])
    assert page.get_attribute("#hasil-kerja > span", "data-value") == then["hasil_kerja"]
    assert attribute(page, "#changes tbody tr", "data-mark") == []
    assert values(page, "#items [data-field=rating] > span[data-value]") == [
        i["rating"] or "" for i in then["items"]]
    screenshot(page, "08-receipt-as-of")
    # The past view follows the links: the employee page as it stood that day.
    page.click("#employee-link")
    assert f"as_of={day}" in page.url
    history = inspector.get(f"/v1/employees/{now['employee_id']}/history", as_of=day)
    positions = [int(p) for p in attribute(page, "#timeline tbody tr", "data-position")]
    assert positions == [e["position"] for e in history["entries"]]
    # A log position works the same way.
    position = then["as_of"]["position"] - 1
    page.fill("#as-of-position input[name=as_of]", str(position))
    page.click("#as-of-position button")
    page.wait_for_url(f"**as_of={position}")
    assert page.get_attribute("#as-of-state", "data-position") == str(position)
    page.click("#as-of-now")
    assert "as_of" not in page.url
    assert page.get_attribute("#as-of-state", "data-as-of") == ""


def test_the_receipt_prints_without_the_controls(session: Any,
                                                 served_demo: ServedDemo) -> None:
    page, demo = session, served_demo
    page.goto(f"{demo.base_url}/ui/evaluations/{demo.summary.sample_evaluation_id}")
    page.emulate_media(media="print")
    try:
        assert not page.locator("header.top").is_visible()
        assert not page.locator("#as-of-date").is_visible()
        assert page.locator("#as-of-state").is_visible()
        assert page.locator("#inputs").is_visible()
        screenshot(page, "09-receipt-print")
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF")
        (SCREENSHOTS / "09-receipt.pdf").write_bytes(pdf)
    finally:
        page.emulate_media(media="screen")


def test_an_employee_sees_a_403_page_for_someone_elses_record(
        chromium: Any, served_demo: ServedDemo) -> None:
    demo = served_demo
    own = demo.summary.sample_employee_id
    api = ApiClient(demo, "employee", own)
    try:
        others = ApiClient(demo, "inspector").get("/v1/evaluations")["items"]
        other = next(r for r in others if r["employee_id"] != own)
        context = chromium.new_context(locale="en-US")
        try:
            page = context.new_page()
            page.goto(f"{demo.base_url}/ui/login")
            page.fill("#token", demo.token("employee", own))
            page.click("#sign-in")
            page.wait_for_url(f"{demo.base_url}/ui/")
            listed = set(attribute(page, "#evaluations tbody tr", "data-evaluation"))
            assert listed == {r["evaluation_id"] for r in api.get("/v1/evaluations")["items"]}
            answer = page.goto(f"{demo.base_url}/ui/employees/{other['employee_id']}")
            assert answer is not None and answer.status == 403
            assert page.get_attribute("#error-title", "data-code") == "out-of-scope"
            screenshot(page, "10-forbidden")
            answer = page.goto(f"{demo.base_url}/ui/evaluations/{other['evaluation_id']}")
            assert answer is not None and answer.status == 403
        finally:
            context.close()
    finally:
        api.client.close()
