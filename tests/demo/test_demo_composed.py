"""The demo through the API's own composition (personal data encrypted per person,
citizen references pseudonymised, feedback read back from the projections), and
`kinerja demo` as a newcomer runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.cli_demo import open_for_demo
from api.demo import UNITS, load_demo
from api.settings import Settings

ROLES = ("admin", "rater", "employee", "peer", "citizen_channel", "inspector",
         "appeal_panel")


def composed_events(folder: Path, seed: int) -> list[tuple[str, str, int, dict[str, Any]]]:
    """Load the demo into the ledger `kinerja demo` opens, and read back every event as
    (topic, originator, version, fields) with its personal fields decrypted."""
    settings = Settings(database_url=f"sqlite:///{folder / 'ledger.sqlite3'}",
                        data_dir=folder / "data")
    ledger, runtime = open_for_demo(settings)
    try:
        load_demo(ledger, employees=8, months=2, seed=seed)
        events = []
        for notification in ledger.recorder.select_notifications(1, 100_000):
            event = ledger.mapper.to_domain_event(notification)
            events.append((notification.topic, str(notification.originator_id),
                           notification.originator_version, dict(vars(event))))
        return events
    finally:
        ledger.close()
        runtime.reads.db.close()


def without_pseudonym_keys(events: list[tuple[str, str, int, dict[str, Any]]]
                           ) -> list[tuple[str, str, int, dict[str, Any]]]:
    """Citizen pseudonyms are keyed hashes under keys drawn at random per store: name each
    by its first appearance, so two stores compare by which items share a citizen."""
    names: dict[str, str] = {}
    out = []
    for topic, originator, version, fields in events:
        if fields.get("source") == "citizen":
            ref = fields["giver_ref"]
            fields = {**fields, "giver_ref": names.setdefault(ref, f"citizen-{len(names)}")}
        out.append((topic, originator, version, fields))
    return out


def test_through_the_api_composition_one_seed_gives_the_same_events(tmp_path: Path) -> None:
    first = composed_events(tmp_path / "first", seed=7)
    again = composed_events(tmp_path / "again", seed=7)
    assert len(first) > 500
    assert without_pseudonym_keys(first) == without_pseudonym_keys(again)
    # The feedback a rater saw is the feedback the demo gave, read from the projections.
    delivered = [fields for topic, _, _, fields in first
                 if topic == "kinerja.evaluation.result-delivered.v1"]
    assert any("citizen" in fields["feedback"] for fields in delivered)


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KINERJA_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
           "KINERJA_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "120"}
    env.pop("KINERJA_JWT_SECRET", None)
    kinerja = Path(sys.executable).parent / "kinerja"  # the installed entry point
    return subprocess.run([str(kinerja), "demo", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("cli")
    first = run_cli(folder, "--employees", "8", "--months", "2")
    second = run_cli(folder, "--employees", "8", "--months", "2")
    return first, second


def test_kinerja_demo_loads_and_prints_a_summary_and_a_token_per_role(cli_runs) -> None:
    first, _ = cli_runs
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "Demo loaded into the SQLite store" in out
    assert "periods 2026-01..2026-02" in out
    for unit in UNITS:
        assert unit.name in out
    for role in ROLES:
        assert f"  {role} " in out
    tokens = [line.strip() for line in out.splitlines() if line.startswith("    eyJ")]
    assert len(tokens) == len(ROLES)


def test_the_printed_tokens_are_accepted_by_the_api(cli_runs, tmp_path: Path) -> None:
    from api.auth import Role, TokenService, load_secret

    first, _ = cli_runs
    out = first.stdout.splitlines()
    folder = Path(next(line for line in out if "Demo loaded into" in line)
                  .split("SQLite store ")[1].split(" in ")[0]).parent
    service = TokenService(load_secret(Settings(data_dir=folder / "data")))
    roles = set()
    for n, line in enumerate(out):
        if line.startswith("    eyJ"):
            principal = service.verify(line.strip())
            assert out[n - 1].split()[1] == principal.actor
            roles |= principal.roles
    assert roles == set(Role)


def test_a_second_load_into_the_same_store_is_refused_in_one_line(cli_runs) -> None:
    _, second = cli_runs
    assert second.returncode == 1
    message = second.stderr.strip()
    assert "\n" not in message
    assert message.startswith("kinerja: ")
    assert "already holds" in message and "KINERJA_DATABASE_URL" in message
    assert "Demo loaded" not in second.stdout


def test_a_size_below_one_officer_per_unit_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--employees", "3")
    assert result.returncode == 2
    assert not (tmp_path / "demo.sqlite3").exists()
