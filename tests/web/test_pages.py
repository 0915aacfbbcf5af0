"""The /ui/ pages through the real app (TestClient, a real SQLite file): sessions, the
API's read scopes, escaping of user text, as_of, language, and the API's numbers."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from api.settings import Settings
from api.web.session import LANG_COOKIE, TOKEN_COOKIE
from tests.api.conftest import Api, HttpWorld, build_http_world, open_api
from tests.scenario import PERIOD, UNIT

EVIL = '<script>alert("x")</script> & <b onmouseover="y()">bold</b>'
EVIL_URL = "javascript:alert(document.cookie)"
GOOD_URL = "https://e-kinerja.example/bukti/1.pdf"
VALUES = ("berorientasi_pelayanan", "akuntabel", "kompeten", "harmonis", "loyal",
          "adaptif", "kolaboratif")


@dataclass
class Web:
    world: HttpWorld
    before_delivery: int
    delivered_at: int

    @property
    def api(self) -> Api:
        return self.world.api

    def login(self, actor: str, *roles: str) -> None:
        """A fresh session of `actor` on the shared client, through the login form."""
        client = self.api.client
        client.cookies.clear()
        token = self.api.runtime.tokens.issue(actor, list(roles))
        answer = client.post("/ui/login", data={"token": token, "next": "/ui/"},
                             follow_redirects=False)
        assert answer.status_code == 303, answer.text

    def page(self, path: str, expect: int = 200, **params: str):
        answer = self.api.client.get(path, params=params, follow_redirects=False)
        assert answer.status_code == expect, (path, answer.status_code, answer.text[:2000])
        return answer

    def json(self, path: str, actor: str, *roles: str, **params: str):
        return self.api.get(path, as_=self.api.auth(actor, *roles), expect=200,
                            **params).json()


def publish_checkpoint(api: Api) -> None:
    """A signed checkpoint covering the whole log now (the follower publishes only every
    1000 events or 60 s; a bundle request would publish too)."""
    merkle = api.client.app.state.merkle_ledger
    merkle.catch_up()
    merkle.publish_checkpoint()


def rate_with_user_text(world: HttpWorld) -> int:
    """One item whose every free text is hostile, realised, overridden with a hostile
    reason; the seven values rated; returns the position before delivery."""
    api, rater = world.api, world.as_rater
    base = f"/v1/evaluations/{world.evaluation_id}"
    api.post(f"{base}/items", {"item_id": "violations", "kind": "utama",
                               "aspect": "kuantitas", "indicator": EVIL, "target": "40",
                               "direction": "lower_is_better", "unit_of_measure": "<i>kasus</i>",
                               "supports": EVIL}, as_=rater, expect=201)
    api.post(f"{base}/fix-targets", as_=rater, expect=200)
    api.post(f"{base}/items/violations/realisations",
             {"value": "30", "evidence": [EVIL_URL, GOOD_URL], "note": EVIL},
             as_=world.as_employee(0), expect=201)
    api.post(f"{base}/items/violations/rating",
             {"override": "sesuai_ekspektasi", "reason": EVIL}, as_=rater, expect=200)
    for value in VALUES:
        api.post(f"{base}/perilaku", {"value": value, "rating": "sesuai_ekspektasi",
                                      "note": EVIL}, as_=rater, expect=200)
    return api.log_position()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """Two employees of one rater; the first rated with hostile user text and delivered.
    Shared by the module's tests, which only read."""
    folder = tmp_path_factory.mktemp("web")
    settings = Settings(database_url=f"sqlite:///{folder / 'ledger.sqlite3'}",
                        data_dir=folder / "data")
    for api in open_api(settings):
        world = build_http_world(api, employees=2)
        before = rate_with_user_text(world)
        delivered = api.post(f"/v1/evaluations/{world.evaluation_id}/deliver", {},
                             as_=world.as_rater, expect=200).json()["position"]
        api.runtime.runner.wait_for(delivered, 10)
        publish_checkpoint(api)
        yield Web(world, before, delivered)


def table(text: str, table_id: str) -> str:
    start = text.index(f'id="{table_id}"')
    return text[start:text.index("</table>", start)]


