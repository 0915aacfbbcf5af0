"""`kinerja import-feedback`: citizen feedback from a complaint channel's export.

The file is read twice. The first pass checks every item by the rules of
`POST /v1/feedback/citizen/batch` and that every employee named exists, so a bad line
stops the import before anything is written. The second pass writes the items in
batches, one transaction each. Every item must carry its channel's own reference
(`external_ref`): an import stopped half way (a crash, a lost database) is finished by
running it again, and the items it already recorded are skipped, not recorded twice.

Whoever runs it holds the database and the keys, as for `kinerja forget`; the channel
account named with `--actor` is recorded as the one that submitted the items (each
event's `actor`; the citizen is the item's pseudonymised `giver_ref`).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from api.cli import app, fail, load_settings, progress_bar

#: The columns a CSV export may have; a row's empty cell is an absent value.
COLUMNS = ("employee_id", "period", "giver_ref", "score", "channel", "external_ref",
           "value", "comment")
_REQUIRED_COLUMNS = ("employee_id", "period", "giver_ref", "score")
_WHOLE_NUMBER = re.compile(r"^\s*\d+\s*$")


class _Refused(Exception):
    """A line of the file that cannot be imported (nothing has been written)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")


@app.command("import-feedback")
def import_feedback(
    path: Annotated[Path, typer.Argument(
        help="A CSV file with a header row (columns: employee_id, period, giver_ref, "
             "score, channel, external_ref, value, comment), or JSON lines, one item "
             "object per line.")],
    actor: Annotated[str, typer.Option(
        "--actor", help="The channel account the items come from, recorded with them "
                        "(e.g. channel:jaki).")],
    channel: Annotated[str | None, typer.Option(
        "--channel", help="The channel of items that name none (e.g. JAKI).")] = None,
    file_format: Annotated[str | None, typer.Option(
        "--format", help="csv or jsonl; by default from the file's extension "
                         "(.csv; .jsonl, .ndjson).")] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, max=10_000, help="Items per transaction.")] = 2000,
    check_only: Annotated[bool, typer.Option(
        "--check", help="Check the whole file against the store and write nothing.")
    ] = False,
) -> None:
    """Record citizen feedback from a CSV or JSON-lines file, checked whole before
    anything is written, then written in batches. Running the same import again records
    nothing twice."""
    from api.store import open_ledger

    actor = actor.strip()
    if not actor:
        fail("--actor must name the channel account the items come from")
    kind = _format_of(path, file_format)
    settings = load_settings()
    try:
        ledger = open_ledger(settings)
    except Exception as error:  # noqa: BLE001 - one line for the operator
        fail(f"cannot open the store: {error}")
    try:
        try:
            total, employees = _check_file(path, kind, channel)
            _check_employees(ledger, employees)
        except _Refused as error:
            fail(f"{path}: {error}; nothing was imported")
        except OSError as error:
            fail(f"cannot read {path}: {error.strerror or error}")
        except UnicodeDecodeError as error:
            fail(f"{path} is not UTF-8 text ({error.reason} at byte {error.start}); "
                 "nothing was imported")
        except Exception as error:  # noqa: BLE001 - a lost database: one line
            fail(f"cannot check {path} against the store: {type(error).__name__}: "
                 f"{error}; nothing was imported", 1)
        if check_only:
            typer.echo(f"{total:,} items in {path} checked: all can be imported; nothing "
                       "was written")
            return
        written, recorded, transactions, position = _write(
            ledger, path, kind, channel, total, batch_size, actor)
    finally:
        ledger.close()
    skipped = written - recorded
    where = f", up to log position {position}" if position is not None else ""
    typer.echo(f"imported {written:,} items from {path} in {transactions:,} "
               f"transaction(s){where}: {recorded:,} recorded, {skipped:,} already "
               "recorded before")


def _format_of(path: Path, given: str | None) -> str:
    if given is not None:
        if given.lower() not in ("csv", "jsonl"):
            fail(f"--format must be csv or jsonl, not {given!r}")
        return given.lower()
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    fail(f"cannot tell the format of {path.name} from its extension: give --format "
         "csv or jsonl")


