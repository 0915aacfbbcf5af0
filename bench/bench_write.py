"""The write path (issue 10): commands/s and latency at 1, 8 and 32 callers, and bulk
citizen-feedback ingestion, on PostgreSQL, beside raw psycopg references of the same run."""

from __future__ import annotations

import asyncio
import csv
import itertools
import os
import subprocess
import time
from dataclasses import replace
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from api.settings import Settings
from api.store import open_ledger
from bench import baselines
from bench.common import (
    KINERJA,
    POSTGRES_URL,
    Figure,
    LoadResult,
    pinned_to_one_core,
    paired,
    run_concurrently,
    run_tasks,
    scratch_dir,
    scratch_schema,
)
from domain.values import FeedbackSource

SECTION = "Write path (PostgreSQL)"


def _world(ledger, employees: int) -> list[str]:
    from tests.scenario import TickingClock, build_world
    return build_world(ledger, TickingClock(), employees=employees).employees


@contextmanager
def _ledger_with_world(clients: int) -> Iterator[tuple[Any, list[str]]]:
    """A ledger on a scratch schema, with eight employees to give feedback to."""
    with scratch_schema("bench_write") as schema:
        settings = Settings(database_url=POSTGRES_URL, postgres_schema=schema,
                            postgres_pool_size=min(40, clients + 4))
        ledger = open_ledger(settings)
        try:
            yield ledger, _world(ledger, 8)
        finally:
            ledger.close()


def _citizen_item(n: int, employees: list[str]) -> dict[str, Any]:
    return dict(employee_id=employees[n % len(employees)], period="2026-01",
                source=FeedbackSource.CITIZEN, giver_ref=f"warga-{n}", score=1 + n % 5,
                channel="JAKI", external_ref=f"bench-{n}", actor="channel:jaki")


def _command_load(clients: int, seconds: float) -> LoadResult:
    """Each call is one command: a citizen feedback item through the service."""
    with _ledger_with_world(clients) as (ledger, employees):
        def make(index: int) -> Callable[[], int]:
            # Each caller numbers its own items: a shared counter behind a lock would
            # make the callers queue on the harness rather than on the ledger.
            numbers = itertools.count(index, clients)

            def work() -> int:
                ledger.give_feedback(**_citizen_item(next(numbers), employees))
                return 1
            return work
        result = run_concurrently(clients, seconds, make)
        return replace(result, transactions=ledger.committer.batches if ledger.committer
                       else None)


def _command_load_on_a_loop(clients: int, seconds: float) -> LoadResult:
    """The same commands from `clients` tasks on one event loop, as the API's handlers
    call them: `give_feedback_async`, or, where it answers None (the first item of an
    employee or of a key window), `give_feedback` in a thread."""
    with _ledger_with_world(clients) as (ledger, employees):
        def make(index: int) -> Callable[[], Awaitable[int]]:
            numbers = itertools.count(index, clients)

            async def work() -> int:
                item = _citizen_item(next(numbers), employees)
                if await ledger.give_feedback_async(**item) is None:
                    await asyncio.to_thread(lambda: ledger.give_feedback(**item))
                return 1
            return work

        committers: list[Any] = []

        async def teardown() -> None:
            committers.append(ledger._loop_committer())
            await ledger.close_async()
        result = run_tasks(clients, seconds, make, teardown=teardown)
        return replace(result, transactions=committers[0].batches if committers[0] else None)


def _bulk_load(seconds: float, batch: int) -> LoadResult:
    with scratch_schema("bench_bulk") as schema:
        settings = Settings(database_url=POSTGRES_URL, postgres_schema=schema)
        ledger = open_ledger(settings)
        try:
            employees = _world(ledger, 8)
            counter = itertools.count()

            def make(_: int) -> Callable[[], int]:
                def work() -> int:
                    items = []
                    for _ in range(batch):
                        n = next(counter)
                        items.append({"employee_id": employees[n % 8], "period": "2026-01",
                                      "source": "citizen", "giver_ref": f"warga-{n}",
                                      "score": 1 + n % 5, "channel": "Qlue",
                                      "external_ref": f"qlue-{n}"})
                    ledger.give_feedback_batch(items, actor="channel:qlue")
                    return batch
                return work
            return run_concurrently(1, seconds, make)
        finally:
            ledger.close()


def _cli_import(rows: int) -> LoadResult:
    """`kinerja import-feedback` of a CSV export of `rows` items, as an operator runs it:
    a process of its own, from its start (imports, the store opened, the whole file
    checked) to its end."""
    with scratch_schema("bench_import") as schema, scratch_dir() as directory:
        settings = Settings(database_url=POSTGRES_URL, postgres_schema=schema,
                            data_dir=directory / "data")
        ledger = open_ledger(settings)
        try:
            employees = _world(ledger, 8)
        finally:
            ledger.close()
        export = directory / "qlue.csv"
        with export.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["employee_id", "period", "giver_ref", "score", "external_ref"])
            for n in range(rows):
                writer.writerow([employees[n % 8], "2026-01", f"warga-{n}", 1 + n % 5,
                                 f"qlue-{n}"])
        env = {**os.environ, "KINERJA_DATABASE_URL": POSTGRES_URL,
               "KINERJA_POSTGRES_SCHEMA": schema, "KINERJA_DATA_DIR": str(directory / "data")}
        began = time.perf_counter()
        subprocess.run([KINERJA, "import-feedback", str(export), "--channel", "Qlue",
                        "--actor", "channel:qlue", "--batch-size", "5000"], env=env,
                       check=True, capture_output=True, timeout=600)
        return LoadResult(rows, time.perf_counter() - began, [])


