"""`kinerja bundle` and `kinerja verify-bundle`: the evidence bundle of one evaluation.

`bundle` needs the store (and the ledger's signer key, when it must publish a checkpoint
that covers the bundle's events); `verify-bundle` needs nothing but the file and the log's
verifier key: no settings, no database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli import app, fail

#: Problems listed after the summary line, beyond which only a count is printed.
MORE_PROBLEMS_SHOWN = 10


@app.command("bundle")
def bundle_command(
    evaluation_id: Annotated[str, typer.Argument(help="The evaluation's id (UUID).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    html: Annotated[bool, typer.Option(
        "--html", help="Write the printable HTML page instead of the JSON bundle.")] = False,
) -> None:
    """Write the evidence bundle of one evaluation: every event that shaped it, with
    inclusion proofs against one signed checkpoint, the derivation and the timeline."""
    from api.bundle import build_bundle, dumps, render_html
    from api.cli import load_settings
    from api.ledger_keys import open_merkle_ledger
    from api.store import open_ledger
    from domain.errors import DomainError
    from projections.bundle_verify import verify_bundle
    from projections.db import open_database
    from projections.queries import ReadModels

    settings = load_settings()
    if settings.store().kind == "memory":
        fail("bundle needs a persistent store (SQLite or PostgreSQL)")
    ledger_app = open_ledger(settings, group_commit=False)
    try:
        db = open_database(settings.store(), pool_size=2)
        try:
            merkle = open_merkle_ledger(settings, ledger_app, db=db)
            try:
                bundle = build_bundle(ledger_app, merkle, db, evaluation_id,
                                      reads=ReadModels(db, ledger_app))
                text = (render_html(bundle, verify_bundle(bundle, merkle.public_key or ""))
                        if html else dumps(bundle))
            except DomainError as error:
                fail(error.message, code=1)
            finally:
                merkle.close()
        finally:
            db.close()
    finally:
        ledger_app.close()
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror or error}")
    checkpoint = bundle["checkpoint"]
    typer.echo(f"wrote the {'HTML page' if html else 'bundle'} of evaluation "
               f"{bundle['evaluation_id']} to {output}: {len(bundle['events'])} events, "
               f"checkpoint size {checkpoint['size']}")
    typer.echo(f"verifier key: {bundle['public_key']}", err=True)


def read_public_key(value: str) -> str:
    """The key itself, or the contents of the file it names (a `verifier key: ...` line,
    as `kinerja checkpoint` prints it, is accepted too)."""
    path = Path(value)
    try:
        is_file = path.is_file()
    except OSError:  # a key string too long for a file name
        is_file = False
    if not is_file:
        return value.strip()
    text = path.read_text(encoding="utf-8").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    key = lines[0] if lines else ""
    return key.removeprefix("verifier key:").strip()


@app.command("verify-bundle")
def verify_bundle_command(
    file: Annotated[Path, typer.Argument(help="The bundle (JSON) to check.")],
    public_key: Annotated[str, typer.Option(
        "--public-key", help="The log's verifier key, or a file holding it. Take it from "
        "a source you trust, never from the bundle itself.")],
) -> None:
    """Check a bundle offline: the checkpoint's signature, every inclusion proof, every
    event's leaf data against the payload shown, and the score re-derived with the
    project's scoring rules under the proven rubric. Exit 0, or 1 naming what fails."""
    from projections.bundle_verify import verify_bundle

    try:
        raw = file.read_bytes()
        key = read_public_key(public_key)
    except OSError as error:
        fail(f"cannot read {error.filename or file}: {error.strerror or error}", code=1)
    report = verify_bundle(raw, key)
    typer.echo(report.summary())
    for problem in report.problems[1:1 + MORE_PROBLEMS_SHOWN]:
        typer.echo(f"  also: {problem}")
    if len(report.problems) > 1 + MORE_PROBLEMS_SHOWN:
        typer.echo(f"  and {len(report.problems) - 1 - MORE_PROBLEMS_SHOWN} more problem(s)")
    raise typer.Exit(0 if report.ok else 1)