def data_values(text: str, field: str) -> list[str]:
    """The `data-value` of every element inside a cell with `data-field="<field>"`."""
    pattern = rf'data-field="{field}"[^>]*>\s*<span[^>]*data-value="([^"]*)"'
    return [html.unescape(v) for v in re.findall(pattern, text)]


# --- sessions ------------------------------------------------------------------------------

def test_a_page_without_a_session_sends_to_the_login_page_and_back(web: Web) -> None:
    client = web.api.client
    client.cookies.clear()
    target = f"/ui/employees/{web.world.employee}"
    answer = web.page(target, expect=303)
    assert answer.headers["location"] == f"/ui/login?next={quote(target, safe='/')}"
    assert "<form" in web.page("/ui/login", next=target).text
    token = web.api.runtime.tokens.issue(web.world.employee, ["employee"])
    answer = client.post("/ui/login", data={"token": token, "next": target},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == target
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}={token};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert web.page(target).text.count(web.world.employee) > 1


def test_a_token_that_does_not_verify_is_refused_and_no_session_starts(web: Web) -> None:
    client = web.api.client
    client.cookies.clear()
    answer = client.post("/ui/login", data={"token": "not.a.token"}, follow_redirects=False)
    assert answer.status_code == 401 and "set-cookie" not in answer.headers
    assert 'id="login-message"' in answer.text
    web.page("/ui/", expect=303)


def test_an_expired_session_returns_to_the_login_page(web: Web) -> None:
    from datetime import datetime, timedelta, timezone

    client = web.api.client
    client.cookies.clear()
    stale = web.api.runtime.tokens.issue(web.world.employee, ["employee"],
                                         now=datetime.now(timezone.utc) - timedelta(days=2))
    client.cookies.set(TOKEN_COOKIE, stale)
    answer = web.page("/ui/", expect=303)
    assert answer.headers["location"].endswith("&expired=1")


