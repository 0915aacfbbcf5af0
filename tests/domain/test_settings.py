"""One store setting, KINERJA_DATABASE_URL, mapped onto the library's settings in one place."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import Settings, SettingsError, StoreLocation, parse_database_url


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ("KINERJA_DATABASE_URL", "KINERJA_POSTGRES_SCHEMA", "KINERJA_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("url", "expected"), [
    ("memory://", StoreLocation(kind="memory")),
    ("MEMORY://", StoreLocation(kind="memory")),
    ("sqlite:///ledger.sqlite3", StoreLocation(kind="sqlite",
                                               sqlite_path=Path("ledger.sqlite3"))),
    ("sqlite:///data/dir/ledger.sqlite3",
     StoreLocation(kind="sqlite", sqlite_path=Path("data/dir/ledger.sqlite3"))),
    ("sqlite:////var/lib/kinerja/ledger.sqlite3",
     StoreLocation(kind="sqlite", sqlite_path=Path("/var/lib/kinerja/ledger.sqlite3"))),
    ("sqlite:///with%20space.sqlite3",
     StoreLocation(kind="sqlite", sqlite_path=Path("with space.sqlite3"))),
    ("postgresql://kinerja:s3cret@db.internal:5433/appraisals",
     StoreLocation(kind="postgresql", host="db.internal", port=5433, user="kinerja",
                   password="s3cret", dbname="appraisals", schema="kinerja")),
    ("postgres://u@localhost/test",
     StoreLocation(kind="postgresql", host="localhost", port=5432, user="u",
                   dbname="test", schema="kinerja")),
    ("postgresql://u:p%40ss%2Fword@h/db",
     StoreLocation(kind="postgresql", host="h", user="u", password="p@ss/word",
                   dbname="db", schema="kinerja")),
    ("postgresql://u@h/db?schema=tenant_7",
     StoreLocation(kind="postgresql", host="h", user="u", dbname="db", schema="tenant_7")),
])
def test_database_urls_name_the_store(url, expected):
    assert parse_database_url(url) == expected


@pytest.mark.parametrize(("url", "says"), [
    ("mysql://u@h/db", "scheme must be sqlite, postgresql or memory"),
    ("ledger.sqlite3", "scheme must be sqlite, postgresql or memory"),
    ("", "scheme must be sqlite, postgresql or memory"),
    ("postgresql+psycopg://u@h/db", "scheme must be sqlite, postgresql or memory"),
    ("sqlite://", "write sqlite:///path/to/file.sqlite3"),
    ("sqlite:///", "write sqlite:///path/to/file.sqlite3"),
    ("sqlite://host/ledger.sqlite3", "write sqlite:///path/to/file.sqlite3"),
    ("postgresql://u@h", "write postgresql://user:pw@host:port/db"),
    ("postgresql://u@h/", "write postgresql://user:pw@host:port/db"),
    ("postgresql:///db", "write postgresql://user:pw@host:port/db"),
    ("postgresql://u@h:port/db", "port"),
    ("postgresql://u@h:99999/db", "port"),
    ("postgresql://u@h/db?schema=Bad-Name", "not a plain identifier"),
    ("postgresql://u@h/db?schema=1st", "not a plain identifier"),
])
def test_a_bad_database_url_is_refused_with_a_clear_message(url, says):
    with pytest.raises(SettingsError) as raised:
        parse_database_url(url)
    assert says in str(raised.value)
    assert "KINERJA_DATABASE_URL" in str(raised.value) or "schema" in str(raised.value)


@pytest.mark.parametrize("url", [
    "postgresql://kinerja:hunter2@h",            # no database
    "postgresql://kinerja:hunter2@h:port/db",    # bad port
    "postgresql://kinerja:hunter2@h:70000/db",
])
def test_a_refused_url_never_repeats_the_password(url):
    with pytest.raises(SettingsError) as raised:
        parse_database_url(url)
    assert "hunter2" not in str(raised.value)
    assert "***" in str(raised.value)


def test_the_default_store_is_an_sqlite_file_in_the_data_directory(tmp_path):
    settings = Settings(data_dir=tmp_path / "kinerja")
    assert settings.store() == StoreLocation(
        kind="sqlite", sqlite_path=tmp_path / "kinerja" / "ledger.sqlite3")
    env = settings.library_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["SQLITE_DBNAME"] == str(tmp_path / "kinerja" / "ledger.sqlite3")
    assert (tmp_path / "kinerja").is_dir()  # made, so the library can create the file


def test_the_url_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("KINERJA_DATABASE_URL", "memory://")
    assert Settings().store().kind == "memory"
    assert Settings().library_env() == {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def test_postgresql_maps_onto_the_library_settings_with_its_own_schema():
    settings = Settings(database_url="postgresql://u:pw@db:6543/ledger",
                        postgres_schema="dinas_perhubungan", postgres_pool_size=6)
    env = settings.library_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db", "6543", "ledger")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("u", "pw")
    assert env["POSTGRES_SCHEMA"] == "dinas_perhubungan"
    assert env["POSTGRES_POOL_SIZE"] == "6"
    # A full pool must fail fast instead of making a save wait for minutes.
    assert int(env["POSTGRES_CONNECT_TIMEOUT"]) <= 10


def test_a_schema_in_the_url_overrides_the_schema_setting():
    settings = Settings(database_url="postgresql://u@h/db?schema=other",
                        postgres_schema="kinerja")
    assert settings.store().schema == "other"


@pytest.mark.parametrize("schema", [
    "Kinerja", "kinerja-ledger", "1kinerja", "", "a" * 64, "public;drop table x",
    "kinerja ledger", '"quoted"',
])
def test_a_schema_name_must_be_a_plain_lower_case_identifier(schema, monkeypatch):
    with pytest.raises(ValidationError):
        Settings(postgres_schema=schema)
    monkeypatch.setenv("KINERJA_POSTGRES_SCHEMA", schema)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("schema", ["kinerja", "_private", "a" * 63, "tenant_2026"])
def test_plain_schema_names_are_accepted(schema):
    assert Settings(postgres_schema=schema).postgres_schema == schema
