"""Shared fixtures: one store fixture over memory, a real SQLite file and a real
PostgreSQL schema of its own per test.

PostgreSQL tests are skipped when no server answers, except under CI=true, where a
missing server fails them (CI must never pass by skipping them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from api.settings import Settings

POSTGRES_URL = os.environ.get(
    "KINERJA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("KINERJA_SHARED_DIR", REPO_ROOT.parent / "shared"))


def run_kinerja(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """The `kinerja` command as an operator runs it: a process of its own, on the store
    `settings` names."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT),
           "KINERJA_DATABASE_URL": settings.database_url,
           "KINERJA_DATA_DIR": str(settings.data_dir),
           "KINERJA_POSTGRES_SCHEMA": settings.postgres_schema}
    # Not `-m api.cli`: commands register on the imported module, not on __main__.
    return subprocess.run([sys.executable, "-c", "from api.cli import main; main()", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


_postgres_checked: list[str | None] = []


def postgres_unavailable_reason() -> str | None:
    """None when the test PostgreSQL answers, else why not (checked once)."""
    if not _postgres_checked:
        try:
            with psycopg.connect(_conninfo(POSTGRES_URL), connect_timeout=3):
                _postgres_checked.append(None)
        except psycopg.Error as error:
            _postgres_checked.append(f"PostgreSQL at {POSTGRES_URL} unreachable: {error}")
    return _postgres_checked[0]


def _conninfo(url: str) -> str:
    from api.store import postgres_conninfo
    return postgres_conninfo(Settings(database_url=url).store())


def require_postgres() -> None:
    reason = postgres_unavailable_reason()
    if reason is None:
        return
    if UNDER_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh schema, dropped with everything in it after the test."""
    require_postgres()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(schema)))


def settings_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if kind == "memory":
        return Settings(database_url="memory://", data_dir=tmp_path / "data")
    if kind == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
                        data_dir=tmp_path / "data")
    schema = request.getfixturevalue("postgres_schema")
    return Settings(database_url=POSTGRES_URL, postgres_schema=schema,
                    data_dir=tmp_path / "data", postgres_pool_size=4)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for each kind of store, each test on a store of its own."""
    return settings_for(request.param, tmp_path, request)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for the two SQL stores only (projections, ledger)."""
    return settings_for(request.param, tmp_path, request)


@pytest.fixture
def clock():
    from tests.scenario import TickingClock
    return TickingClock()


@pytest.fixture
def app(settings: Settings, clock):
    """The ledger on each kind of store, closed after the test."""
    from api.store import open_ledger
    ledger = open_ledger(settings, clock=clock)
    yield ledger
    ledger.close()


@pytest.fixture
def world(app, clock):
    from tests.scenario import build_world
    return build_world(app, clock)
