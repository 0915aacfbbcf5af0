"""A runner that dies in the middle of a batch leaves nothing half-applied, and the next
one resumes without counting anything twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from projections.catalog import all_tables, table_rows, tracked_positions
from projections.distribution import DistributionProjection
from projections.history import HistoryProjection
from projections.queries import ReadModels
from projections.runner import ProjectionRunner
from tests.conftest import REPO_ROOT
from tests.projections.story import assert_same_as_replay, tell
from tests.scenario import PERIOD, UNIT


class Injected(Exception):
    pass


def snapshot(db) -> dict:
    return {t.name: table_rows(db, t) for t in all_tables()}


def test_a_failure_mid_batch_writes_nothing_and_the_runner_resumes_exactly(
        app, rm_db, clock, monkeypatch):
    story = tell(app, clock)
    runner = ProjectionRunner(app, rm_db, batch_size=10)
    runner.catch_up(stop=40)
    before = snapshot(rm_db)
    flush = DistributionProjection.flush
    calls = {"n": 0}

    def failing_flush(self, cur):
        # Scores, history and audit have written their rows in this transaction by now.
        flush(self, cur)
        calls["n"] += 1
        if calls["n"] == 2:
            raise Injected("disk on fire")

    monkeypatch.setattr(DistributionProjection, "flush", failing_flush)
    with pytest.raises(Injected):
        runner.catch_up()
    # One batch went through, the next rolled back entirely.
    after_failure = snapshot(rm_db)
    with rm_db.transaction() as cur:
        assert set(tracked_positions(cur, runner.names).values()) == {50}
    assert len(after_failure["rm_audit"]) == 50
    assert after_failure != before
    monkeypatch.setattr(DistributionProjection, "flush", flush)
    assert runner.catch_up() == story.positions["end"]  # the same runner object resumes
    spread = ReadModels(rm_db).distribution(UNIT, PERIOD)
    assert spread["total"] == 4 and sum(spread["counts"].values()) == 4
    assert_same_as_replay(app, rm_db)


def test_a_fresh_runner_after_a_failure_resumes_exactly(app, rm_db, clock, monkeypatch):
    tell(app, clock)
    runner = ProjectionRunner(app, rm_db, batch_size=25)

    def failing(self, event):
        raise Injected("handler bug")

    monkeypatch.setattr(HistoryProjection, "cycle_locked_or_reopened", failing)
    with pytest.raises(Injected):
        runner.catch_up()
    monkeypatch.undo()
    ProjectionRunner(app, rm_db, batch_size=7).catch_up()
    assert_same_as_replay(app, rm_db)


CHILD = textwrap.dedent("""
    import sys, time
    from api.settings import Settings
    from api.store import open_ledger
    from projections.db import open_database
    from projections.history import HistoryProjection
    from projections.runner import ProjectionRunner

    settings = Settings()
    app = open_ledger(settings, group_commit=False)
    db = open_database(settings.store(), pool_size=2)
    flush = HistoryProjection.flush
    batches = {"n": 0}

    def slow_flush(self, cur):
        flush(self, cur)
        batches["n"] += 1
        if batches["n"] == 3:
            # Rows of this batch are written but not committed: be killed here.
            print("mid-batch", flush=True)
            time.sleep(120)

    HistoryProjection.flush = slow_flush
    ProjectionRunner(app, db, batch_size=int(sys.argv[1])).catch_up()
    print("finished", flush=True)
""")


def child_env(settings, tmp_path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT),
           "KINERJA_DATABASE_URL": settings.database_url,
           "KINERJA_DATA_DIR": str(settings.data_dir),
           "KINERJA_POSTGRES_SCHEMA": settings.postgres_schema}
    return env


def test_a_runner_killed_by_sigkill_mid_batch_resumes_without_double_counting(
        sql_settings, sql_app, sql_db, clock, tmp_path):
    story = tell(sql_app, clock)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), "12"], cwd=REPO_ROOT,
                             env=child_env(sql_settings, tmp_path), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "mid-batch", child.stderr.read()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    with sql_db.transaction() as cur:
        assert set(tracked_positions(cur, ["scores", "history", "audit"]).values()) == {24}
    assert len(table_rows(sql_db, next(t for t in all_tables() if t.name == "rm_audit"))) == 24
    assert ProjectionRunner(sql_app, sql_db, batch_size=12).catch_up() == \
        story.positions["end"]
    assert_same_as_replay(sql_app, sql_db)
