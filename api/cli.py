"""The `kinerja` command line. Each capability registers its commands below.

Errors reach the user as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

import typer

from api.settings import Settings, SettingsError
from domain.errors import DomainError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="kinerja-ledger: the verifiable ASN appraisal ledger.")


def load_settings() -> Settings:
    try:
        settings = Settings()
        settings.store()
    except (SettingsError, ValueError) as error:
        fail(f"configuration: {error}")
    return settings


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"kinerja: {message}", err=True)
    raise typer.Exit(code)


def progress_bar(label: str, total: int, unit: str = "events"
                 ) -> tuple[Any, Callable[[int, int], None]]:
    """A progress bar on stderr (stdout stays for results), and the function that moves
    it: update(done, total)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn(f"{{task.fields[rate]}} {unit}/s"), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=False)
    task = bar.add_task(label, total=max(total, 1), rate="-")
    started = time.monotonic()

    def update(done: int, total: int) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        bar.update(task, completed=done, total=max(total, done, 1),
                   rate=f"{done / elapsed:,.0f}")
    return bar, update


# --- command registration: one import line per capability ------------------------------
# (keep each on its own line so that parallel work on different capabilities never
# touches the same line)
import api.cli_replay  # noqa: E402,F401
import api.cli_privacy  # noqa: E402,F401
import api.cli_ledger  # noqa: E402,F401
import api.cli_serve  # noqa: E402,F401
import api.cli_demo  # noqa: E402,F401
import api.cli_bundle  # noqa: E402,F401
import api.cli_feedback  # noqa: E402,F401


def main() -> None:
    try:
        app()
    except DomainError as error:
        typer.echo(f"kinerja: {error.message}", err=True)
        sys.exit(1)
    except SettingsError as error:
        typer.echo(f"kinerja: configuration: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
