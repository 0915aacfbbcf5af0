"""`kinerja replay`: rebuild the read models from the log, or check the live ones."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from api.cli import app, fail, load_settings, progress_bar

#: projections.replay.REBUILD_BATCH (a test keeps them equal), written out here because
#: importing the replay module would slow every other command's start by about 0.1 s.
DEFAULT_BATCH = 20_000


@app.command()
def replay(
    projection: Annotated[list[str] | None, typer.Option(
        "--projection", "-p", metavar="NAME",
        help="Only this read model (repeatable): scores, history, distribution, audit, "
             "explanation.")] = None,
    to: Annotated[int | None, typer.Option(
        "--to", metavar="POSITION", min=0,
        help="Stop at this log position instead of the end of the log.")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Rebuild into scratch tables and compare with the live models; "
                        "exit 1 naming any that differ. Live tables are not touched.")] = False,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, max=100_000,
        help="Events per transaction.")] = DEFAULT_BATCH,
) -> None:
    """Rebuild read models from position 0 and print `NAME sha256:<hex>` for each."""
    from projections.catalog import NAMES, UnknownProjection, make_projections

    names = list(dict.fromkeys(projection)) if projection else list(NAMES)
    try:
        make_projections(names)
    except UnknownProjection as error:
        fail(str(error))
    settings = load_settings()
    if settings.store().kind == "memory":
        fail("a memory:// store keeps nothing between runs: there is nothing to replay")
    ledger, db = _open(settings)
    try:
        if check:
            _check(ledger, db, names, to, batch_size)
        else:
            _rebuild(ledger, db, names, to, batch_size)
    except typer.Exit:
        raise
    except Exception as error:  # noqa: BLE001 - one line for the operator, not a traceback
        fail(f"replay failed: {type(error).__name__}: {error}")
    finally:
        db.close()
        ledger.close()


def _open(settings: Any) -> tuple[Any, Any]:
    from api.store import open_ledger
    from projections.db import open_database

    try:
        ledger = open_ledger(settings, group_commit=False)
    except Exception as error:  # noqa: BLE001
        fail(f"cannot open the store: {error}")
    try:
        db = open_database(settings.store(), pool_size=2)
    except Exception as error:  # noqa: BLE001
        ledger.close()
        fail(f"cannot open the read-model database: {error}")
    return ledger, db


def _rebuild(ledger: Any, db: Any, names: list[str], to: int | None,
             batch_size: int) -> None:
    from projections.replay import rebuild

    head = ledger.recorder.max_notification_id() or 0
    bar, update = progress_bar("replay", head if to is None else min(to, head))
    with bar:
        _, digests = rebuild(ledger, db, names, to=to, batch_size=batch_size,
                             progress=update)
    for name in names:
        typer.echo(f"{name} sha256:{digests[name]}")


def _check(ledger: Any, db: Any, names: list[str], to: int | None, batch_size: int) -> None:
    from projections.replay import check, live_position

    position = live_position(db, names)
    target = position if to is None else min(to, position)
    bar, update = progress_bar("check", target)
    with bar:
        comparisons = check(ledger, db, names, to=to, batch_size=batch_size,
                            progress=update)
    for c in comparisons:
        verdict = "ok" if c.same else f"DIFFERS (live sha256:{c.live})"
        typer.echo(f"{c.name} sha256:{c.rebuilt} {verdict}")
    differing = [c.name for c in comparisons if not c.same]
    if differing:
        typer.echo(f"kinerja: read models differ from a replay to position {target}: "
                   f"{', '.join(differing)}", err=True)
        raise typer.Exit(1)
