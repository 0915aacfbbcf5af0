"""`kinerja forget`, `kinerja retention` and `kinerja rotate-master-key`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from api.privacy import MASTER_KEY_FILE, PERSON, MasterKey
from api.settings import Settings
from domain.personal_data import SHREDDED
from tests.privacy.story import NAME
from tests.privacy.test_forget import stored
from tests.privacy.test_tampering import register
from tests.scenario import HR

runner = CliRunner()


def configure(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI reads its settings from the environment, as in production."""
    monkeypatch.setenv("KINERJA_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("KINERJA_POSTGRES_SCHEMA", settings.postgres_schema)
    monkeypatch.setenv("KINERJA_DATA_DIR", str(settings.data_dir))
    return settings


@pytest.fixture
def configured(sql_settings: Settings, monkeypatch) -> Settings:
    return configure(sql_settings, monkeypatch)


def kinerja(*args: str, input: str | None = None) -> Any:
    return runner.invoke(cli, list(args), input=input)


def test_forget_shreds_the_person_and_says_where_it_recorded_it(configured, open_ledgers):
    employee_id = register(open_ledgers(configured))
    result = kinerja("forget", employee_id, "--reason", "retensi berakhir", "--actor", HR,
                     "--yes")
    assert result.exit_code == 0, result.output
    assert f"personal data of {employee_id} shredded (recorded at position" in result.output
    assert open_ledgers(configured).get_employee(employee_id).name == SHREDDED


def test_forget_asks_first_and_does_nothing_when_told_no(configured, open_ledgers):
    ledger = open_ledgers(configured)
    employee_id = register(ledger)
    before = stored(ledger)
    result = kinerja("forget", employee_id, "--reason", "r", "--actor", HR, input="n\n")
    assert result.exit_code == 1
    assert stored(ledger) == before
    assert open_ledgers(configured).get_employee(employee_id).name == NAME


def test_forget_of_an_unknown_employee_fails_with_one_line(configured):
    result = kinerja("forget", "00000000-0000-4000-8000-000000000000", "--reason", "r",
                     "--actor", HR, "--yes")
    assert result.exit_code == 1
    assert "no employee" in result.output


def test_retention_due_lists_the_leavers_whose_period_is_over(configured, open_ledgers):
    ledger = open_ledgers(configured)
    leaver = register(ledger)
    ledger.end_employment(leaver, effective_on=date(2026, 6, 30), reason="pensiun",
                          actor=HR)
    years = ledger.vault.retention.employee_years
    early = kinerja("retention", "--due", "--today", f"{2026 + years}-06-29")
    assert early.exit_code == 0 and leaver not in early.output
    due = kinerja("retention", "--due", "--today", f"{2026 + years}-06-30")
    assert due.exit_code == 0
    assert f"{PERSON}\t{leaver}\tdue {2026 + years}-06-30" in due.output


def test_retention_without_options_summarises_the_keys_and_the_policy(configured,
                                                                      open_ledgers):
    register(open_ledgers(configured))
    result = kinerja("retention")
    assert result.exit_code == 0
    assert "person keys: 1 live, 0 shredded" in result.output
    assert "years after employment ended" in result.output


def test_retention_refuses_a_date_it_cannot_read(configured):
    result = kinerja("retention", "--due", "--today", "30/06/2036")
    assert result.exit_code == 2 and "not a date" in result.output


def test_rotate_master_key_replaces_the_key_file_and_everything_still_reads(
        configured, open_ledgers):
    employee_id = register(open_ledgers(configured))
    old = (configured.data_dir / MASTER_KEY_FILE).read_text()
    result = kinerja("rotate-master-key")
    assert result.exit_code == 0, result.output
    assert "1 data key(s) re-wrapped" in result.output
    assert (configured.data_dir / MASTER_KEY_FILE).read_text() != old
    assert open_ledgers(configured).get_employee(employee_id).name == NAME


def test_rotate_master_key_from_the_environment_takes_the_new_key_from_a_file(
        configured, open_ledgers, monkeypatch, tmp_path: Path):
    old, new = MasterKey.generate(), MasterKey.generate()
    monkeypatch.setenv("KINERJA_MASTER_KEY", old.to_base64())
    employee_id = register(open_ledgers(configured.model_copy(
        update={"master_key": old.to_base64()})))
    assert kinerja("rotate-master-key").exit_code == 2
    new_file = tmp_path / "new.key"
    new_file.write_text(new.to_base64())
    result = kinerja("rotate-master-key", "--new-key-file", str(new_file))
    assert result.exit_code == 0, result.output
    assert "now set KINERJA_MASTER_KEY" in result.output
    reopened = open_ledgers(configured.model_copy(update={"master_key": new.to_base64()}))
    assert reopened.get_employee(employee_id).name == NAME
