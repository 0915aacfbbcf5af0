"""The master key: kept outside the database, generated once, checked, rotated."""

from __future__ import annotations

import base64
import os
import stat
from typing import Any

import pytest

from api.privacy import (
    MASTER_KEY_FILE,
    NEXT_MASTER_KEY_FILE,
    MasterKey,
    MasterKeyError,
    open_vault,
    rotate_master_key_file,
    write_secret_file,
)
from api.settings import Settings
from tests.privacy.story import NAME
from tests.privacy.test_tampering import register


def stored_states(ledger: Any) -> list[bytes]:
    return [bytes(n.state) for n in ledger.recorder.select_notifications(1, 10_000)]


def test_the_master_key_file_is_generated_once_with_mode_0600(sql_settings, open_ledgers):
    employee_id = register(open_ledgers(sql_settings))
    path = sql_settings.data_dir / MASTER_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text().strip(), validate=True)) == 32
    first = path.read_bytes()
    assert open_ledgers(sql_settings).get_employee(employee_id).name == NAME
    assert path.read_bytes() == first


def test_a_memory_store_writes_no_master_key(tmp_path, open_ledgers):
    settings = Settings(database_url="memory://", data_dir=tmp_path / "data")
    register(open_ledgers(settings))
    assert not (tmp_path / "data" / MASTER_KEY_FILE).exists()


def test_a_master_key_file_readable_by_others_is_refused(sql_settings, open_ledgers):
    register(open_ledgers(sql_settings))
    os.chmod(sql_settings.data_dir / MASTER_KEY_FILE, 0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        open_ledgers(sql_settings)


def test_a_lost_master_key_file_is_not_silently_replaced(sql_settings, open_ledgers):
    register(open_ledgers(sql_settings))
    (sql_settings.data_dir / MASTER_KEY_FILE).unlink()
    with pytest.raises(MasterKeyError, match="missing"):
        open_ledgers(sql_settings)
    assert not (sql_settings.data_dir / MASTER_KEY_FILE).exists()


def test_a_master_key_from_the_environment_is_used_and_no_file_is_written(
        sql_settings, open_ledgers):
    configured = sql_settings.model_copy(
        update={"master_key": MasterKey.generate().to_base64()})
    employee_id = register(open_ledgers(configured))
    assert not (sql_settings.data_dir / MASTER_KEY_FILE).exists()
    assert open_ledgers(configured).get_employee(employee_id).name == NAME


@pytest.mark.parametrize("value", ["not base64 at all!", base64.b64encode(b"short").decode(),
                                   base64.b64encode(bytes(33)).decode()])
def test_a_malformed_master_key_setting_is_refused(tmp_path, value):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'l.sqlite3'}",
                        data_dir=tmp_path / "data", master_key=value)
    with pytest.raises(MasterKeyError, match="KINERJA_MASTER_KEY"):
        open_vault(settings)


def test_rotation_rewraps_the_data_keys_and_leaves_every_event_byte_alone(
        sql_settings, open_ledgers):
    ledger = open_ledgers(sql_settings)
    employee_id = register(ledger)
    before = stored_states(ledger)
    old = (sql_settings.data_dir / MASTER_KEY_FILE).read_text().strip()
    vault = open_vault(sql_settings)
    try:
        new_id, count = rotate_master_key_file(sql_settings, vault)
    finally:
        vault.close()
    assert count == 1
    assert not (sql_settings.data_dir / NEXT_MASTER_KEY_FILE).exists()
    new = (sql_settings.data_dir / MASTER_KEY_FILE).read_text().strip()
    assert new != old and MasterKey.from_base64(new).key_id == new_id
    reopened = open_ledgers(sql_settings)
    assert reopened.get_employee(employee_id).name == NAME
    assert stored_states(reopened) == before
    with pytest.raises(MasterKeyError, match="wrapped under master key"):
        open_ledgers(sql_settings.model_copy(update={"master_key": old}))


def test_a_rotation_not_committed_keeps_the_old_key_and_its_pending_key_file(
        sql_settings, open_ledgers):
    employee_id = register(open_ledgers(sql_settings))
    old = (sql_settings.data_dir / MASTER_KEY_FILE).read_bytes()
    # Crashed before its commit, or still re-wrapping in another process: either way the
    # pending key is not touched, and the key the table is under is used.
    pending = MasterKey.generate().to_base64()
    write_secret_file(sql_settings.data_dir / NEXT_MASTER_KEY_FILE, pending)
    assert open_ledgers(sql_settings).get_employee(employee_id).name == NAME
    assert (sql_settings.data_dir / MASTER_KEY_FILE).read_bytes() == old
    assert (sql_settings.data_dir / NEXT_MASTER_KEY_FILE).read_text() == pending


def test_a_process_left_running_through_a_rotation_refuses_to_make_new_keys(
        sql_settings, open_ledgers):
    running = open_ledgers(sql_settings)
    register(running)
    vault = open_vault(sql_settings)
    try:
        rotate_master_key_file(sql_settings, vault)
    finally:
        vault.close()
    with pytest.raises(MasterKeyError, match="restart this process"):
        register(running, name="Pegawai Baru", nip="199901012020011001")


def test_a_rotation_that_crashed_after_its_commit_finishes_on_the_next_start(
        sql_settings, open_ledgers):
    employee_id = register(open_ledgers(sql_settings))
    new = MasterKey.generate()
    write_secret_file(sql_settings.data_dir / NEXT_MASTER_KEY_FILE, new.to_base64())
    vault = open_vault(sql_settings)
    try:
        vault.keys.rotate_master_key(new)  # committed; "crash" before the rename
    finally:
        vault.close()
    assert open_ledgers(sql_settings).get_employee(employee_id).name == NAME
    assert MasterKey.from_base64(
        (sql_settings.data_dir / MASTER_KEY_FILE).read_text()).key_id == new.key_id
    assert not (sql_settings.data_dir / NEXT_MASTER_KEY_FILE).exists()


def test_a_master_key_never_shows_its_secret_in_its_repr():
    key = MasterKey.generate()
    assert key.to_base64() not in repr(key) and key.key_id in repr(key)


def test_a_configured_master_key_never_shows_in_the_settings_repr(tmp_path):
    secret = MasterKey.generate().to_base64()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'l.sqlite3'}",
                        data_dir=tmp_path / "data", master_key=secret)
    assert secret not in repr(settings) and secret not in str(settings.model_dump())
    assert settings.master_key is not None
    assert settings.master_key.get_secret_value() == secret
