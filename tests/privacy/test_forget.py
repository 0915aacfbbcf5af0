"""Crypto-shredding: after `forget`, a person's personal fields read as SHREDDED
everywhere, scores and histories still compute, and no stored byte has changed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest

from api.privacy import PERSON, ProtectedLedger, open_vault
from domain.errors import NotAuthorised, NotFound, ReasonRequired
from domain.merkle import leaf_hash
from domain.personal_data import (
    REGISTRY,
    SHREDDED,
    PersonalDataAlreadyShredded,
    PersonalDataForgotten,
)
from domain.values import FeedbackSource
from tests.privacy.story import (
    CITIZEN,
    DEWI_TEXTS,
    NAME,
    NIP,
    OTHER_WITHDRAW_REASON,
    generous_feedback,
    results,
)
from tests.privacy.test_at_rest import found, personal_texts, raw_store
from tests.privacy.test_tampering import register
from tests.scenario import HR, PERIOD

SHREDDED_TOPIC = "kinerja.employee.personal-data-shredded.v1"
REASON = "masa retensi berakhir (UU 27/2022 pasal 43)"


def stored(ledger: Any) -> list[tuple[int, str, Any, int, bytes]]:
    return [(n.id, n.topic, n.originator_id, n.originator_version, bytes(n.state))
            for n in ledger.recorder.select_notifications(1, 10_000)]


@pytest.fixture
def person(ledger: Any) -> Any:
    """Just one registered employee: enough for the refusals (cheaper than the story)."""
    rater = register(ledger, name="Rina Penilai", nip="198001012005031001")
    return SimpleNamespace(dewi=register(ledger), rater=rater)


def forget_dewi(ledger: Any, story: Any, **overrides: Any) -> Any:
    arguments = {"reason": REASON, "actor": HR, "roles": {"admin"}, **overrides}
    return ledger.forget(story.dewi, **arguments)


def test_forget_records_who_why_and_when_then_destroys_the_key(ledger, story):
    before = stored(ledger)
    written = forget_dewi(ledger, story)
    after = stored(ledger)
    assert after[:len(before)] == before
    (new,) = after[len(before):]
    assert (new[1], new[2], new[0]) == (SHREDDED_TOPIC, UUID(story.dewi), written.position)
    event = ledger.mapper.to_domain_event(ledger.recorder.select_notifications(new[0], 1)[0])
    assert (event.reason, event.actor) == (REASON, HR)
    record = ledger.vault.keys.record_of(PERSON, story.dewi)
    assert record is not None and not record.live and record.shred_reason == REASON
    # Leaves hash the stored bytes (docs/ledger.md has the real encoding): unchanged too.
    assert leaves(after[:len(before)]) == leaves(before)


def leaves(rows: list[tuple[int, str, Any, int, bytes]]) -> list[bytes]:
    return [leaf_hash(b"|".join([str(r[2]).encode(), str(r[3]).encode(), r[1].encode(),
                                 r[4]])) for r in rows]


def test_after_forget_the_person_reads_as_shredded_and_scores_are_unchanged(ledger, story):
    forget_dewi(ledger, story)
    employee = ledger.get_employee(story.dewi)
    assert (employee.name, employee.nip) == (SHREDDED, SHREDDED)
    assert employee.personal_data_shredded_on is not None
    texts = personal_texts(ledger)
    assert not texts & set(DEWI_TEXTS.values())
    assert OTHER_WITHDRAW_REASON in texts  # somebody else's key is untouched
    assert results(ledger, story) == story.results
    item = ledger.repository.get(UUID(story.feedback_id))
    assert (item.comment, item.score, item.source) == (SHREDDED, 5, FeedbackSource.CITIZEN)
    for employee_id in (story.world.head, story.world.rater, story.world.employee):
        employee = ledger.get_employee(employee_id)
        assert SHREDDED not in (employee.name, employee.nip)


def test_after_forget_a_restarted_service_cannot_read_the_person_either(
        sql_settings, sql_ledger, clock, open_ledgers):
    from tests.privacy.story import tell
    story = tell(sql_ledger, clock)
    forget_dewi(sql_ledger, story)
    restarted = open_ledgers(sql_settings)
    employee = restarted.get_employee(story.dewi)
    assert (employee.name, employee.nip) == (SHREDDED, SHREDDED)
    assert not personal_texts(restarted) & {NAME, NIP, *DEWI_TEXTS.values()}
    assert results(restarted, story) == story.results
    # every event still decodes, and every aggregate still loads
    for notification in restarted.recorder.select_notifications(1, 10_000):
        restarted.mapper.to_domain_event(notification)
    assert not found(NAME, raw_store(sql_settings))


def test_another_process_sees_the_shredding_when_its_key_cache_expires(
        sql_settings, sql_ledger, clock):
    from tests.privacy.story import tell
    story = tell(sql_ledger, clock)
    # A second service on the same store that re-reads key rows on every use.
    other = ProtectedLedger(sql_settings.library_env(), vault=open_vault(
        sql_settings, cache_seconds=0), clock=clock, feedback_lookup=generous_feedback)
    try:
        assert other.get_employee(story.dewi).name == NAME
        forget_dewi(sql_ledger, story)
        assert other.get_employee(story.dewi).name == SHREDDED
        assert DEWI_TEXTS["grounds"] not in personal_texts(other)
    finally:
        other.close()


def test_only_an_administrator_may_forget_and_a_refusal_changes_nothing(ledger, person):
    before = stored(ledger)
    with pytest.raises(NotAuthorised):
        forget_dewi(ledger, person, roles={"rater", "inspector"})
    assert stored(ledger) == before
    assert ledger.vault.keys.record_of(PERSON, person.dewi).live
    assert ledger.get_employee(person.dewi).name == NAME


@pytest.mark.parametrize("reason", ["", "   "])
def test_forget_needs_a_written_reason(ledger, person, reason):
    before = stored(ledger)
    with pytest.raises(ReasonRequired):
        forget_dewi(ledger, person, reason=reason)
    assert stored(ledger) == before
    assert ledger.vault.keys.record_of(PERSON, person.dewi).live


def test_forgetting_an_unknown_employee_is_not_found(ledger, person):
    with pytest.raises(NotFound):
        ledger.forget("00000000-0000-4000-8000-000000000000", reason=REASON, actor=HR,
                      roles={"admin"})


def test_forgetting_twice_is_refused_and_records_nothing(ledger, person):
    forget_dewi(ledger, person)
    before = stored(ledger)
    with pytest.raises(PersonalDataAlreadyShredded):
        forget_dewi(ledger, person)
    assert stored(ledger) == before


def test_a_forget_interrupted_after_its_event_is_finished_by_running_it_again(
        ledger, person):
    employee = ledger.get_employee(person.dewi)

    def decide(at: Any) -> list[Any]:
        employee.shred_personal_data(REASON, HR, at)
        return [employee]
    ledger._write(decide)  # the event is recorded, then the "crash": the key survives
    assert ledger.vault.keys.record_of(PERSON, person.dewi).live
    before = stored(ledger)
    written = forget_dewi(ledger, person)
    assert written.position is None and stored(ledger) == before
    assert not ledger.vault.keys.record_of(PERSON, person.dewi).live
    assert ledger.get_employee(person.dewi).name == SHREDDED


def test_no_new_personal_data_about_a_forgotten_person_is_accepted(ledger, person):
    forget_dewi(ledger, person)
    before = stored(ledger)
    with pytest.raises(PersonalDataForgotten):
        ledger.give_feedback(employee_id=person.dewi, period=PERIOD,
                             source=FeedbackSource.PEER, giver_ref=person.rater,
                             score=4, comment="komentar baru", actor=person.rater)
    assert stored(ledger) == before
    # feedback without personal text is still recorded: the score is not personal
    ledger.give_feedback(employee_id=person.dewi, period=PERIOD, source=FeedbackSource.CITIZEN,
                         giver_ref=CITIZEN, score=3, channel="JAKI", actor="channel:jaki")
    assert len(stored(ledger)) == len(before) + 1


def test_registry_topics_of_the_forgotten_person_all_read_as_shredded(ledger, story):
    forget_dewi(ledger, story)
    dewi_streams = {UUID(story.dewi), UUID(story.dewi_evaluation), UUID(story.dewi_appeal),
                    UUID(story.feedback_id)}
    checked = 0
    for notification in ledger.recorder.select_notifications(1, 10_000):
        entry = REGISTRY.get(notification.topic)
        if entry is None or notification.originator_id not in dewi_streams:
            continue
        event = ledger.mapper.to_domain_event(notification)
        for name in entry.fields:
            assert getattr(event, name) in (None, SHREDDED), (notification.topic, name)
            checked += getattr(event, name) == SHREDDED
    # + name and nip, + the appeal decision's reasons repeated on ResultChanged
    assert checked == len(DEWI_TEXTS) + 3


def test_aggregates_cached_in_the_process_do_not_keep_the_forgotten_texts(tmp_path, clock):
    from api.settings import Settings
    from api.store import open_ledger
    from tests.privacy.story import tell
    # The cache is in the process, whatever the store: memory is enough.
    settings = Settings(database_url="memory://", data_dir=tmp_path / "data")
    cached = open_ledger(settings, clock=clock, feedback_lookup=generous_feedback,
                         AGGREGATE_CACHE_MAXSIZE=1000)
    try:
        story = tell(cached, clock)
        item = cached.get_evaluation(story.dewi_evaluation).items["violations"]
        assert item["override_reason"] == DEWI_TEXTS["override_reason"]
        forget_dewi(cached, story)
        item = cached.get_evaluation(story.dewi_evaluation).items["violations"]
        assert item["override_reason"] == SHREDDED
        assert cached.get_employee(story.dewi).name == SHREDDED
    finally:
        cached.close()
