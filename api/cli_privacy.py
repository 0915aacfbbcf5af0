"""`kinerja forget`, `kinerja retention` and `kinerja rotate-master-key` (docs/privacy.md).

Whoever runs these holds the database and the master key, so they act as an
administrator; the actor named with `--actor` is recorded in the audit event.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import typer

from api.cli import app, fail, load_settings
from api.privacy import (
    ADMIN_ROLE,
    PERSON,
    PSEUDONYM,
    MasterKey,
    open_vault,
    rotate_master_key_file,
)
from api.settings import SettingsError
from domain.errors import DomainError


@app.command()
def forget(
    employee_id: str = typer.Argument(..., help="The employee whose personal data goes."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the audit event)."),
    actor: str = typer.Option(..., "--actor", help="Who does it (recorded)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Crypto-shred one person: record the shredding, then destroy their data key.
    Irreversible: their name, NIP and every free text kept under their key become
    unreadable in every event; ratings, dates and ids stay."""
    from api.store import open_ledger

    settings = load_settings()
    if not yes:
        typer.confirm(f"Destroy the personal data key of {employee_id}? This cannot be "
                      f"undone", abort=True)
    try:
        ledger = open_ledger(settings)
    except SettingsError as error:
        fail(f"configuration: {error}")
    try:
        written = ledger.forget(employee_id, reason=reason, actor=actor, roles={ADMIN_ROLE})
    except DomainError as error:
        fail(error.message, 1)
    finally:
        ledger.close()
    where = ("completed an earlier shredding" if written.position is None
             else f"recorded at position {written.position}")
    typer.echo(f"personal data of {employee_id} shredded ({where})")


@app.command()
def retention(
    due: bool = typer.Option(False, "--due", help="List the data keys whose retention "
                             "period is over."),
    shred_pseudonym_keys: bool = typer.Option(
        False, "--shred-pseudonym-keys",
        help="Destroy the citizen pseudonym keys that are due (employees are shredded "
             "one by one with `kinerja forget`)."),
    today: str | None = typer.Option(None, "--today", help="Judge as of this date "
                                     "(YYYY-MM-DD); default today (UTC)."),
) -> None:
    """The retention policy and the keys it makes due."""
    from api.store import open_ledger

    settings = load_settings()
    try:
        day = date.fromisoformat(today) if today else datetime.now(timezone.utc).date()
    except ValueError:
        fail(f"--today {today!r} is not a date (YYYY-MM-DD)")
    try:
        ledger = open_ledger(settings)
    except SettingsError as error:
        fail(f"configuration: {error}")
    try:
        vault = ledger.vault
        policy = vault.retention
        if not (due or shred_pseudonym_keys):
            records = vault.keys.records()
            for kind in (PERSON, PSEUDONYM):
                live = sum(1 for r in records if r.kind == kind and r.live)
                gone = sum(1 for r in records if r.kind == kind and not r.live)
                typer.echo(f"{kind} keys: {live} live, {gone} shredded")
            typer.echo(f"employee data: {policy.employee_years} years after employment "
                       f"ended; citizen pseudonym keys: used {policy.pseudonym_key_days} "
                       f"days, kept {policy.pseudonym_days} days more")
            return
        if shred_pseudonym_keys:
            for key in vault.shred_due_pseudonym_keys(ledger.recorder, ledger.mapper, day):
                typer.echo(f"shredded\t{key.kind}\t{key.subject}\tdue {key.due_on}")
        if due:
            listed = vault.due(ledger.recorder, ledger.mapper, day)
            for key in listed:
                typer.echo(f"{key.kind}\t{key.subject}\tdue {key.due_on}\t{key.why}")
            typer.echo(f"{len(listed)} key(s) due on {day}", err=True)
    finally:
        ledger.close()


@app.command("rotate-master-key")
def rotate_master_key(
    new_key_file: Path | None = typer.Option(
        None, "--new-key-file",
        help="When the master key comes from KINERJA_MASTER_KEY: a file holding the new "
             "key (base64). Otherwise a new key is generated into the data folder."),
) -> None:
    """Re-wrap every data key under a new master key; events are not touched.
    Stop servers using this store first: they hold the old master key in memory."""
    settings = load_settings()
    try:
        vault = open_vault(settings)
    except SettingsError as error:
        fail(f"configuration: {error}")
    try:
        if settings.master_key:
            if new_key_file is None:
                fail("the master key comes from KINERJA_MASTER_KEY: give --new-key-file")
            assert new_key_file is not None
            try:
                new = MasterKey.from_base64(new_key_file.read_text(), str(new_key_file))
            except (OSError, SettingsError) as error:
                fail(str(error))
            count = vault.keys.rotate_master_key(new)
            typer.echo(f"{count} data key(s) re-wrapped under master key {new.key_id}; "
                       f"now set KINERJA_MASTER_KEY to the content of {new_key_file}")
        else:
            if new_key_file is not None:
                fail("--new-key-file is for a master key kept in KINERJA_MASTER_KEY")
            key_id, count = rotate_master_key_file(settings, vault)
            typer.echo(f"{count} data key(s) re-wrapped under master key {key_id} "
                       f"({settings.data_dir / 'master.key'})")
    except SettingsError as error:
        fail(f"configuration: {error}")
    finally:
        vault.close()
