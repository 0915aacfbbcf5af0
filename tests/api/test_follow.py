"""The log's followers in a process of their own: `kinerja follow` beside
`kinerja serve --no-follow`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from fastapi.testclient import TestClient

from api.app import create_app
from api.ledger_keys import open_merkle_ledger
from api.store import open_ledger
from projections.db import open_database
from projections.runner import ProjectionRunner
from tests.api.conftest import Api, build_http_world
from tests.conftest import REPO_ROOT
from tests.scenario import TickingClock, build_world


def _follow(settings) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT),
           "KINERJA_DATABASE_URL": settings.database_url,
           "KINERJA_DATA_DIR": str(settings.data_dir),
           "KINERJA_POSTGRES_SCHEMA": settings.postgres_schema}
    return subprocess.Popen([sys.executable, "-c", "from api.cli import main; main()",
                             "follow"], cwd=REPO_ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _until(check, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_kinerja_follow_keeps_read_models_and_merkle_ledger_caught_up(sql_settings, clock):
    sql_app = open_ledger(sql_settings, clock=clock)
    sql_db = open_database(sql_settings.store())
    follower = _follow(sql_settings)
    try:
        build_world(sql_app, clock, employees=3)
        head = sql_app.recorder.max_notification_id()
        runner = ProjectionRunner(sql_app, sql_db)
        merkle = open_merkle_ledger(sql_settings, sql_app, db=sql_db, with_signer=False)
        events = len(sql_app.recorder.select_notifications(1, 10_000))
        assert _until(lambda: runner.position >= head and merkle.size() == events), (
            f"projected to {runner.position} of {head}, {merkle.size()} of {events} leaves")
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
        sql_db.close()
        sql_app.close()
    assert follower.returncode == 0, err
    assert "following the log" in out and out.rstrip().endswith("stopped")


def test_kinerja_follow_refuses_a_store_no_other_process_can_open(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KINERJA_DATABASE_URL": "memory://",
           "KINERJA_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", "from api.cli import main; main()",
                           "follow"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("kinerja: a memory:// store")


def test_without_followers_the_api_still_reads_its_own_writes(sql_settings):
    clock = TickingClock()
    app = create_app(sql_settings, clock=clock, read_wait_seconds=5.0, follow=False)
    with TestClient(app) as client:
        api = Api(client=client, runtime=app.state.kinerja, clock=clock)
        assert not api.runtime.runner.running
        assert not app.state.ledger_follower._thread  # no Merkle appender either
        world = build_http_world(api, employees=1)
        position = api.log_position()
        health = client.get("/healthz").json()
        assert health["projection_position"] < position  # nobody projects by itself
        listed = api.get("/v1/evaluations", as_=world.hr, expect=200,
                         as_of=str(position)).json()["items"]
        assert [i["evaluation_id"] for i in listed] == world.evaluation_ids
        assert client.get("/healthz").json()["projection_position"] == position
