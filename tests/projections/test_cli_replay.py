"""`kinerja replay` as an operator runs it: a separate process on the configured store."""

from __future__ import annotations

import re

from projections.catalog import NAMES, model_digest
from projections.runner import ProjectionRunner
from tests.conftest import run_kinerja as kinerja
from tests.projections.story import tell

DIGEST_LINE = re.compile(r"^(\w+) sha256:([0-9a-f]{64})$")


def digests(stdout: str) -> dict[str, str]:
    found = {}
    for line in stdout.splitlines():
        match = DIGEST_LINE.match(line)
        assert match, f"unexpected line {line!r}"
        found[match[1]] = match[2]
    return found


def test_replay_rebuilds_every_model_and_prints_its_digest(sql_settings, sql_app, sql_db,
                                                          clock):
    tell(sql_app, clock)
    ProjectionRunner(sql_app, sql_db, batch_size=13).catch_up()
    before = {name: model_digest(sql_db, name) for name in NAMES}
    done = kinerja(sql_settings, "replay")
    assert done.returncode == 0, done.stderr
    assert digests(done.stdout) == before


def test_check_passes_on_untouched_models_and_names_a_tampered_one(sql_settings, sql_app,
                                                                 sql_db, clock):
    story = tell(sql_app, clock)
    ProjectionRunner(sql_app, sql_db).catch_up()
    clean = kinerja(sql_settings, "replay", "--check")
    assert clean.returncode == 0, clean.stderr
    assert all(line.endswith(" ok") for line in clean.stdout.splitlines())
    with sql_db.transaction() as cur:
        cur.execute("UPDATE rm_scores SET predikat = 'sangat_baik' "
                    "WHERE evaluation_id = ? AND valid_to IS NULL", [story.evaluation(2)])
    tampered = kinerja(sql_settings, "replay", "--check")
    assert tampered.returncode == 1
    differing = [line.split()[0] for line in tampered.stdout.splitlines()
                 if "DIFFERS" in line]
    assert differing == ["scores"]
    assert tampered.stderr.strip().splitlines()[-1].endswith("differ from a replay to "
                                                             f"position {story.positions['end']}: scores")
    # As of a position before the tampered version, the live models still check out.
    early = kinerja(sql_settings, "replay", "--check", "--to",
                    str(story.positions["delivered"]), "-p", "scores", "-p", "audit")
    assert early.returncode == 0, early.stdout + early.stderr
    assert [line.split()[0] for line in early.stdout.splitlines()] == ["scores", "audit"]
    # The check only read the live tables: the tampered row is still there.
    with sql_db.transaction() as cur:
        cur.execute("SELECT predikat FROM rm_scores WHERE evaluation_id = ? "
                    "AND valid_to IS NULL", [story.evaluation(2)])
        assert cur.fetchone()[0] == "sangat_baik"


def test_replay_errors_are_one_line_and_a_non_zero_exit(tmp_path):
    from api.settings import Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
                        data_dir=tmp_path / "data")
    unknown = kinerja(settings, "replay", "--projection", "salaries")
    assert unknown.returncode != 0
    assert unknown.stderr.strip().count("\n") == 0
    assert "no read model named salaries" in unknown.stderr


def test_the_commands_default_batch_is_the_rebuilds():
    import inspect

    from api.cli_replay import replay
    from projections.replay import REBUILD_BATCH

    assert inspect.signature(replay).parameters["batch_size"].default == REBUILD_BATCH
