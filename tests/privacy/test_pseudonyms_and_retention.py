"""Citizen pseudonyms at ingestion, retention periods, and scheduled key shredding."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.privacy import PERSON, PSEUDONYM, RetentionPolicy
from api.settings import Settings
from domain.errors import InvalidValue
from domain.personal_data import PersonalDataForgotten
from domain.values import FeedbackSource
from tests.privacy.test_forget import REASON, stored
from tests.scenario import HR, PERIOD, build_world

JAN_2 = date(2026, 1, 2)  # the test clock's day


def citizen_feedback(ledger: Any, employee: str, giver: str, channel: str | None = "JAKI",
                     **extra: Any) -> Any:
    written = ledger.give_feedback(employee_id=employee, period=PERIOD,
                                   source=FeedbackSource.CITIZEN, giver_ref=giver, score=4,
                                   channel=channel, actor="channel:jaki", **extra)
    return ledger.repository.get(UUID(written.ids["feedback_id"])).giver_ref


def test_the_same_citizen_on_the_same_channel_gets_the_same_pseudonym(ledger, clock):
    world = build_world(ledger, clock)
    first = citizen_feedback(ledger, world.employee, "NIK 3171012345670001")
    again = citizen_feedback(ledger, world.employee, "  NIK 3171012345670001 ")
    other_citizen = citizen_feedback(ledger, world.employee, "NIK 3171012345670002")
    other_channel = citizen_feedback(ledger, world.employee, "NIK 3171012345670001",
                                     channel="Qlue")
    assert first == again
    assert len({first, other_citizen, other_channel}) == 3
    assert all(p.startswith("cit:") and "3171" not in p
               for p in (first, other_citizen, other_channel))


def test_a_pseudonym_is_the_keyed_hash_of_channel_and_citizen_under_the_windows_key(
        ledger, clock):
    world = build_world(ledger, clock)
    given = citizen_feedback(ledger, world.employee, " warga-7 ")
    first, last = ledger.vault.retention.pseudonym_epoch(JAN_2)
    key_id, _, raw = ledger.vault.keys.key_for_writing(
        PSEUDONYM, f"JAKI/{first.isoformat()}", active_until=last)
    digest = hmac.new(raw, "JAKI\x00warga-7".encode(), hashlib.sha256).hexdigest()
    assert given == f"cit:{key_id}:{digest[:32]}"
    # And again, from the same channel's key already in hand.
    assert citizen_feedback(ledger, world.employee, "warga-7") == given


def test_a_batch_from_a_channel_is_pseudonymised_item_by_item(ledger, clock):
    world = build_world(ledger, clock)
    written = ledger.give_feedback_batch([
        {"employee_id": world.employee, "period": PERIOD, "source": "citizen",
         "giver_ref": f"08123456789{n}", "score": 3, "channel": "CRM",
         "external_ref": f"crm-{n}"} for n in range(3)], actor="channel:crm")
    givers = [ledger.repository.get(UUID(i)).giver_ref for i in written.ids["feedback_ids"]]
    assert len(set(givers)) == 3 and all(g.startswith("cit:") for g in givers)


def test_a_new_key_window_gives_the_same_citizen_an_unlinkable_pseudonym(ledger, clock):
    world = build_world(ledger, clock)
    first = citizen_feedback(ledger, world.employee, "warga-1")
    clock.advance(days=ledger.vault.retention.pseudonym_key_days)
    assert citizen_feedback(ledger, world.employee, "warga-1") != first


def test_peer_feedback_keeps_the_peers_actor_id(ledger, clock):
    world = build_world(ledger, clock)
    written = ledger.give_feedback(employee_id=world.employee, period=PERIOD,
                                   source=FeedbackSource.PEER, giver_ref=world.rater,
                                   score=4, actor=world.rater)
    assert ledger.repository.get(UUID(written.ids["feedback_id"])).giver_ref == world.rater


@pytest.mark.parametrize("giver, channel", [("warga-1", None), ("warga-1", " "),
                                            ("", "JAKI"), ("   ", "JAKI")])
def test_citizen_feedback_without_a_channel_or_a_giver_is_refused_and_nothing_is_written(
        ledger, clock, giver, channel):
    world = build_world(ledger, clock)
    before = stored(ledger)
    with pytest.raises(InvalidValue):
        citizen_feedback(ledger, world.employee, giver, channel=channel)
    assert stored(ledger) == before


def test_an_employee_is_due_for_shredding_the_set_number_of_years_after_leaving(ledger,
                                                                                clock):
    world = build_world(ledger, clock, employees=2)
    leaver, stayer = world.employees
    ledger.end_employment(leaver, effective_on=date(2026, 6, 30), reason="pensiun",
                          actor=HR)
    years = ledger.vault.retention.employee_years
    due_on = date(2026 + years, 6, 30)

    def due_people(today: date) -> list[str]:
        return [d.subject for d in ledger.vault.due(ledger.recorder, ledger.mapper, today)
                if d.kind == PERSON]
    assert due_people(due_on - timedelta(days=1)) == []
    assert due_people(due_on) == [leaver]
    assert stayer not in due_people(date(2100, 1, 1))
    ledger.forget(leaver, reason=REASON, actor=HR, roles={"admin"})
    assert due_people(date(2100, 1, 1)) == []


def test_pseudonym_keys_are_due_after_their_window_and_retention_then_shredded(ledger,
                                                                               clock):
    world = build_world(ledger, clock)
    pseudonym = citizen_feedback(ledger, world.employee, "warga-1")
    policy = ledger.vault.retention
    _, last_used = policy.pseudonym_epoch(JAN_2)
    due_on = last_used + timedelta(days=policy.pseudonym_days)
    vault = ledger.vault
    assert vault.shred_due_pseudonym_keys(ledger.recorder, ledger.mapper,
                                          due_on - timedelta(days=1)) == []
    before = stored(ledger)
    (shredded,) = vault.shred_due_pseudonym_keys(ledger.recorder, ledger.mapper, due_on)
    assert (shredded.kind, shredded.due_on) == (PSEUDONYM, due_on)
    assert stored(ledger) == before  # events keep their pseudonyms, unchanged
    assert vault.due(ledger.recorder, ledger.mapper, due_on) == []
    # Nobody can compute that window's pseudonyms any more, not even the ledger.
    with pytest.raises(PersonalDataForgotten):
        vault.pseudonymise("JAKI", "warga-1", JAN_2)
    assert ledger.repository.get(_only_feedback(ledger)).giver_ref == pseudonym


def _only_feedback(ledger: Any) -> UUID:
    (notification,) = [n for n in ledger.recorder.select_notifications(1, 1000)
                       if n.topic == "kinerja.feedback.given.v1"]
    return notification.originator_id


def test_retention_periods_come_from_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("KINERJA_RETENTION_EMPLOYEE_YEARS", "25")
    monkeypatch.setenv("KINERJA_PSEUDONYM_KEY_DAYS", "7")
    monkeypatch.setenv("KINERJA_RETENTION_PSEUDONYM_DAYS", "14")
    policy = RetentionPolicy.from_settings(Settings())
    assert policy == RetentionPolicy(employee_years=25, pseudonym_key_days=7,
                                     pseudonym_days=14)


def test_employment_ending_on_29_february_is_due_on_28_february():
    assert RetentionPolicy(employee_years=1).employee_due_on(date(2028, 2, 29)) == \
        date(2029, 2, 28)


@given(st.dates(min_value=date(1970, 1, 1), max_value=date(2200, 1, 1)),
       st.integers(min_value=1, max_value=400))
def test_every_day_lies_in_one_fixed_pseudonym_window(day, key_days):
    first, last = RetentionPolicy(pseudonym_key_days=key_days).pseudonym_epoch(day)
    assert first <= day <= last
    assert (last - first).days == key_days - 1
    assert (first - date(1970, 1, 1)).days % key_days == 0