def _rows(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, raw item) for each item of the file, in order."""
    if kind == "csv":
        # utf-8-sig: spreadsheet programs start their CSV exports with a byte-order mark.
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            header = [name.strip() for name in reader.fieldnames or ()]
            missing = [c for c in _REQUIRED_COLUMNS if c not in header]
            if missing:
                raise _Refused(1, f"the header lacks {', '.join(missing)}")
            unknown = [name for name in header if name not in COLUMNS]
            if unknown:
                raise _Refused(1, f"unknown column(s) {', '.join(unknown)}; the columns "
                                  f"are {', '.join(COLUMNS)}")
            reader.fieldnames = header
            for row in reader:
                if None in row:
                    raise _Refused(reader.line_num, "more values than the header names")
                item: dict[str, Any] = {name: text for name, text in row.items()
                                        if text is not None and text.strip()}
                score = item.get("score")
                if isinstance(score, str) and _WHOLE_NUMBER.match(score):
                    item["score"] = int(score)
                yield reader.line_num, item
    else:
        with path.open(encoding="utf-8") as file:
            for number, line in enumerate(file, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as error:
                    raise _Refused(number, f"not JSON: {error.msg}") from None
                if not isinstance(item, dict):
                    raise _Refused(number, "not a JSON object")
                yield number, item


def _items(path: Path, kind: str, channel: str | None
           ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, item as the ledger takes it) for each line, checked by the rules of
    the HTTP batch route."""
    from api.schemas import CitizenFeedback

    for number, raw in _rows(path, kind):
        if channel is not None and raw.get("channel") in (None, ""):
            raw = {**raw, "channel": channel}
        try:
            body = CitizenFeedback.model_validate(raw)
        except ValidationError as error:
            raise _Refused(number, _first_problem(error)) from None
        if not (body.external_ref or "").strip():
            raise _Refused(number, "external_ref is missing: every item needs its "
                                   "channel's own reference, so that running the import "
                                   "again records nothing twice")
        yield number, body.as_item()


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "item"
    more = len(error.errors()) - 1
    return f"{where}: {problem['msg']}" + (f" (and {more} more)" if more else "")


def _check_file(path: Path, kind: str, channel: str | None
                ) -> tuple[int, dict[str, int]]:
    """The number of items, and each employee named with the first line naming them;
    refuses the file at its first bad line."""
    seen: dict[tuple[str, str], int] = {}
    employees: dict[str, int] = {}
    count = 0
    for number, item in _items(path, kind, channel):
        reference = (item["channel"].strip(), item["external_ref"].strip())
        first = seen.setdefault(reference, number)
        if first != number:
            raise _Refused(number, f"repeats the channel reference of line {first} "
                                   f"({reference[0]} {reference[1]})")
        employees.setdefault(item["employee_id"], number)
        count += 1
    if not count:
        raise _Refused(1, "the file holds no items")
    return count, employees


def _check_employees(ledger: Any, employees: dict[str, int]) -> None:
    from domain.errors import NotFound

    for employee_id, number in employees.items():
        try:
            ledger.get_employee(employee_id)
        except NotFound:
            raise _Refused(number, f"no employee {employee_id}") from None


def _write(ledger: Any, path: Path, kind: str, channel: str | None, total: int,
           batch_size: int, actor: str) -> tuple[int, int, int, int | None]:
    """Write the checked items in batches: (items, of which newly recorded,
    transactions, last log position written)."""
    from domain.errors import DomainError

    written = recorded = transactions = 0
    position: int | None = None
    bar, update = progress_bar("import", total, unit="items")
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal written, recorded, transactions, position
        answer = ledger.give_feedback_batch(batch, actor=actor)
        written += len(batch)
        recorded += answer.events
        transactions += 1
        position = answer.position if answer.position is not None else position
        batch.clear()
        update(written, total)

    try:
        with bar:
            for _, item in _items(path, kind, channel):
                batch.append(item)
                if len(batch) == batch_size:
                    flush()
            if batch:
                flush()
    except (_Refused, OSError) as error:
        fail(f"{path} changed while it was imported ({error}); {written:,} of {total:,} "
             "items were recorded; fix the file and run the import again", 1)
    except DomainError as error:
        fail(f"import stopped after {written:,} of {total:,} items: {error.message}; run "
             "it again to record the rest (items already recorded are skipped)", 1)
    except Exception as error:  # noqa: BLE001 - a lost database: one line, and what to do
        fail(f"import stopped after {written:,} of {total:,} items: "
             f"{type(error).__name__}: {error}; run it again to record the rest (items "
             "already recorded are skipped)", 1)
    return written, recorded, transactions, position