def test_signing_out_forgets_the_token(web: Web) -> None:
    web.login(web.world.employee, "employee")
    answer = web.api.client.post("/ui/logout", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"
    assert f'{TOKEN_COOKIE}=""' in answer.headers["set-cookie"]
    web.api.client.cookies.clear()
    web.page("/ui/", expect=303)


@pytest.mark.parametrize("target", ["https://evil.example/ui/", "//evil.example/ui/",
                                    "/v1/events", "/ui/login?next=/ui/", "javascript:x",
                                    "/ui\\evil"])
def test_after_login_the_next_page_is_never_another_site(web: Web, target: str) -> None:
    client = web.api.client
    client.cookies.clear()
    token = web.api.runtime.tokens.issue(web.world.employee, ["employee"])
    answer = client.post("/ui/login", data={"token": token, "next": target},
                         follow_redirects=False)
    assert answer.headers["location"] == "/ui/"


def test_a_login_posted_from_another_site_is_refused(web: Web) -> None:
    client = web.api.client
    client.cookies.clear()
    token = web.api.runtime.tokens.issue(web.world.employee, ["employee"])
    answer = client.post("/ui/login", data={"token": token},
                         headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert answer.status_code == 403 and "set-cookie" not in answer.headers


# --- the API's read scopes -----------------------------------------------------------------

def test_an_employee_cannot_open_another_employees_pages(web: Web) -> None:
    world = web.world
    web.login(world.employees[1], "employee")
    for path in (f"/ui/employees/{world.employee}", f"/ui/evaluations/{world.evaluation_id}",
                 f"/ui/evaluations/{world.evaluation_id}/bundle.json"):
        answer = web.page(path, expect=403)
        assert 'data-code="out-of-scope"' in answer.text
        assert answer.headers["content-type"].startswith("text/html")
        assert world.employee not in answer.text.replace(path, "")
    web.page(f"/ui/employees/{world.employees[1]}")
    listed = web.page("/ui/").text
    assert world.evaluation_ids[1] in listed and world.evaluation_id not in listed


def test_an_employee_reads_their_own_receipt(web: Web) -> None:
    web.login(web.world.employee, "employee")
    web.page(f"/ui/evaluations/{web.world.evaluation_id}")


def test_a_rater_reads_only_the_people_they_rate(web: Web) -> None:
    world = web.world
    web.login(world.rater, "rater", "employee")
    web.page(f"/ui/employees/{world.employee}")
    web.login("some-other-rater", "rater")
    web.page(f"/ui/employees/{world.employee}", expect=403)
    web.page(f"/ui/evaluations/{world.evaluation_id}", expect=403)


@pytest.mark.parametrize("role", ["peer", "citizen_channel"])
def test_feedback_givers_open_no_page(web: Web, role: str) -> None:
    web.login("someone", role)
    for path in ("/ui/", f"/ui/employees/{web.world.employee}", f"/ui/units/{UNIT}"):
        assert 'data-code="role-not-permitted"' in web.page(path, expect=403).text


def test_an_employee_cannot_open_a_unit_page(web: Web) -> None:
    web.login(web.world.employee, "employee")
    web.page(f"/ui/units/{UNIT}", expect=403)


def test_an_unknown_evaluation_is_a_404_page(web: Web) -> None:
    web.login("inspektorat:budi", "inspector")
    assert 'data-code="not-found"' in web.page("/ui/evaluations/nope", expect=404).text


# --- escaping ------------------------------------------------------------------------------

def test_user_text_is_escaped_on_every_page(web: Web) -> None:
    world = web.world
    web.login("inspektorat:budi", "inspector")
    pages = [web.page(f"/ui/evaluations/{world.evaluation_id}").text,
             web.page(f"/ui/employees/{world.employee}").text,
             web.page("/ui/", unit=EVIL).text,
             web.page(f"/ui/units/{quote(UNIT)}").text]
    for text in pages:
        assert "<script" not in text and "onmouseover=" not in text.replace("onmouseover=&#34;", "")
        assert "<b " not in text
    receipt = pages[0]
    assert html.escape(EVIL, quote=False).replace('"', "&#34;") in receipt
    assert "&lt;script&gt;" in pages[1]
    # A hostile evidence reference is shown as text, never as a link.
    assert 'href="javascript:' not in receipt and f'href="{GOOD_URL}"' in receipt


def test_a_hostile_unit_name_in_the_path_is_escaped(web: Web) -> None:
    web.login("inspektorat:budi", "inspector")
    hostile = '<img src=x onerror="y()"> & <b>'
    text = web.page(f"/ui/units/{quote(hostile, safe='')}").text
    assert "<img" not in text and "&lt;img src=x onerror=" in text


def test_an_unknown_page_is_an_html_404(web: Web) -> None:
    web.login("inspektorat:budi", "inspector")
    answer = web.page("/ui/nothing/here", expect=404)
    assert answer.headers["content-type"].startswith("text/html")
    assert 'data-code="route-not-found"' in answer.text


def test_pages_carry_no_script_and_a_strict_policy(web: Web) -> None:
    web.login("inspektorat:budi", "inspector")
    answer = web.page(f"/ui/evaluations/{web.world.evaluation_id}")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "<script" not in answer.text


# --- as_of ---------------------------------------------------------------------------------

def test_as_of_a_position_shows_the_receipt_as_it_stood(web: Web) -> None:
    world = web.world
    web.login("inspektorat:budi", "inspector")
    path = f"/ui/evaluations/{world.evaluation_id}"
    before = web.page(path, as_of=str(web.before_delivery)).text
    api = web.json(f"/v1/evaluations/{world.evaluation_id}/explain", "inspektorat:budi",
                   "inspector", as_of=str(web.before_delivery))
    assert api["predikat"] is None
    assert f'data-position="{web.before_delivery}"' in before
    assert 'id="predikat"><span class="muted" data-value="">' in before
    now = web.page(path).text
    assert 'id="predikat"><span class="predikat" data-value="baik">' in now
    # Links from a past view keep it.
    assert f"/ui/employees/{world.employee}?as_of={web.before_delivery}" in before


def test_as_of_a_date_before_anything_shows_an_empty_past(web: Web) -> None:
    web.login("inspektorat:budi", "inspector")
    text = web.page(f"/ui/employees/{web.world.employee}", as_of="2020-01-01").text
    assert 'data-position="0"' in text and 'id="timeline"' not in text
    web.page(f"/ui/evaluations/{web.world.evaluation_id}", expect=404, as_of="2020-01-01")


@pytest.mark.parametrize("as_of, code", [("yesterday", "invalid-as-of"),
                                         ("999999999", "as-of-beyond-log")])
def test_a_bad_as_of_is_refused_as_the_api_refuses_it(web: Web, as_of: str, code: str
                                                      ) -> None:
    web.login("inspektorat:budi", "inspector")
    for path in ("/ui/", f"/ui/units/{UNIT}", f"/ui/employees/{web.world.employee}"):
        assert f'data-code="{code}"' in web.page(path, expect=422, as_of=as_of).text


# --- the API's numbers ---------------------------------------------------------------------

def test_the_receipt_shows_the_numbers_of_explain(web: Web) -> None:
    world = web.world
    web.login("inspektorat:budi", "inspector")
    text = web.page(f"/ui/evaluations/{world.evaluation_id}").text
    api = web.json(f"/v1/evaluations/{world.evaluation_id}/explain", "inspektorat:budi",
                   "inspector")
    items = table(text, "items")
    for field in ("target", "realisation", "capaian", "rating", "computed_rating"):
        assert data_values(items, field) == [i[field] for i in api["items"]], field
    assert data_values(table(text, "perilaku"), "rating") == list(
        api["perilaku_values"].values())
    assert f'data-version="{api["rubric"]["version"]}"' in text
    positions = [int(p) for p in re.findall(r'<tr data-position="(\d+)" data-proof=', text)]
    assert positions == [i["position"] for i in api["inputs"]]
    assert set(re.findall(r'data-proof="(\w+)"', text)) == {"verified"}
    assert 'data-mark="override"' in text


def test_the_unit_page_shows_the_distribution_of_the_api(web: Web) -> None:
    web.login("inspektorat:budi", "inspector")
    text = web.page(f"/ui/units/{quote(UNIT)}", year=PERIOD[:4]).text
    api = web.json(f"/v1/units/{quote(UNIT)}/distribution", "inspektorat:budi", "inspector",
                   period=PERIOD)
    section = text[text.index(f'id="period-{PERIOD}"'):]
    for predikat, count in api["counts"].items():
        assert f'data-predikat="{predikat}">{count}</td>' in section
    assert f'data-total="{api["total"]}" data-enrolled="{api["enrolled"]}"' in text


def test_the_evaluation_list_is_the_apis(web: Web) -> None:
    web.login("inspektorat:budi", "inspector")
    text = web.page("/ui/", unit=UNIT).text
    api = web.json("/v1/evaluations", "inspektorat:budi", "inspector", unit=UNIT)
    assert re.findall(r'<tr data-evaluation="([^"]+)"', text) == [
        row["evaluation_id"] for row in api["items"]]
    assert data_values(text, "predikat") == [row["predikat"] or "" for row in api["items"]]


# --- language ------------------------------------------------------------------------------

def test_the_language_switch_is_remembered(web: Web) -> None:
    web.login("inspektorat:budi", "inspector")
    path = f"/ui/evaluations/{web.world.evaluation_id}"
    assert '<html lang="id">' in web.page(path).text
    english = web.page(path, lang="en")
    assert '<html lang="en">' in english.text and "Score receipt" in english.text
    assert f"{LANG_COOKIE}=en" in english.headers["set-cookie"]
    again = web.page(path).text
    assert '<html lang="en">' in again and "Score receipt" in again
    assert "Tanda terima penilaian" in web.page(path, lang="id").text


def test_numbers_are_written_as_each_language_writes_them(web: Web) -> None:
    web.login("inspektorat:budi", "inspector")
    path = f"/ui/evaluations/{web.world.evaluation_id}"
    api = web.json(f"/v1/evaluations/{web.world.evaluation_id}/explain", "inspektorat:budi",
                   "inspector")
    capaian = api["items"][0]["capaian"]
    assert "." in capaian
    assert f'data-value="{capaian}">{capaian.replace(".", ",")}</span>' in web.page(
        path, lang="id").text
    assert f'data-value="{capaian}">{capaian}</span>' in web.page(path, lang="en").text


# --- evidence bundle and the schema ----------------------------------------------------------

def test_the_bundle_links_serve_the_apis_bundle(web: Web) -> None:
    world = web.world
    web.login(world.employee, "employee")
    mine = web.page(f"/ui/evaluations/{world.evaluation_id}/bundle.json").json()
    api = web.json(f"/v1/evaluations/{world.evaluation_id}/bundle", world.employee,
                   "employee")
    assert mine["evaluation_id"] == api["evaluation_id"] == world.evaluation_id
    assert [e["leaf_index"] for e in mine["events"]] == [e["leaf_index"] for e in api["events"]]
    printable = web.page(f"/ui/evaluations/{world.evaluation_id}/bundle.html")
    assert printable.headers["content-type"].startswith("text/html")
    assert world.evaluation_id in printable.text


def test_the_pages_are_not_part_of_the_api_schema(web: Web) -> None:
    schema = web.api.client.get("/openapi.json").json()
    assert not [path for path in schema["paths"] if path.startswith("/ui")]


def test_the_stylesheet_is_served_and_has_print_rules(web: Web) -> None:
    answer = web.page("/ui/static/kinerja.css")
    assert answer.headers["content-type"].startswith("text/css")
    assert "@media print" in answer.text


# --- proof status ----------------------------------------------------------------------------

def test_an_event_altered_in_the_store_fails_its_proof_on_the_receipt(
        tmp_path: Path) -> None:
    """Edit one stored event behind the ledger's back: the receipt names that input as
    failed and the others as verified."""
    import sqlite3

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
                        data_dir=tmp_path / "data")
    for api in open_api(settings):
        world = build_http_world(api)
        rate_with_user_text(world)
        api.runtime.runner.wait_for(api.log_position(), 10)
        publish_checkpoint(api)
        inspector = api.auth("inspektorat:budi", "inspector")
        inputs = api.get(f"/v1/evaluations/{world.evaluation_id}/explain", as_=inspector,
                         expect=200).json()["inputs"]
        victim = inputs[-1]["position"]
        with sqlite3.connect(tmp_path / "ledger.sqlite3") as connection:
            state = connection.execute("SELECT state FROM stored_events WHERE rowid = ?",
                                       (victim,)).fetchone()[0]
            connection.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                               (bytes(state).replace(b"sesuai", b"di_atas", 1), victim))
        client = api.client
        client.cookies.clear()
        client.post("/ui/login", data={"token": inspector["Authorization"][7:]})
        text = client.get(f"/ui/evaluations/{world.evaluation_id}").text
        statuses = dict(re.findall(r'<tr data-position="(\d+)" data-proof="(\w+)"', text))
        assert statuses.pop(str(victim)) == "failed"
        assert set(statuses.values()) == {"verified"}
        assert "altered after it was logged" in text


