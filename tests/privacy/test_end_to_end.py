"""Forgetting a person through the whole system: read models caught up and rebuilt, every
HTTP answer, `kinerja replay --check`, `kinerja verify` with a checkpoint signed before
the shredding, and scores unchanged."""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.settings import Settings
from projections.db import open_database
from projections.runner import run_once
from tests.privacy.story import (
    CITIZEN,
    DEWI_TEXTS,
    NAME,
    NIP,
    OTHER_WITHDRAW_REASON,
    results,
    tell,
)
from tests.privacy.test_at_rest import found, postgres_bytes, raw_store
from tests.privacy.test_cli_privacy import configure, configured  # noqa: F401
from tests.privacy.test_forget import REASON
from tests.scenario import HR

warnings.filterwarnings("ignore", message=".*httpx2.*")
from fastapi.testclient import TestClient  # noqa: E402

DEWI_SECRETS = [NAME, NIP, CITIZEN, *DEWI_TEXTS.values()]
runner = CliRunner()


def kinerja(*args: str) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, (args, result.output)
    return result


def read_model_text(settings: Settings) -> str:
    """Every row of every table, as text: what a query could ever answer from."""
    store = settings.store()
    if store.kind == "sqlite":
        with sqlite3.connect(str(store.sqlite_path)) as connection:
            tables = [t for (t,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            return "\n".join(repr(row) for table in tables
                             for row in connection.execute(f"SELECT * FROM {table}"))
    return postgres_bytes(settings).decode("utf-8", "replace")


def http_answers(settings: Settings, ledger: Any, story: Any) -> str:
    """What the HTTP API answers an inspector about everything the story touched."""
    app = create_app(settings, ledger=ledger, read_wait_seconds=10.0)
    with TestClient(app) as client:
        runtime = app.state.kinerja
        headers = {"Authorization": "Bearer " + runtime.tokens.issue("inspektorat:ani",
                                                                     ["inspector"])}
        position = ledger.recorder.max_notification_id()
        paths = [f"/v1/events?after=0&limit=1000&as_of={position}",
                 f"/v1/employees/{story.dewi}/history?as_of={position}",
                 f"/v1/evaluations/{story.dewi_evaluation}/explain?as_of={position}",
                 f"/v1/evaluations?employee_id={story.dewi}&as_of={position}",
                 f"/v1/audit?actor={story.dewi}&as_of={position}",
                 f"/v1/audit?actor={HR}&as_of={position}"]
        answers = []
        for path in paths:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)
            answers.append(response.text)
    return "\n".join(answers)


def tell_with_read_models(settings: Settings, open_ledgers: Any,
                          clock: Any) -> tuple[Settings, Any, Any, Any]:
    # The serving process re-reads key rows on every use: `kinerja forget` runs in another
    # process, and by default a server trusts a key it holds for a few seconds more.
    ledger = open_ledgers(settings.model_copy(update={"personal_key_cache_seconds": 0}))
    story = tell(ledger, clock)
    db = open_database(settings.store(), pool_size=2)
    run_once(ledger, db)
    return settings, ledger, story, db


@pytest.fixture
def told(configured, open_ledgers, clock) -> Iterator[tuple[Settings, Any, Any, Any]]:
    told = tell_with_read_models(configured, open_ledgers, clock)
    yield told
    told[3].close()


@pytest.fixture
def told_on_sqlite(sqlite_settings, monkeypatch, open_ledgers,
                   clock) -> Iterator[tuple[Settings, Any, Any, Any]]:
    configure(sqlite_settings, monkeypatch)
    told = tell_with_read_models(sqlite_settings, open_ledgers, clock)
    yield told
    told[3].close()


def test_forget_reaches_every_read_model_every_answer_and_the_ledger_still_verifies(
        told, tmp_path):
    settings, ledger, story, db = told
    # Names and NIPs are not kept by read models either: not in the raw store at all.
    assert [s for s in (NAME, NIP, CITIZEN) if found(s, raw_store(settings))] == []
    before_answers = http_answers(settings, ledger, story)
    assert DEWI_TEXTS["grounds"] in before_answers  # the search can see them
    checkpoint = tmp_path / "before.checkpoint"
    checkpoint.write_text(kinerja("checkpoint").stdout)

    kinerja("forget", story.dewi, "--reason", REASON, "--actor", HR, "--yes")
    run_once(ledger, db)

    assert [s for s in DEWI_SECRETS if s in read_model_text(settings)] == []
    answers = http_answers(settings, ledger, story)
    assert [s for s in DEWI_SECRETS if s in answers] == []
    assert OTHER_WITHDRAW_REASON in answers + read_model_text(settings)
    assert results(ledger, story) == story.results

    kinerja("replay")
    assert [s for s in DEWI_SECRETS if s in read_model_text(settings)] == []
    kinerja("replay", "--check")
    kinerja("checkpoint")
    verified = kinerja("verify", "--checkpoint", str(checkpoint))
    assert verified.stdout.startswith("ok")


def test_no_free_text_of_a_forgotten_person_survives_in_the_raw_sqlite_file(told_on_sqlite):
    settings, ledger, story, db = told_on_sqlite
    kinerja("forget", story.dewi, "--reason", REASON, "--actor", HR, "--yes")
    run_once(ledger, db)
    raw = raw_store(settings)
    assert [s for s in DEWI_TEXTS.values() if found(s, raw)] == []


def test_a_citizen_reference_sent_over_http_reaches_no_event(sql_settings, open_ledgers):
    from tests.privacy.test_tampering import register
    ledger = open_ledgers(sql_settings)
    employee_id = register(ledger)
    app = create_app(sql_settings, ledger=ledger)
    with TestClient(app) as client:
        token = app.state.kinerja.tokens.issue("channel:jaki", ["citizen_channel"])
        item = {"employee_id": employee_id, "period": "2026-01", "giver_ref": CITIZEN,
                "score": 4, "channel": "JAKI"}
        for path, body in (("/v1/feedback/citizen", item),
                           ("/v1/feedback/citizen/batch", {"items": [item]})):
            response = client.post(path, json=body,
                                   headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 201, response.text
    givers = [ledger.mapper.to_domain_event(n).giver_ref
              for n in ledger.recorder.select_notifications(1, 100)
              if n.topic == "kinerja.feedback.given.v1"]
    assert len(givers) == 2 and all(g.startswith("cit:") for g in givers)
    assert givers[0] == givers[1]
    assert not found(CITIZEN, raw_store(sql_settings))
