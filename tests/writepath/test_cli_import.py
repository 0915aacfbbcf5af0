"""`kinerja import-feedback` as a channel's operator runs it: a separate process on the
configured store (a real SQLite file and PostgreSQL), a CSV or JSON-lines export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from api.store import open_ledger
from tests.conftest import run_kinerja as kinerja
from tests.scenario import PERIOD, TickingClock, build_world

GIVEN = "kinerja.feedback.given.v1"


@pytest.fixture
def employees(sql_settings) -> list[str]:
    ledger = open_ledger(sql_settings)
    try:
        return build_world(ledger, TickingClock(), employees=3).employees
    finally:
        ledger.close()


def _items(employees: list[str], count: int, *, start: int = 0) -> list[dict]:
    return [{"employee_id": employees[n % len(employees)], "period": PERIOD,
             "giver_ref": f"NIK-3171{n:08d}", "score": 1 + n % 5,
             "external_ref": f"JAKI-{n}", "value": "berorientasi_pelayanan" if n % 2 else "",
             "comment": f"pelayanan nomor {n}" if n % 3 == 0 else ""}
            for n in range(start, start + count)]


def _write_csv(path: Path, items: list[dict], columns=None) -> Path:
    columns = columns or ["employee_id", "period", "giver_ref", "score", "external_ref",
                          "value", "comment"]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(items)
    return path


def _write_jsonl(path: Path, items: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as file:
        for item in items:
            file.write(json.dumps({k: v for k, v in item.items() if v != ""}) + "\n")
    return path


def _log(settings) -> list:
    ledger = open_ledger(settings)
    try:
        return ledger.recorder.select_notifications(1, 100_000)
    finally:
        ledger.close()


def _given(settings) -> list:
    return [n for n in _log(settings) if n.topic == GIVEN]


def test_a_csv_export_is_recorded_in_batches_and_a_rerun_records_nothing_twice(
        sql_settings, employees, tmp_path):
    items = _items(employees, 25)
    export = _write_csv(tmp_path / "jaki-2026-01.csv", items)
    before = len(_log(sql_settings))

    checked = kinerja(sql_settings, "import-feedback", str(export), "--channel", "JAKI",
                      "--actor", "channel:jaki", "--check")
    assert checked.returncode == 0, checked.stderr
    assert "25 items in" in checked.stdout and "nothing was written" in checked.stdout
    assert len(_log(sql_settings)) == before

    done = kinerja(sql_settings, "import-feedback", str(export), "--channel", "JAKI",
                   "--actor", "channel:jaki", "--batch-size", "10")
    assert done.returncode == 0, done.stderr
    assert "imported 25 items" in done.stdout and "3 transaction(s)" in done.stdout
    assert "25 recorded, 0 already recorded before" in done.stdout
    given = _given(sql_settings)
    assert len(given) == 25
    assert len(_log(sql_settings)) == before + 25
    # The citizens' own references never reach the log: they are pseudonymised.
    states = b"".join(bytes(n.state) for n in given)
    assert b"NIK-3171" not in states
    assert b'"actor":"channel:jaki"' in states

    again = kinerja(sql_settings, "import-feedback", str(export), "--channel", "JAKI",
                    "--actor", "channel:jaki", "--batch-size", "10")
    assert again.returncode == 0, again.stderr
    assert "0 recorded, 25 already recorded before" in again.stdout
    assert len(_given(sql_settings)) == 25


def test_json_lines_are_read_alike_and_an_interrupted_import_is_finished_by_a_rerun(
        sql_settings, employees, tmp_path):
    first_part = _items(employees, 8)
    whole = first_part + _items(employees, 12, start=8)
    for item in whole:
        item["channel"] = "JAKI"
    # As if an earlier run stopped after its first batch.
    partial = kinerja(sql_settings, "import-feedback",
                      str(_write_jsonl(tmp_path / "part.jsonl", first_part)),
                      "--actor", "channel:jaki")
    assert partial.returncode == 0, partial.stderr

    done = kinerja(sql_settings, "import-feedback",
                   str(_write_jsonl(tmp_path / "whole.ndjson", whole)),
                   "--actor", "channel:jaki", "--batch-size", "5")
    assert done.returncode == 0, done.stderr
    assert "12 recorded, 8 already recorded before" in done.stdout
    given = _given(sql_settings)
    assert len(given) == 20
    assert len({n.originator_id for n in given}) == 20


@pytest.mark.parametrize(("change", "expected"), [
    (lambda items: items[4].update(score="7"), "line 6: score"),
    (lambda items: items[2].update(period="2026-13"), "line 4: period"),
    (lambda items: items[7].update(external_ref=""), "line 9: external_ref is missing"),
    (lambda items: items[9].update(external_ref="JAKI-3"),
     "line 11: repeats the channel reference of line 5"),
    (lambda items: items[5].update(employee_id="5b1e3c4e-0000-4000-8000-000000000000"),
     "line 7: no employee 5b1e3c4e-0000-4000-8000-000000000000"),
    (lambda items: items[3].update(giver_ref=""), "line 5: giver_ref"),
])
def test_a_bad_line_is_named_in_one_line_and_nothing_is_written(
        sql_settings, employees, tmp_path, change, expected):
    items = _items(employees, 12)
    change(items)
    export = _write_csv(tmp_path / "export.csv", items)
    before = _log(sql_settings)

    for check_only in ((), ("--check",)):  # the same verdict whether writing or not
        done = kinerja(sql_settings, "import-feedback", str(export), "--channel", "JAKI",
                       "--actor", "channel:jaki", "--batch-size", "2", *check_only)
        assert done.returncode == 2
        message = done.stderr.strip()
        assert len(message.splitlines()) == 1, message
        assert expected in message and message.endswith("nothing was imported")
    assert len(_log(sql_settings)) == len(before)


def test_files_that_cannot_be_read_as_an_export_are_refused_in_one_line(
        sql_settings, employees, tmp_path):
    no_header = tmp_path / "no-header.csv"
    no_header.write_text("employee_id,period,score\n", encoding="utf-8")
    unknown = _write_csv(tmp_path / "unknown.csv", _items(employees, 2),
                         columns=["employee_id", "period", "giver_ref", "score", "nik"])
    not_json = _write_jsonl(tmp_path / "broken.jsonl", _items(employees, 1))
    with not_json.open("a", encoding="utf-8") as file:
        file.write("{oops\n[1, 2]\n")
    not_an_object = tmp_path / "list.jsonl"
    not_an_object.write_text("[1, 2]\n", encoding="utf-8")
    empty = _write_csv(tmp_path / "empty.csv", [])
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("employee_id,period,giver_ref,score\nx,2026-01,Sm\u00f6rg\u00e5s,4\n"
                       .encode("latin-1"))
    cases = [
        ((str(no_header),), "line 1: the header lacks giver_ref"),
        ((str(unknown),), "unknown column(s) nik"),
        ((str(not_json), "--channel", "JAKI"), "line 2: not JSON"),
        ((str(not_an_object),), "line 1: not a JSON object"),
        ((str(empty),), "the file holds no items"),
        ((str(latin1),), "latin1.csv is not UTF-8 text"),
        ((str(tmp_path / "missing.csv"),), "cannot read"),
        ((str(tmp_path / "export.xlsx"),), "cannot tell the format of export.xlsx"),
        ((str(empty), "--format", "xml"), "--format must be csv or jsonl"),
    ]
    before = len(_log(sql_settings))
    for arguments, expected in cases:
        done = kinerja(sql_settings, "import-feedback", *arguments, "--actor", "channel:jaki")
        assert done.returncode == 2, (arguments, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert expected in done.stderr, (expected, done.stderr)
    assert len(_log(sql_settings)) == before
