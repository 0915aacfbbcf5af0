"""What each read model answers, on every store, after the story in story.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from domain.errors import InvalidValue
from domain.personal_data import SHREDDED
from domain.values import FeedbackSource, Predikat
from projections.queries import InvalidAsOf, InvalidCursor, ReadModels
from projections.runner import ProjectionRunner
from tests.projections.story import assert_same_as_replay, tell
from tests.scenario import HR, PERIOD, UNIT, rate_fully


def by_employee(page: dict) -> dict[str, dict]:
    return {item["employee_id"]: item for item in page["items"]}


def test_every_evaluation_of_the_unit_is_listed_with_its_current_result(told):
    page = told.models.list_evaluations(unit=UNIT, period=PERIOD)
    emp = told.story.employees
    results = {e: (i["predikat"], i["result_source"], i["status"])
               for e, i in by_employee(page).items()}
    assert results == {
        emp[0]: ("sangat_baik", "correction", "delivered"),
        emp[1]: ("baik", "delivered", "delivered"),
        emp[2]: ("baik", "appeal", "delivered"),
        emp[3]: ("baik", "calibration", "delivered"),
    }
    assert page["as_of"] == {"position": told.story.positions["end"]}
    assert page["next_cursor"] is None
    assert [i["evaluation_id"] for i in page["items"]] == sorted(
        i["evaluation_id"] for i in page["items"])
    appeals = {e: i["appeal"]["status"] for e, i in by_employee(page).items()}
    assert appeals == {emp[0]: "not_filed", emp[1]: "lapsed", emp[2]: "decided",
                       emp[3]: "not_filed"}
    assert by_employee(page)[emp[2]]["appeal"]["outcome"] == "changed"


def test_an_override_is_shown_with_both_ratings_and_its_reason(told):
    evaluation = told.models.evaluation(told.story.evaluation(1))
    items = {i["item_id"]: i for i in evaluation["items"]}
    assert items["patrol"]["override"] == {
        "computed_rating": "sesuai_ekspektasi", "rating": "di_atas_ekspektasi",
        "reason": "patroli tambahan saat banjir"}
    assert items["violations"]["override"] is None
    assert items["violations"]["capaian"] == "66.67"
    assert items["violations"]["rating"] == "di_bawah_ekspektasi"


def test_explain_gives_the_derivation_with_its_inputs_and_every_superseding_change(told):
    evaluation_id = told.story.evaluation(2)
    lookups: list[list[int]] = []

    def leaf_lookup(positions: list[int]) -> dict[int, tuple[int, str]]:
        lookups.append(positions)
        return {p: (p - 1, f"{p:064x}") for p in positions}

    explained = told.models.explain(evaluation_id, leaf_lookup=leaf_lookup)
    assert explained["rubric"]["version"] == 1
    assert (explained["hasil_kerja"], explained["perilaku_kerja"], explained["predikat"]) == (
        "sesuai_ekspektasi", "sesuai_ekspektasi", "baik")
    assert set(explained["perilaku_values"].values()) == {"di_bawah_ekspektasi"}
    [change] = explained["result_changes"]
    assert change["source"] == "appeal"
    assert change["previous"]["predikat"] == "kurang"
    assert change["new"]["predikat"] == "baik"
    assert change["reason"] == "bukti diterima"
    topics = [i["topic"] for i in explained["inputs"]]
    assert topics[0] == "kinerja.rubric.version-published.v1"
    assert "kinerja.appeal.decided.v1" in topics
    assert "kinerja.evaluation.result-changed.v1" in topics
    positions = [i["position"] for i in explained["inputs"]]
    assert positions == sorted(positions) and lookups == [positions]
    assert all(i["ledger_index"] == i["position"] - 1 for i in explained["inputs"])
    without = told.models.explain(evaluation_id)
    assert {i["leaf_hash"] for i in without["inputs"]} == {None}


def test_a_correction_cites_the_reopening_that_authorised_it(told):
    explained = told.models.explain(told.story.evaluation(0))
    [change] = explained["result_changes"]
    assert change["source"] == "correction"
    roles = {i["role"] for i in explained["inputs"]}
    assert "reopening" in roles


def test_history_marks_overrides_appeal_decisions_calibrations_and_corrections(told):
    emp = told.story.employees
    marked = {e: [x["marked"] for x in told.models.history(e)["entries"] if x["marked"]]
              for e in emp}
    assert marked[emp[0]] == ["reopening", "correction"]
    assert marked[emp[1]] == ["override", "reopening"]
    assert marked[emp[2]] == ["appeal_decision", "appeal_decision", "reopening"]
    assert marked[emp[3]] == ["calibration", "reopening"]
    entries = told.models.history(emp[1])["entries"]
    override = next(x for x in entries if x["marked"] == "override")
    assert override["reason"] == "patroli tambahan saat banjir"
    assert override["actor"] == told.story.world.rater
    assert override["change"]["rating"] == "di_atas_ekspektasi"
    positions = [x["position"] for x in entries]
    assert positions == sorted(positions)


def test_a_peer_identity_is_kept_in_its_own_column_only(told):
    entries = told.models.history(told.story.employees[0])["entries"]
    given = [x for x in entries if x["kind"] == "feedback.given"]
    assert [x["giver_ref"] for x in given][0] == told.story.world.head
    assert all("giver_ref" not in x["change"] for x in given)
    assert given[0]["change"]["source"] == "peer"


def test_distribution_counts_predikat_against_the_quota_of_the_organisational_result(told):
    spread = told.models.distribution(UNIT, PERIOD)
    assert spread["counts"] == {"sangat_baik": 1, "baik": 3, "butuh_perbaikan": 0,
                                "kurang": 0, "sangat_kurang": 0}
    assert (spread["total"], spread["enrolled"]) == (4, 4)
    assert spread["organisational_result"] == "baik"
    assert [(c["bound"], c["holds"]) for c in spread["quota_checks"]] == [
        ("max_share", False), ("min_count", False)]
    assert spread["holds"] is False
    assert spread["locked"] is True
    assert spread["lock"]["justification"] == "koreksi selesai"
    assert spread["rubric"]["version"] == 1


def test_hr_reconstructs_the_whole_cycle_as_of_a_time(told):
    """Before the appeal was decided, employee 2 stood at kurang: the list, the
    explanation and the distribution all say so as of that position or time."""
    positions = told.story.positions
    before = positions["appeal_decided"] - 2
    moment = _recorded_at(told, before)
    for as_of in (before, str(before), moment, moment.isoformat()):
        page = told.models.list_evaluations(unit=UNIT, period=PERIOD, as_of=as_of)
        assert page["as_of"]["position"] == before
        assert by_employee(page)[told.story.employees[2]]["predikat"] == "kurang"
    spread = told.models.distribution(UNIT, PERIOD, as_of=before)
    assert spread["counts"]["kurang"] == 1 and spread["locked"] is False
    assert told.models.explain(told.story.evaluation(2), as_of=before)["result_changes"] == []


def test_as_of_a_date_means_the_end_of_that_day(told):
    assert told.models.position_at("2026-01-01") == 0
    assert told.models.list_evaluations(as_of="2026-01-01")["items"] == []
    end = told.story.positions["end"]
    # The story's clock stays on 2 January until the 20-day jump at its end.
    day_two = told.models.position_at("2026-01-02")
    assert 0 < day_two < end
    assert told.models.position_at("2026-12-31") == end


def test_position_at_gives_the_last_position_recorded_at_or_before_a_time(told):
    position = 40
    moment = _recorded_at(told, position)
    assert told.models.position_at(moment) == position
    assert told.models.position_at(moment - timedelta(microseconds=1)) < position
    assert told.models.position_at(datetime(2000, 1, 1, tzinfo=timezone.utc)) == 0
    assert told.models.current_position() == told.story.positions["end"]


def test_the_audit_index_lists_what_an_actor_recorded_page_by_page(told):
    rater = told.story.world.rater
    first = told.models.audit(rater, limit=5)
    assert len(first["items"]) == 5 and first["next_cursor"]
    everything, cursor = list(first["items"]), first["next_cursor"]
    while cursor:
        page = told.models.audit(rater, cursor=cursor, limit=5)
        everything += page["items"]
        cursor = page["next_cursor"]
    assert everything == told.models.audit(rater, limit=500)["items"]
    log = told.models.events(after=0, limit=1000)["items"]
    assert [i["position"] for i in everything] == [e["position"] for e in log
                                                   if e["actor"] == rater]


def test_the_raw_log_pages_with_decoded_payloads(told):
    page = told.models.events(after=0, limit=10)
    assert [i["position"] for i in page["items"]] == list(range(1, 11))
    assert page["next_after"] == 10
    first = page["items"][0]
    assert first["topic"] == "kinerja.employee.registered.v1"
    assert first["payload"]["unit"] == UNIT
    end = told.story.positions["end"]
    tail = told.models.events(after=end - 3, limit=10)
    assert len(tail["items"]) == 3 and tail["next_after"] is None


def test_pages_follow_one_snapshot_even_when_the_log_moves_on(fresh_told):
    told = fresh_told
    first = told.models.list_evaluations(unit=UNIT, period=PERIOD, limit=3)
    assert len(first["items"]) == 3
    told.app.give_feedback(employee_id=told.story.employees[0], period=PERIOD,
                           source=FeedbackSource.PEER, giver_ref=told.story.world.rater,
                           score=5, actor=told.story.world.rater)
    told.runner.catch_up()
    rest = told.models.list_evaluations(cursor=first["next_cursor"], limit=3)
    assert rest["as_of"] == first["as_of"]
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    ids = [i["evaluation_id"] for i in first["items"] + rest["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 4


def test_a_raters_scope_restricts_the_list(told):
    rater = told.story.world.rater
    scope = told.models.evaluation_scope(rater)
    assert scope == set(told.story.employees)
    assert told.models.evaluation_scope(told.story.world.head) == set()
    assert len(told.models.list_evaluations(employee_ids=scope)["items"]) == 4
    assert told.models.list_evaluations(employee_ids=set())["items"] == []
    one = told.models.list_evaluations(employee_ids={told.story.employees[1]})
    assert [i["employee_id"] for i in one["items"]] == [told.story.employees[1]]


def test_feedback_scores_serve_the_services_feedback_port(told):
    emp = told.story.employees
    assert told.models.feedback_scores(emp[0], PERIOD) == [
        (FeedbackSource.PEER, 4), (FeedbackSource.CITIZEN, 3)]
    assert told.models.feedback_scores(emp[1], PERIOD) == []
    summary = told.models.evaluation(told.story.evaluation(0))["feedback"]
    assert summary == {"peer": {"count": 1, "mean": "4.00"},
                       "citizen": {"count": 1, "mean": "3.00"}}


def test_unknown_ids_give_none_or_empty(told):
    unknown = "00000000-0000-0000-0000-000000000000"
    assert told.models.explain(unknown) is None
    assert told.models.explain("not a uuid") is None
    assert told.models.evaluation(unknown) is None
    assert told.models.history(unknown)["entries"] == []
    assert told.models.distribution("Nowhere", PERIOD) is None
    assert told.models.distribution(UNIT, "2026-07") is None
    assert told.models.audit("nobody")["items"] == []
    assert told.models.list_evaluations(unit="Nowhere")["items"] == []
    assert told.models.feedback_scores(unknown, PERIOD) == []
    assert told.models.evaluation_scope(unknown) == set()


@pytest.mark.parametrize("as_of", ["yesterday", "2026-01-02T08:00:00", -1, True,
                                   "2026-13-01", 1.5])
def test_a_malformed_as_of_is_refused_with_a_typed_error(told, as_of):
    with pytest.raises(InvalidAsOf) as refused:
        told.models.list_evaluations(as_of=as_of)
    assert isinstance(refused.value, InvalidValue) and refused.value.kind == "invalid"


@pytest.mark.parametrize("cursor", ["garbage", "eyJrIjoxfQ", "", "eyJrIjoiYSIsInAiOi0xfQ"])
def test_a_cursor_not_given_out_is_refused_with_a_typed_error(told, cursor):
    with pytest.raises(InvalidCursor):
        told.models.list_evaluations(cursor=cursor)
    with pytest.raises(InvalidCursor):
        told.models.audit("x", cursor=cursor)


def test_a_position_beyond_the_read_models_is_answered_at_the_position_reached(told):
    end = told.story.positions["end"]
    page = told.models.list_evaluations(as_of=end + 1000)
    assert page["as_of"]["position"] == end


def test_the_read_models_feed_the_services_feedback_lookup(app, rm_db, clock):
    from api.store import open_ledger  # noqa: F401 - the service port, as the API wires it

    runner = ProjectionRunner(app, rm_db)
    models = ReadModels(rm_db, app)
    from tests.scenario import build_world
    world = build_world(app, clock)
    app.feedback_lookup = models.feedback_scores
    evaluation_id = world.evaluation_id()
    app.give_feedback(employee_id=world.employee, period=PERIOD, source=FeedbackSource.PEER,
                      giver_ref=world.head, score=5, actor=world.head)
    rate_fully(world, evaluation_id, world.employee)
    assert runner.wait_for(app.recorder.max_notification_id(), timeout=10)
    app.deliver_result(evaluation_id, departure_reason="sesuai pengamatan",
                       actor=world.rater)
    runner.catch_up()
    explained = models.explain(evaluation_id)
    assert explained["feedback_at_delivery"] == {"peer": {"count": 1, "mean": "5.00"}}


def test_shredding_turns_personal_text_into_what_a_replay_reads(sql_app, sql_db, clock):
    story = tell(sql_app, clock)
    runner = ProjectionRunner(sql_app, sql_db, batch_size=50)
    runner.catch_up()
    models = ReadModels(sql_db, sql_app)
    employee = story.employees[1]
    before = models.history(employee)["entries"]
    assert any(x["reason"] == "patroli tambahan saat banjir" for x in before)
    sql_app.forget(employee, reason="masa retensi berakhir", actor=HR, roles={"admin"})
    runner.catch_up()
    after = models.history(employee)["entries"]
    override = next(x for x in after if x["marked"] == "override")
    assert override["reason"] == SHREDDED
    items = {i["item_id"]: i for i in models.evaluation(story.evaluation(1))["items"]}
    assert items["patrol"]["override"]["reason"] == SHREDDED
    # Scrubbed in every version, as of any position, as a replay would now read it.
    old = models.evaluation(story.evaluation(1), as_of=story.positions["delivered"])
    assert {i["item_id"]: i for i in old["items"]}["patrol"]["override"]["reason"] == SHREDDED
    others = models.history(story.employees[0])["entries"]
    assert any(x["reason"] == "koreksi target" for x in others)
    assert_same_as_replay(sql_app, sql_db)


def _recorded_at(told, position: int) -> datetime:
    [event] = told.models.events(after=position - 1, limit=1)["items"]
    return datetime.fromisoformat(event["recorded_at"])


def test_predikat_strings_are_the_wire_values(told):
    page = told.models.list_evaluations()
    assert {i["predikat"] for i in page["items"]} <= {str(p) for p in Predikat}
