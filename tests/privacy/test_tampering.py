"""A wrong key, an altered ciphertext, or an envelope moved elsewhere fails loudly."""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import Any

import psycopg
import pytest
from psycopg import sql

from api.privacy import (
    KEYS_TABLE,
    MasterKey,
    MasterKeyError,
    PersonalDataUnreadable,
)
from api.settings import Settings
from domain.errors import NotFound
from tests.conftest import POSTGRES_URL, _conninfo
from tests.privacy.story import NAME
from tests.scenario import HR


def register(ledger: Any, name: str = NAME, nip: str = "198706152010012003") -> str:
    return ledger.register_employee(nip=nip, name=name, unit="Sudinhub", position="Petugas",
                                    actor=HR).ids["employee_id"]


def registered_row(ledger: Any, employee_id: str) -> Any:
    (notification,) = [n for n in ledger.recorder.select_notifications(1, 100)
                       if str(n.originator_id) == employee_id]
    return notification


def rewrite_state(settings: Settings, notification: Any, state: bytes) -> None:
    """Direct SQL, as someone with write access to the database would."""
    store = settings.store()
    if store.kind == "sqlite":
        with sqlite3.connect(str(store.sqlite_path)) as connection:
            # The library's SQLite table is `stored_events`, ids as hex.
            connection.execute("UPDATE stored_events SET state = ? WHERE originator_id = ? "
                               "AND originator_version = ?",
                               (state, notification.originator_id.hex,
                                notification.originator_version))
            assert connection.total_changes == 1
        return
    with psycopg.connect(_conninfo(POSTGRES_URL)) as connection:
        cursor = connection.execute(sql.SQL(
            "UPDATE {}.kinerja_events SET state = %s WHERE originator_id = %s "
            "AND originator_version = %s").format(sql.Identifier(store.schema)),
            (state, notification.originator_id, notification.originator_version))
        assert cursor.rowcount == 1


def edited(notification: Any, change: Any) -> bytes:
    state = json.loads(notification.state)
    change(state)
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()


def flip_first_bit(text: str) -> str:
    data = bytearray(base64.b64decode(text))
    data[0] ^= 1
    return base64.b64encode(bytes(data)).decode()


def read_back(settings: Settings, open_ledgers: Any, employee_id: str) -> Any:
    return open_ledgers(settings).get_employee(employee_id)


@pytest.mark.parametrize("what", ["ct", "nonce"])
def test_an_altered_ciphertext_or_nonce_fails_loudly(sql_settings, sql_ledger, open_ledgers,
                                                     what):
    employee_id = register(sql_ledger)
    row = registered_row(sql_ledger, employee_id)
    rewrite_state(sql_settings, row, edited(
        row, lambda s: s["name"].__setitem__(what, flip_first_bit(s["name"][what]))))
    with pytest.raises(PersonalDataUnreadable, match="does not authenticate"):
        read_back(sql_settings, open_ledgers, employee_id)


def test_an_envelope_moved_to_another_field_fails_loudly(sql_settings, sql_ledger,
                                                         open_ledgers):
    employee_id = register(sql_ledger)
    row = registered_row(sql_ledger, employee_id)
    rewrite_state(sql_settings, row, edited(row, lambda s: s.__setitem__("nip", s["name"])))
    with pytest.raises(PersonalDataUnreadable, match="'nip'"):
        read_back(sql_settings, open_ledgers, employee_id)


def test_an_envelope_moved_to_another_persons_event_fails_loudly(sql_settings, sql_ledger,
                                                                 open_ledgers):
    first = register(sql_ledger)
    second = register(sql_ledger, name="Orang Lain", nip="198706152010012004")
    donor = json.loads(registered_row(sql_ledger, first).state)
    row = registered_row(sql_ledger, second)
    rewrite_state(sql_settings, row, edited(row, lambda s: s.__setitem__("name",
                                                                         donor["name"])))
    with pytest.raises(PersonalDataUnreadable):
        read_back(sql_settings, open_ledgers, second)


@pytest.mark.parametrize("envelope", [
    "Budi plaintext",  # a clear value where an envelope belongs
    {"enc": "rot13", "key": "x", "nonce": "", "ct": ""},
    {"enc": "aesgcm", "key": "x", "nonce": "AAAA"},
    {"enc": "aesgcm", "key": "0123456789abcdef", "nonce": "AAAAAAAAAAAAAAAA",
     "ct": "AAAAAAAAAAAAAAAAAAAAAA=="},  # well formed, but no such key
    {"enc": "aesgcm", "key": "k", "nonce": "not base64!", "ct": "AA=="},
])
def test_a_malformed_or_unknown_envelope_fails_loudly(sql_settings, sql_ledger, open_ledgers,
                                                      envelope):
    employee_id = register(sql_ledger)
    row = registered_row(sql_ledger, employee_id)
    rewrite_state(sql_settings, row, edited(row, lambda s: s.__setitem__("name", envelope)))
    with pytest.raises(PersonalDataUnreadable):
        read_back(sql_settings, open_ledgers, employee_id)


def test_a_wrong_master_key_is_refused_when_the_ledger_opens(sql_settings, sql_ledger,
                                                             open_ledgers):
    register(sql_ledger)
    wrong = sql_settings.model_copy(update={"master_key": MasterKey.generate().to_base64()})
    with pytest.raises(MasterKeyError, match="wrapped under master key"):
        open_ledgers(wrong)


def test_an_altered_wrapped_key_fails_loudly_on_read(sql_settings, sql_ledger, open_ledgers):
    employee_id = register(sql_ledger)
    store = sql_settings.store()
    statement = f"UPDATE {KEYS_TABLE} SET wrapped = ? WHERE subject = ?"
    if store.kind == "sqlite":
        with sqlite3.connect(str(store.sqlite_path)) as connection:
            (wrapped,) = connection.execute(f"SELECT wrapped FROM {KEYS_TABLE} WHERE "
                                            "subject = ?", (employee_id,)).fetchone()
            connection.execute(statement, (flip_first_bit(wrapped), employee_id))
    else:
        with psycopg.connect(_conninfo(POSTGRES_URL),
                             options=f"-c search_path={store.schema}") as connection:
            (wrapped,) = connection.execute(f"SELECT wrapped FROM {KEYS_TABLE} WHERE "
                                            "subject = %s", (employee_id,)).fetchone()
            connection.execute(statement.replace("?", "%s"),
                               (flip_first_bit(wrapped), employee_id))
    with pytest.raises(PersonalDataUnreadable, match="key row was altered"):
        read_back(sql_settings, open_ledgers, employee_id)


def test_a_key_row_deleted_behind_the_ledgers_back_is_an_error_not_a_shredding(
        sql_settings, sql_ledger, open_ledgers):
    employee_id = register(sql_ledger)
    store = sql_settings.store()
    if store.kind == "sqlite":
        with sqlite3.connect(str(store.sqlite_path)) as connection:
            connection.execute(f"DELETE FROM {KEYS_TABLE} WHERE subject = ?", (employee_id,))
    else:
        with psycopg.connect(_conninfo(POSTGRES_URL),
                             options=f"-c search_path={store.schema}") as connection:
            connection.execute(f"DELETE FROM {KEYS_TABLE} WHERE subject = %s", (employee_id,))
    with pytest.raises(PersonalDataUnreadable, match="not in"):
        read_back(sql_settings, open_ledgers, employee_id)


def test_an_unknown_employee_is_still_not_found(ledger):
    with pytest.raises(NotFound):
        ledger.get_employee("00000000-0000-4000-8000-000000000000")
