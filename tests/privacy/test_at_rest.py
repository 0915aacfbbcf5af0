"""Personal fields are not readable in the raw store, and read back intact through the
ledger (also after a restart)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from api.privacy import KEYS_TABLE
from api.settings import Settings
from domain.personal_data import REGISTRY
from tests.conftest import POSTGRES_URL, _conninfo
from tests.privacy.story import CITIZEN, DEWI_TEXTS, NAME, NIP, OTHER_WITHDRAW_REASON
from tests.scenario import UNIT

SECRETS = [NAME, NIP, CITIZEN, OTHER_WITHDRAW_REASON, *DEWI_TEXTS.values()]


def sqlite_bytes(settings: Settings) -> bytes:
    path = settings.store().sqlite_path
    assert path is not None
    # The file and its write-ahead log: a committed row may still sit only in the WAL.
    return b"".join(p.read_bytes() for p in sorted(Path(path).parent.glob(path.name + "*")))


def postgres_bytes(settings: Settings) -> bytes:
    """Every row of every table in the store's schema, event states as raw bytes."""
    schema = settings.store().schema
    chunks: list[bytes] = []
    with psycopg.connect(_conninfo(POSTGRES_URL)) as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,))]
        assert "kinerja_events" in tables and KEYS_TABLE in tables
        for (state,) in connection.execute(sql.SQL("SELECT state FROM {}.kinerja_events")
                                           .format(sql.Identifier(schema))):
            chunks.append(bytes(state))
        for table in tables:
            for (text,) in connection.execute(sql.SQL("SELECT t::text FROM {}.{} t").format(
                    sql.Identifier(schema), sql.Identifier(table))):
                chunks.append(text.encode())
    return b"\n".join(chunks)


def raw_store(settings: Settings) -> bytes:
    return sqlite_bytes(settings) if settings.store().kind == "sqlite" \
        else postgres_bytes(settings)


def found(secret: str, raw: bytes) -> bool:
    data = secret.encode()
    # bytea columns print as hex in a row's text form
    return data in raw or data.hex().encode() in raw


def test_nothing_personal_is_readable_in_the_raw_store_yet_all_reads_back_on_restart(
        sql_settings, sql_story, open_ledgers):
    raw = raw_store(sql_settings)
    assert found(UNIT, raw), "the search must see clear fields"
    assert [s for s in SECRETS if found(s, raw)] == []
    master_key = (sql_settings.data_dir / "master.key").read_text().strip()
    assert master_key.encode() not in raw
    restarted = open_ledgers(sql_settings)
    employee = restarted.get_employee(sql_story.dewi)
    assert (employee.name, employee.nip) == (NAME, NIP)
    texts = personal_texts(restarted)
    assert set(DEWI_TEXTS.values()) | {OTHER_WITHDRAW_REASON} <= texts


def test_every_personal_field_is_stored_as_an_envelope_and_decoded_as_text(ledger, story):
    seen_topics = set()
    for notification in ledger.recorder.select_notifications(1, 10_000):
        entry = REGISTRY.get(notification.topic)
        if entry is None:
            continue
        seen_topics.add(notification.topic)
        stored = ledger.mapper.transcoder.decode(notification.state)
        event = ledger.mapper.to_domain_event(notification)
        for name in entry.fields:
            if stored[name] is None:
                assert getattr(event, name) is None
                continue
            assert set(stored[name]) == {"enc", "key", "nonce", "ct"}
            assert stored[name]["enc"] == "aesgcm"
            assert isinstance(getattr(event, name), str)
    assert seen_topics == set(REGISTRY)


def test_the_citizen_reference_becomes_a_pseudonym_before_it_reaches_an_event(ledger,
                                                                              story):
    item = ledger.repository.get(_uuid(story.feedback_id))
    assert item.giver_ref.startswith("cit:") and CITIZEN not in item.giver_ref
    assert item.comment == DEWI_TEXTS["comment"]


def personal_texts(ledger: Any) -> set[str]:
    texts = set()
    for notification in ledger.recorder.select_notifications(1, 10_000):
        entry = REGISTRY.get(notification.topic)
        if entry is not None:
            event = ledger.mapper.to_domain_event(notification)
            texts |= {getattr(event, n) for n in entry.fields if getattr(event, n)}
    return texts


def _uuid(value: str) -> Any:
    from uuid import UUID
    return UUID(value)