def run(quick: bool) -> list[Figure]:
    seconds = 3.0 if quick else 10.0
    figures: list[Figure] = []
    lock_notify_1 = baselines.raw_single_event_lock_notify(1, seconds)
    plain_32 = baselines.raw_plain_inserts(32, seconds)  # for 8 callers; 32 are paired
    crud_32 = baselines.crud_with_audit_trigger(32, seconds)
    library_32 = baselines.bare_eventsourcing_saves(32, seconds)
    for clients in (1, 8, 32):
        if clients == 32:
            # The target's figure: measured right after its raw baseline, three times.
            result, plain_32, ratios = paired(
                lambda: _command_load(32, seconds),
                lambda: baselines.raw_plain_inserts(32, seconds), rounds=3)
        else:
            result = _command_load(clients, seconds)
        note = (f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms; "
                f"{result.operations} commands in {result.transactions} transactions")
        if clients == 32:
            note += ("; median of 3 rounds, each measured right after its baseline; ratios "
                     + ", ".join(f"{r:.2f}" for r in ratios))
        if clients == 1:
            figures.append(Figure(SECTION, "commands/s, 1 caller, in-process",
                                  result.per_second, "/s",
                                  "raw 1-event txn with lock+NOTIFY, 1 client",
                                  lock_notify_1.per_second, target=0.7, note=note))
        else:
            figures.append(Figure(SECTION, f"commands/s, {clients} callers, in-process",
                                  result.per_second, "/s",
                                  "raw plain single-row inserts, 32 clients",
                                  plain_32.per_second,
                                  target=1.0 if clients == 32 else None, note=note))
        if clients == 32:
            figures.append(Figure(SECTION, "p99 latency, 32 callers", result.p99_ms, "ms",
                                  "raw plain insert p99, 32 clients", plain_32.p99_ms,
                                  higher_is_better=False))
            figures.append(Figure(SECTION, "commands/s, 32 callers (vs bare library)",
                                  result.per_second, "/s",
                                  "bare eventsourcing save(), 32 clients",
                                  library_32.per_second))
            figures.append(Figure(SECTION, "commands/s, 32 callers (vs CRUD + audit)",
                                  result.per_second, "/s",
                                  "CRUD UPDATE with audit trigger, 32 clients",
                                  crud_32.per_second))
    # Callers on an event loop, as the API's handlers are, against the faster of the two
    # raw references (threads, or tasks on async connections), measured right before it.
    raw_pairs: list[tuple[LoadResult, LoadResult]] = []

    def fastest_raw() -> LoadResult:
        threads = baselines.raw_plain_inserts(32, seconds)
        tasks = baselines.raw_plain_inserts_async(32, seconds)
        raw_pairs.append((threads, tasks))
        return max(threads, tasks, key=lambda result: result.per_second)
    for clients in (8, 32):
        on_loop, raw, ratios = paired(lambda clients=clients: _command_load_on_a_loop(
            clients, seconds), fastest_raw, rounds=3 if clients == 32 else 1)
        threads, tasks = next(pair for pair in raw_pairs if raw is pair[0] or raw is pair[1])
        figures.append(Figure(
            SECTION, f"commands/s, {clients} callers on an event loop, in-process",
            on_loop.per_second, "/s",
            "raw plain single-row inserts, 32 clients (threads or tasks, the faster)",
            raw.per_second, target=1.0 if clients == 32 else None,
            note=(f"p50 {on_loop.p50_ms:.1f} ms, p99 {on_loop.p99_ms:.1f} ms; "
                  f"{on_loop.operations} commands in {on_loop.transactions} "
                  f"transactions; raw references: {threads.per_second:,.0f}/s from "
                  f"threads, {tasks.per_second:,.0f}/s from tasks"
                  + ("; median of 3 rounds, each measured right after its baseline; "
                     "ratios " + ", ".join(f"{r:.2f}" for r in ratios)
                     if clients == 32 else ""))))
    # The same pair again with this process on one core (PostgreSQL keeps both): how a
    # Python server is best deployed, one process per core. Both sides are pinned alike.
    with pinned_to_one_core():
        plain_32_pinned = baselines.raw_plain_inserts(32, seconds)
        pinned = _command_load(32, seconds)
    figures.append(Figure(SECTION, "commands/s, 32 callers, in-process, pinned to one core",
                          pinned.per_second, "/s",
                          "raw plain single-row inserts, 32 clients, pinned alike",
                          plain_32_pinned.per_second,
                          note=(f"p50 {pinned.p50_ms:.1f} ms, p99 {pinned.p99_ms:.1f} ms; "
                                f"{pinned.operations} commands in {pinned.transactions} "
                                "transactions")))
    bulk, batched, ratios = paired(lambda: _bulk_load(seconds, 1000),
                                   lambda: baselines.raw_batched_inserts(100, seconds),
                                   rounds=3)
    figures.append(Figure(SECTION, "bulk citizen feedback rows/s (1,000 per request)",
                          bulk.per_second, "/s", "raw batched inserts, 100 rows/txn",
                          batched.per_second, target=0.5,
                          note=("median of 3 rounds, each measured right after its "
                                "baseline; ratios " + ", ".join(f"{r:.2f}" for r in ratios))))
    rows = 50_000 if quick else 200_000
    imported, batched, _ = paired(lambda: _cli_import(rows),
                                  lambda: baselines.raw_batched_inserts(100, seconds),
                                  rounds=1)
    figures.append(Figure(SECTION, "bulk citizen feedback rows/s, kinerja import-feedback "
                          "of a CSV file", imported.per_second, "/s",
                          "raw batched inserts, 100 rows/txn", batched.per_second,
                          note=(f"{rows:,} items, 5,000 per transaction; the command timed "
                                "as a process from its start, its imports and its "
                                "checking pass over the whole file included")))
    return figures
