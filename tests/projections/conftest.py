"""Fixtures for the read-model tests: the story told on a store, its read models caught
up, and the query object over them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from api.settings import Settings
from projections.db import Database
from projections.queries import ReadModels
from projections.runner import ProjectionRunner
from tests.conftest import POSTGRES_URL, _conninfo, require_postgres
from tests.projections.story import Story, read_model_db, tell
from tests.scenario import TickingClock

STORES = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQL_STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def fresh_settings(kind: str, directory: Path) -> Iterator[Settings]:
    """Settings for a store of its own (a new SQLite file or PostgreSQL schema), for
    fixtures wider than one test and for hypothesis examples."""
    directory.mkdir(parents=True, exist_ok=True)
    if kind == "memory":
        yield Settings(database_url="memory://", data_dir=directory / "data")
        return
    if kind == "sqlite":
        yield Settings(database_url=f"sqlite:///{directory / 'ledger.sqlite3'}",
                       data_dir=directory / "data")
        return
    require_postgres()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield Settings(database_url=POSTGRES_URL, postgres_schema=schema,
                       data_dir=directory / "data", postgres_pool_size=4)
    finally:
        with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


@dataclass
class Told:
    app: Any
    db: Database
    runner: ProjectionRunner
    models: ReadModels
    story: Story
    clock: Any


@contextmanager
def telling(settings: Settings) -> Iterator[Told]:
    from api.store import open_ledger

    clock = TickingClock()
    app = open_ledger(settings, clock=clock)
    db = read_model_db(settings)
    try:
        story = tell(app, clock)
        runner = ProjectionRunner(app, db, batch_size=17)
        runner.catch_up()
        yield Told(app, db, runner, ReadModels(db, app), story, clock)
    finally:
        db.close()
        app.close()


@pytest.fixture(scope="module", params=STORES)
def told(request, tmp_path_factory) -> Iterator[Told]:
    """The story on every kind of store, read models caught up in small batches.
    Shared by the tests of a module: they only read."""
    directory = tmp_path_factory.mktemp(f"told-{request.param}")
    with fresh_settings(request.param, directory) as settings, telling(settings) as told:
        yield told


@pytest.fixture(params=STORES)
def fresh_told(request, tmp_path) -> Iterator[Told]:
    """As `told`, for a test that writes."""
    with fresh_settings(request.param, tmp_path) as settings, telling(settings) as told:
        yield told


@pytest.fixture
def rm_db(settings) -> Iterator[Database]:
    db = read_model_db(settings)
    yield db
    db.close()


@pytest.fixture
def sql_app(sql_settings, clock) -> Iterator[Any]:
    from api.store import open_ledger
    ledger = open_ledger(sql_settings, clock=clock)
    yield ledger
    ledger.close()


@pytest.fixture
def sql_db(sql_settings) -> Iterator[Database]:
    db = read_model_db(sql_settings)
    yield db
    db.close()
