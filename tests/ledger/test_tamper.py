"""Tampering with the stored events by direct SQL, as someone with write access to the
database could: `kinerja verify`, run as its own process, exits 1 naming the right leaf and
what was done, and exits 0 on the untouched store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.ledger_keys import last_signed, open_merkle_ledger, sql_events
from api.settings import Settings
from api.store import open_ledger
from projections.db import Database, open_database
from projections.ledger import Ledger
from tests.conftest import REPO_ROOT
from tests.scenario import TickingClock, build_world


@dataclass
class Store:
    settings: Settings
    db: Database
    table: str
    position: str  # the column that orders the log
    positions: list[int]  # in log order
    index_of: dict[int, int]  # position -> leaf index
    checkpoint_note: str

    def execute(self, statement: str, params: tuple = ()) -> list:
        with self.db.transaction() as cursor:
            cursor.execute(statement.format(t=self.table, p=self.position), params)
            try:
                return cursor.fetchall()
            except Exception:  # noqa: BLE001 - statements without rows
                return []

    def state(self, position: int) -> bytes:
        return bytes(self.execute("SELECT state FROM {t} WHERE {p} = ?", (position,))[0][0])

    def move(self, old: int, new: int) -> None:
        self.execute("UPDATE {t} SET {p} = ? WHERE {p} = ?", (new, old))


def _env(settings: Settings, *, schema_in_url: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINERJA_")}
    env["KINERJA_DATA_DIR"] = str(settings.data_dir)
    store = settings.store()
    if store.kind == "postgresql":
        if schema_in_url:
            env["KINERJA_DATABASE_URL"] = f"{settings.database_url}?schema={store.schema}"
        else:
            env["KINERJA_DATABASE_URL"] = settings.database_url
            env["KINERJA_POSTGRES_SCHEMA"] = store.schema
    else:
        env["KINERJA_DATABASE_URL"] = settings.database_url
    return env


def kinerja(settings: Settings, *args: str, schema_in_url: bool = False
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        env=_env(settings, schema_in_url=schema_in_url), cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=120)


@pytest.fixture
def store(sql_settings: Settings):  # noqa: ANN201
    """A world of events, all in the ledger and under a signed checkpoint."""
    clock = TickingClock()
    app = open_ledger(sql_settings, clock=clock)
    try:
        build_world(app, clock, employees=2)
        ledger = open_merkle_ledger(sql_settings, app)
        try:
            ledger.catch_up()
            note = ledger.publish_checkpoint()
            positions = sorted(ledger.leaf_for_position(range(1, 10_000)))
            index_of = {p: i for p, (i, _) in ledger.leaf_for_position(positions).items()}
        finally:
            ledger.close()
    finally:
        app.close()
    db = open_database(sql_settings.store())
    table = sql_events(sql_settings, db).table
    position = "rowid" if db.kind == "sqlite" else "notification_id"
    yield Store(sql_settings, db, table, position, positions, index_of, note)
    db.close()


def _failed_at(result: subprocess.CompletedProcess[str], index: int, kind: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"FAILED: leaf {index}: {kind}:"), result.stdout


def test_verify_passes_on_the_untouched_store(store: Store) -> None:
    result = kinerja(store.settings, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"ok: {len(store.positions)} leaves match the stored events")


def test_one_changed_byte_of_one_event_is_named(store: Store) -> None:
    position = store.positions[7]
    state = bytearray(store.state(position))
    state[len(state) // 2] ^= 0x01
    store.execute("UPDATE {t} SET state = ? WHERE {p} = ?", (bytes(state), position))
    _failed_at(kinerja(store.settings, "verify", schema_in_url=True),
               store.index_of[position], "altered")


def test_a_deleted_event_is_named(store: Store) -> None:
    position = store.positions[5]
    store.execute("DELETE FROM {t} WHERE {p} = ?", (position,))
    _failed_at(kinerja(store.settings, "verify"), store.index_of[position], "missing")


def test_the_last_event_deleted_is_named(store: Store) -> None:
    position = store.positions[-1]
    store.execute("DELETE FROM {t} WHERE {p} = ?", (position,))
    _failed_at(kinerja(store.settings, "verify"), store.index_of[position], "missing")


def test_a_forged_event_inserted_into_the_log_is_named(store: Store) -> None:
    # Make room at a position in the middle of the log, then write a forged event there,
    # a copy of a real one under another aggregate id.
    at = store.positions[4]
    for position in reversed(store.positions[4:]):
        store.move(position, position + 1)
    topic, state = store.execute("SELECT topic, state FROM {t} WHERE {p} = ?",
                                 (at + 1,))[0]
    forged_id = uuid.uuid4()
    store.execute("INSERT INTO {t} ({p}, originator_id, originator_version, topic, state) "
                  "VALUES (?, ?, 1, ?, ?)",
                  (at, forged_id.hex if store.db.kind == "sqlite" else forged_id, topic,
                   bytes(state)))
    _failed_at(kinerja(store.settings, "verify"), store.index_of[at], "extra")


def test_two_swapped_events_are_named(store: Store) -> None:
    first, second = store.positions[3], store.positions[9]
    store.move(first, -1)
    store.move(second, first)
    store.move(-1, second)
    _failed_at(kinerja(store.settings, "verify"), store.index_of[first], "out-of-order")


def test_a_forged_checkpoint_signature_is_named(store: Store) -> None:
    size = len(store.positions)
    note = store.checkpoint_note.replace(f"\n{size}\n", f"\n{size + 1}\n")
    store.execute("UPDATE ledger_checkpoints SET note = ? WHERE size = ?", (note, size))
    result = kinerja(store.settings, "verify")
    assert result.returncode == 1
    assert result.stdout.startswith(f"FAILED: bad-signature: stored checkpoint of size {size}")


def test_a_change_hidden_in_the_ledger_tables_is_caught_by_the_signed_root(
        store: Store) -> None:
    position = store.positions[6]
    state = store.state(position) + b" "
    store.execute("UPDATE {t} SET state = ? WHERE {p} = ?", (state, position))
    events = sql_events(store.settings, store.db)
    record = next(r for r in events.read(position - 1, 1))
    from projections.ledger import leaf_hash_of
    forged_hash = leaf_hash_of(record.originator_id, record.originator_version, record.topic,
                               record.state)
    store.execute("UPDATE ledger_leaves SET leaf_hash = ? WHERE position = ?",
                  (forged_hash, position))
    result = kinerja(store.settings, "verify")
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED: root-mismatch:"), result.stdout
    assert f"leaves 0..{len(store.positions) - 1}" in result.stdout


def test_an_auditors_checkpoint_catches_a_rebuilt_ledger(store: Store, tmp_path: Path) -> None:
    # The attacker rewrites an event, drops the whole ledger, and lets it be rebuilt
    # from the forged log. Without the key no checkpoint can be signed for it; what was
    # signed before, kept outside the database, no longer matches.
    auditor_copy = tmp_path / "auditor-checkpoint.txt"
    auditor_copy.write_text(store.checkpoint_note)
    position = store.positions[2]
    state = bytearray(store.state(position))
    state[0] ^= 0x20
    store.execute("UPDATE {t} SET state = ? WHERE {p} = ?", (bytes(state), position))
    for table in ("ledger_leaves", "ledger_nodes", "ledger_checkpoints"):
        store.execute(f"DROP TABLE {table}")
    rebuilt = Ledger(store.db, sql_events(store.settings, store.db),
                     origin=store.settings.ledger_origin)
    assert rebuilt.catch_up() == len(store.positions)
    # The operator's own copy of the last checkpoint signed catches it...
    result = kinerja(store.settings, "verify")
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED: root-mismatch:"), result.stdout
    assert "data folder" in result.stdout
    # ...and, with that copy gone as well, the auditor's does.
    last_signed(store.settings).path.unlink()
    assert kinerja(store.settings, "verify").returncode == 0  # nothing left to contradict
    result = kinerja(store.settings, "verify", "--checkpoint", str(auditor_copy))
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED: root-mismatch:"), result.stdout
    assert "outside checkpoint" in result.stdout


def test_checkpoint_command_publishes_and_prints_the_key(store: Store) -> None:
    result = kinerja(store.settings, "checkpoint")
    assert result.returncode == 0, result.stderr
    assert result.stdout == store.checkpoint_note  # nothing new: the same signed note
    assert "verifier key: " + store.settings.ledger_origin + "+" in result.stderr
