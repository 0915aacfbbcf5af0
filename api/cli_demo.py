"""`kinerja demo`: load the demo dataset into the configured (empty) store."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli import app, fail, load_settings
from api.demo import MAX_MONTHS, MIN_EMPLOYEES, DemoSummary, StoreNotEmpty, load_demo
from api.service import AppraisalLedger
from api.settings import Settings

#: Aggregates kept in memory while loading: the demo reads back what it just wrote, and
#: a cached aggregate is brought up to date from the log instead of replayed in full.
DEMO_AGGREGATE_CACHE = 20000

ROLES = ("admin", "rater", "employee", "peer", "citizen_channel", "inspector",
         "appeal_panel")


@app.command()
def demo(employees: Annotated[int, typer.Option(
             min=MIN_EMPLOYEES, help="Field officers, spread over the six Sudinhub units")] = 200,
         months: Annotated[int, typer.Option(
             min=1, max=MAX_MONTHS, help="Monthly periods of 2026, from January")] = 6,
         seed: Annotated[int, typer.Option(help="Same seed, same events")] = 7) -> None:
    """Fill an empty store with a realistic, deterministic dataset (Dinas Perhubungan DKI
    Jakarta, 2026) and print a bearer token per role to try the API with."""
    settings = load_settings()
    where = describe_store(settings)
    ledger, runtime = open_for_demo(settings)
    try:
        existing = ledger.recorder.max_notification_id() or 0
        if existing:
            fail(f"{where} already holds {existing} events; the demo loads only into an "
                 f"empty store: point KINERJA_DATABASE_URL at a fresh file, e.g. "
                 f"KINERJA_DATABASE_URL=sqlite:///demo.sqlite3 kinerja demo", code=1)
        console = Console(stderr=True)
        started = time.perf_counter()
        with Progress(TextColumn("loading the demo"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("demo", total=None)
            try:
                summary = load_demo(ledger, employees=employees, months=months, seed=seed,
                                    progress=lambda done, total: bar.update(
                                        task, completed=done, total=total))
            except StoreNotEmpty as error:  # written to by someone else since the check
                fail(f"{where}: {error.message}", code=1)
        elapsed = time.perf_counter() - started
        tokens = {role: runtime.tokens.issue(summary.actors[role], [role]) for role in ROLES}
        print_summary(summary, where, elapsed, tokens)
    finally:
        ledger.close()
        runtime.reads.db.close()


def open_for_demo(settings: Settings) -> tuple[AppraisalLedger, Any]:
    """The ledger as `kinerja serve` composes it (personal data encrypted, citizen
    references pseudonymised, feedback read from the projections) and its runtime.

    Two things differ for a bulk load: aggregates are cached, and the projections are
    brought fully up to date before a delivery reads feedback from them, so that what a
    rater saw never depends on how fast the projections ran (one seed, one log)."""
    from api.app import create_app
    from api.idempotency import recorder_env
    from api.store import open_ledger

    ledger = open_ledger(settings, AGGREGATE_CACHE_MAXSIZE=DEMO_AGGREGATE_CACHE,
                         **recorder_env(settings.library_env()))
    try:
        runtime = create_app(settings, ledger=ledger).state.kinerja
    except BaseException:
        ledger.close()
        raise
    lookup = ledger.feedback_lookup

    def settled_lookup(employee_id: str, period: str) -> Any:
        runtime.runner.catch_up()
        return lookup(employee_id, period)
    ledger.feedback_lookup = settled_lookup
    return ledger, runtime


def describe_store(settings: Settings) -> str:
    """The store, named without any password."""
    store = settings.store()
    if store.kind == "sqlite":
        return f"the SQLite store {store.sqlite_path}"
    if store.kind == "postgresql":
        return f"the PostgreSQL store {store.host}:{store.port}/{store.dbname} " \
               f"(schema {store.schema})"
    return "the in-memory store"


def print_summary(summary: DemoSummary, where: str, elapsed: float,
                  tokens: dict[str, str] | None) -> None:
    console = Console(width=max(Console().width, 100))
    console.print(f"Demo loaded into {where} in {elapsed:.1f} s: Dinas Perhubungan DKI "
                  f"Jakarta, periods {summary.periods[0]}..{summary.periods[-1]}, "
                  f"seed {summary.seed}.")
    units = Table(title="Units", title_justify="left")
    units.add_column("Unit")
    units.add_column("Field officers", justify="right")
    for unit, count in summary.units.items():
        units.add_row(unit, str(count))
    units.add_row("(with heads and raters: employees registered)",
                  str(summary.employees_registered))
    console.print(units)
    console.print(_log_table(summary))
    console.print(f"Rubric {summary.rubric_id}; sample evaluation "
                  f"{summary.sample_evaluation_id} (employee {summary.sample_employee_id}; "
                  f"appealed and changed: reconstruct it as of {summary.as_of} to see the "
                  f"result first delivered).")
    console.print("Serve it with `kinerja serve`, then e.g.: curl -H \"Authorization: Bearer "
                  "$TOKEN\" http://127.0.0.1:8000/v1/evaluations/"
                  f"{summary.sample_evaluation_id}/explain")
    if tokens is None:
        console.print("Actors (mint a token with `kinerja token --actor ID --role ROLE`):")
    else:
        console.print("Tokens (8 hours, signed with the data folder's secret):")
    for role in ROLES:
        console.print(f"  {role:16} {summary.actors[role]}", highlight=False)
        if tokens is not None:
            console.print(f"    {tokens[role]}", highlight=False, soft_wrap=True)


def _log_table(summary: DemoSummary) -> Table:
    table = Table(title=f"The log: {summary.events} events", title_justify="left")
    table.add_column("What")
    table.add_column("Count", justify="right")
    h = summary.highlights
    rows: list[tuple[str, Any]] = [
        ("evaluations (one per officer and month)", summary.evaluations),
        ("results delivered", summary.count("evaluation.result-delivered")),
        ("realisations with evidence", summary.count("evaluation.realisation-recorded")),
        ("item ratings (overridden with a reason)",
         f"{summary.count('evaluation.item-rated')} ({h.get('item ratings overridden', 0)})"),
        ("perilaku ratings (departures with a reason)",
         f"{summary.count('evaluation.perilaku-rated')} "
         f"({h.get('perilaku departures with reason', 0)})"),
        ("citizen feedback via JAKI, CRM, Qlue, JakPotret",
         h.get("citizen feedback items", 0)),
        ("peer feedback", h.get("peer feedback items", 0)),
        ("rubric versions published", summary.count("rubric.version-published")),
        ("results calibrated in one session", h.get("results calibrated", 0)),
        ("appeals kept / changed / withdrawn",
         f"{h.get('appeals decided (kept)', 0)} / {h.get('appeals decided (changed)', 0)} / "
         f"{h.get('appeals withdrawn', 0)}"),
        ("late appeals refused (nothing written)", h.get("late appeals refused", 0)),
        ("appeal windows lapsed", h.get("appeal windows lapsed", 0)),
        ("cycle locks / reopenings / corrections",
         f"{h.get('cycle locks', 0)} / {h.get('cycle reopenings', 0)} / "
         f"{h.get('results corrected', 0)}"),
    ]
    for what, count in rows:
        table.add_row(what, str(count))
    return table
