"""`kinerja verify` and `kinerja checkpoint`: the verifiable ledger from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from api.cli import app, fail, load_settings
from api.ledger_keys import last_signed, load_verifier_key, open_merkle_ledger, sql_events
from api.store import open_ledger
from projections.db import open_database
from projections.ledger import LedgerError, verify_ledger

#: Below this many leaves the check takes about a second: no progress bar.
PROGRESS_FROM = 50_000


@app.command()
def verify(
    checkpoint: Annotated[Optional[list[Path]], typer.Option(  # noqa: UP007 - typer needs it
        "--checkpoint", help="A checkpoint kept outside the system (an auditor's copy) to "
        "check against the log too; may be repeated.")] = None,
    public_key: Annotated[Optional[str], typer.Option(  # noqa: UP007
        "--public-key", help="The log's verifier key; by default derived from the signer key "
        "in the data folder.")] = None,
) -> None:
    """Recompute every leaf from the stored events and check every checkpoint.

    Exits 0 with a one-line summary when everything holds, 1 naming the first bad leaf
    and what is wrong otherwise.
    """
    settings = load_settings()
    store = settings.store()
    if store.kind == "memory":
        fail("verify needs a persistent store (SQLite or PostgreSQL)")
    outside = []
    for path in checkpoint or []:
        try:
            outside.append(path.read_bytes())
        except OSError as error:
            fail(f"cannot read checkpoint {path}: {error.strerror or error}")
    # The copy of the last checkpoint signed, kept beside the key, is an outside checkpoint
    # too: it catches ledger tables reset or rewritten together with their checkpoints.
    remembered = last_signed(settings).load()
    key = public_key or load_verifier_key(settings)
    db = open_database(store, pool_size=2)
    try:
        with sql_events(settings, db) as table:
            events = table if table.exists() else _NoEvents()
            report = _run_with_progress(lambda progress: verify_ledger(
                db, events, verifier_key=key, origin=settings.ledger_origin, outside=outside,
                remembered=remembered, progress=progress))
    finally:
        db.close()
    typer.echo(report.summary())
    for problem in report.problems[1:6]:
        where = f"leaf {problem.index}: " if problem.index is not None else ""
        typer.echo(f"  also: {where}{problem.kind}: {problem.message}")
    if len(report.problems) > 6:
        typer.echo(f"  and {len(report.problems) - 6} more problem(s)")
    raise typer.Exit(0 if report.ok else 1)


class _NoEvents:
    """A store whose events table was never created (or was dropped)."""

    def read(self, after, limit):  # noqa: ANN001, ANN201 - EventSource
        return []


def _run_with_progress(run):  # noqa: ANN001, ANN202
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        return run(None)
    with Progress("verifying", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = None

        def progress(done: int, total: int) -> None:
            nonlocal task
            if total < PROGRESS_FROM:
                return
            if task is None:
                task = bar.add_task("verify", total=total)
            bar.update(task, completed=done)
        return run(progress)


@app.command("checkpoint")
def checkpoint_command() -> None:
    """Append every new event to the ledger and publish a signed checkpoint.

    The checkpoint note goes to standard output (redirect it to keep a copy outside the
    system); the verifier key to check it with goes to standard error.
    """
    settings = load_settings()
    if settings.store().kind == "memory":
        fail("checkpoint needs a persistent store (SQLite or PostgreSQL)")
    ledger_app = open_ledger(settings)
    try:
        ledger = open_merkle_ledger(settings, ledger_app)
        try:
            ledger.catch_up()
            note = ledger.publish_checkpoint()
            public_key = ledger.public_key
        except LedgerError as error:
            fail(error.message, code=1)
        finally:
            ledger.close()
    finally:
        ledger_app.close()
    typer.echo(note, nl=False)
    typer.echo(f"verifier key: {public_key}", err=True)
