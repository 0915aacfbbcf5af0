"""Appeals and evidence bundles run on a real SQLite file (one PostgreSQL round trip asks
for its own store); `evidence` opens the Merkle ledger and the read models beside it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from api.bundle import build_bundle
from api.ledger_keys import open_merkle_ledger
from api.settings import Settings
from projections.db import Database, open_database
from projections.ledger import Ledger
from projections.queries import ReadModels
from projections.runner import run_once
from tests.conftest import settings_for
from tests.scenario import World, rate_fully


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Overrides the shared fixture: these specifications run on an SQLite file."""
    return settings_for("sqlite", tmp_path, request)


@dataclass
class Evidence:
    """The read side of one store: read models, Merkle ledger, bundles."""

    settings: Settings
    app: Any
    db: Database
    merkle: Ledger

    @property
    def key(self) -> str:
        assert self.merkle.public_key is not None
        return self.merkle.public_key

    def reads(self) -> ReadModels:
        """The read models, caught up with the whole log."""
        reads = ReadModels(self.db, self.app)
        run_once(self.app, self.db)
        return reads

    def bundle(self, evaluation_id: str, **options: Any) -> dict[str, Any]:
        return build_bundle(self.app, self.merkle, self.db, evaluation_id,
                            reads=self.reads(), **options)


def open_evidence(settings: Settings, app: Any) -> Iterator[Evidence]:
    db = open_database(settings.store(), pool_size=2)
    merkle = open_merkle_ledger(settings, app, db=db)
    try:
        yield Evidence(settings, app, db, merkle)
    finally:
        merkle.close()
        db.close()


@pytest.fixture
def evidence(settings: Settings, app: Any) -> Iterator[Evidence]:
    yield from open_evidence(settings, app)


def deliver(world: World, n: int = 0, **rating: Any) -> str:
    """Rate the n-th employee's evaluation fully and deliver it (Baik by default)."""
    employee = world.employees[n]
    evaluation_id = world.evaluation_id(employee)
    rate_fully(world, evaluation_id, employee, **rating)
    world.app.deliver_result(evaluation_id, actor=world.rater)
    return evaluation_id


def on_day(world: World, evaluation_id: str, days: int, hour: int = 12) -> None:
    """Move the clock to `days` calendar days after the result was delivered."""
    delivered_on = world.app.get_evaluation(evaluation_id).delivered_on
    day = delivered_on + timedelta(days=days)
    world.clock.now = datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)
