"""Fixtures for the personal-data tests: a ledger on each store whose feedback lookup
lets a rater depart from the suggestion (so every personal field gets written)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from api.settings import Settings
from tests.privacy.story import Story, generous_feedback, tell


@pytest.fixture
def open_ledgers(clock) -> Iterator[Callable[[Settings], Any]]:
    """Opens ledgers (as a restarted service would) and closes them after the test."""
    from api.store import open_ledger

    opened: list[Any] = []

    def open_one(settings: Settings) -> Any:
        ledger = open_ledger(settings, clock=clock, feedback_lookup=generous_feedback)
        opened.append(ledger)
        return ledger

    yield open_one
    for ledger in reversed(opened):
        ledger.close()


@pytest.fixture
def ledger(settings: Settings, open_ledgers) -> Any:
    return open_ledgers(settings)


@pytest.fixture
def sql_ledger(sql_settings: Settings, open_ledgers) -> Any:
    return open_ledgers(sql_settings)


@pytest.fixture
def story(ledger, clock) -> Story:
    return tell(ledger, clock)


@pytest.fixture
def sql_story(sql_ledger, clock) -> Story:
    return tell(sql_ledger, clock)


@pytest.fixture
def sqlite_settings(tmp_path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
                    data_dir=tmp_path / "data")