def test_a_checkpoint_whose_signature_fails_fails_every_proof(tmp_path: Path) -> None:
    """Rewrite the stored checkpoint's note (its size claimed one larger): the signature no
    longer verifies with the log's key, so no input can be proven against it."""
    import sqlite3

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
                        data_dir=tmp_path / "data")
    for api in open_api(settings):
        world = build_http_world(api)
        api.runtime.runner.wait_for(api.log_position(), 10)
        publish_checkpoint(api)
        with sqlite3.connect(tmp_path / "ledger.sqlite3") as connection:
            size, note = connection.execute(
                "SELECT size, note FROM ledger_checkpoints ORDER BY size DESC").fetchone()
            forged = note.replace(f"\n{size}\n", f"\n{size + 1}\n", 1)
            assert forged != note
            connection.execute("UPDATE ledger_checkpoints SET note = ? WHERE size = ?",
                               (forged, size))
        inspector = api.runtime.tokens.issue("inspektorat:budi", ["inspector"])
        api.client.cookies.clear()
        api.client.post("/ui/login", data={"token": inspector})
        text = api.client.get(f"/ui/evaluations/{world.evaluation_id}").text
        assert 'id="checkpoint-signature" data-ok="false"' in text
        assert set(re.findall(r'data-proof="(\w+)"', text)) == {"failed"}
