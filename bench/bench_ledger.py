"""The verifiable ledger at scale: `kinerja verify` throughput and inclusion-proof latency
over a 1,000,000-event log (50,000 with --quick), on PostgreSQL and SQLite.

The log is written fast, straight into the library's events table in its own format
(COPY / executemany), not through the service: the figures are about the ledger, and
the write path has its own benchmark. Each figure stands beside a same-run baseline:

- verify and append throughput beside a raw sequential read of the same rows with
  hashlib SHA-256 over each one (the least any full recomputation must do);
- proof latency beside a primary-key read of one row of the same table through the same
  connection pool (the least any answer from the database costs), measured warm: tables
  analysed (as autovacuum would soon after the bulk load) and statements prepared.

The issue's absolute targets (verify >= 50,000 events/s; an inclusion proof < 5 ms at
1,000,000 events) are stated in each figure's note.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import POSTGRES_URL, Figure, connect, percentile, scratch_dir, scratch_schema

VERIFY_TARGET = 50_000  # events/s, issue 5
PROOF_TARGET_MS = 5.0  # issue 5
EVENTS_PER_AGGREGATE = 100


def _state(index: int) -> bytes:
    """A stored state shaped like an ItemRated event's (~330 bytes), unique per event."""
    return json.dumps({
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-31T08:00:00+00:00"},
        "actor": "0f2c9a54-8f0b-4d0e-9a57-0d3f5f1f7b11", "item_id": f"item-{index % 7}",
        "capaian": f"{80 + index % 60}.00", "computed_rating": "sesuai_ekspektasi",
        "rating": "sesuai_ekspektasi", "override_reason": None, "supersedes": None,
        "at": {"_type_": "datetime_iso", "_data_": "2026-01-31T08:00:00+00:00"},
        "sequence": index,
    }, separators=(",", ":")).encode()


def _rows(count: int) -> Iterator[tuple[uuid.UUID, int, str, bytes]]:
    aggregate = uuid.uuid4()
    for index in range(count):
        version = index % EVENTS_PER_AGGREGATE + 1
        if version == 1:
            aggregate = uuid.UUID(int=random.Random(index).getrandbits(128), version=4)
        yield aggregate, version, "kinerja.evaluation.item-rated.v1", _state(index)


@contextmanager
def _store(kind: str) -> Iterator[tuple[object, Callable[[int], None], Callable[[], Iterator[tuple]]]]:
    """(settings, bulk loader, raw sequential reader) for a scratch store of `kind`."""
    from api.settings import Settings

    if kind == "postgresql":
        with scratch_schema("bench_ledger") as schema, scratch_dir() as data:
            settings = Settings(database_url=POSTGRES_URL, postgres_schema=schema,
                                data_dir=data, postgres_pool_size=4)

            def load(count: int) -> None:
                with connect(schema) as connection, connection.cursor() as cursor:
                    with cursor.copy("COPY kinerja_events (originator_id, originator_version,"
                                     " topic, state) FROM STDIN") as copy:
                        for row in _rows(count):
                            copy.write_row(row)
                    connection.commit()
                    cursor.execute("ANALYZE kinerja_events")
                    connection.commit()

            def read() -> Iterator[tuple]:
                # Binary, as `kinerja verify` reads: the fairest raw read there is.
                with connect(schema) as connection, connection.cursor(binary=True) as cursor:
                    after = 0
                    while True:
                        rows = cursor.execute(
                            "SELECT notification_id, originator_id, originator_version, topic,"
                            " state FROM kinerja_events WHERE notification_id > %s "
                            "ORDER BY notification_id LIMIT 5000", (after,)).fetchall()
                        yield from rows
                        if len(rows) < 5000:
                            return
                        after = rows[-1][0]
            yield settings, load, read
    else:
        with scratch_dir() as data:
            path = Path(data) / "ledger.sqlite3"
            settings = Settings(database_url=f"sqlite:///{path}", data_dir=Path(data) / "d")

            def load(count: int) -> None:
                connection = sqlite3.connect(path)
                with connection:
                    connection.executemany(
                        "INSERT INTO stored_events (originator_id, originator_version, topic,"
                        " state) VALUES (?, ?, ?, ?)",
                        ((a.hex, v, t, s) for a, v, t, s in _rows(count)))
                connection.close()

            def read() -> Iterator[tuple]:
                connection = sqlite3.connect(path)
                try:
                    after = 0
                    while True:
                        rows = connection.execute(
                            "SELECT rowid, originator_id, originator_version, topic, state "
                            "FROM stored_events WHERE rowid > ? ORDER BY rowid LIMIT 5000",
                            (after,)).fetchall()
                        yield from rows
                        if len(rows) < 5000:
                            return
                        after = rows[-1][0]
                finally:
                    connection.close()
            yield settings, load, read


def _timed(call: Callable[[], object]) -> tuple[object, float]:
    began = time.perf_counter()
    result = call()
    return result, time.perf_counter() - began


def _measure(kind: str, count: int, samples: int) -> list[Figure]:
    from api.ledger_keys import open_merkle_ledger, sql_events
    from api.store import open_ledger
    from projections.ledger import verify_ledger

    label = "PostgreSQL" if kind == "postgresql" else "SQLite"
    section = f"Ledger: {count:,}-event log, {label}"
    with _store(kind) as (settings, load, read):
        app = open_ledger(settings, group_commit=False)  # creates the library's tables
        try:
            _, load_seconds = _timed(lambda: load(count))
            ledger = open_merkle_ledger(settings, app)
            try:
                size, append_seconds = _timed(ledger.catch_up)
                assert size == count, (size, count)
                ledger.publish_checkpoint()

                def baseline_scan() -> int:
                    seen = 0
                    for row in read():
                        hashlib.sha256(row[4]).digest()
                        seen += 1
                    return seen
                seen, raw_seconds = _timed(baseline_scan)
                assert seen == count
                with sql_events(settings, ledger.db) as events:
                    report, verify_seconds = _timed(lambda: verify_ledger(
                        ledger.db, events, verifier_key=ledger.public_key,
                        origin=settings.ledger_origin))
                assert report.ok and report.leaves == count, report.summary()

                if kind == "postgresql":
                    # What autovacuum does soon after a bulk load anyway: without statistics
                    # the planner may scan the node table rather than probe its key.
                    with ledger.db.transaction() as cursor:
                        cursor.execute("ANALYZE ledger_nodes")
                        cursor.execute("ANALYZE ledger_checkpoints")
                chooser = random.Random(5)
                for _ in range(50):  # every pooled connection past psycopg's prepare threshold
                    ledger.inclusion_proof(chooser.randrange(count))
                indexes = [chooser.randrange(count) for _ in range(samples)]
                proof_latencies = []
                for index in indexes:
                    began = time.perf_counter()
                    ledger.inclusion_proof(index)
                    proof_latencies.append(time.perf_counter() - began)
                row_latencies = []
                for index in indexes:
                    began = time.perf_counter()
                    with ledger.db.transaction() as cursor:
                        cursor.execute("SELECT leaf_hash FROM ledger_leaves WHERE idx = ?",
                                       (index,))
                        cursor.fetchone()
                    row_latencies.append(time.perf_counter() - began)
            finally:
                ledger.close()
        finally:
            app.close()
    raw_rate = count / raw_seconds
    verify_rate = count / verify_seconds
    p50, p99 = (percentile(proof_latencies, f) * 1000 for f in (0.5, 0.99))
    row50, row99 = (percentile(row_latencies, f) * 1000 for f in (0.5, 0.99))
    met = "met" if verify_rate >= VERIFY_TARGET else "**not met**"
    proof_met = "met" if p99 < PROOF_TARGET_MS else "**not met**"
    return [
        Figure(section, "kinerja verify (every leaf, root and checkpoint)", verify_rate,
               "events/s", "raw sequential read + SHA-256 of the same rows", raw_rate,
               note=f"issue target >= {VERIFY_TARGET:,} events/s: {met} "
                    f"({verify_seconds:.1f} s for the whole log)"),
        Figure(section, "append to the tree (catch-up, batches of 5,000)",
               count / append_seconds, "events/s",
               "raw sequential read + SHA-256 of the same rows", raw_rate,
               note=f"{append_seconds:.1f} s; the log itself was bulk-loaded in "
                    f"{load_seconds:.1f} s"),
        Figure(section, "inclusion proof, p50", p50, "ms",
               "primary-key read of one row, p50", row50, higher_is_better=False,
               note=f"{samples:,} random leaves, latest checkpoint; two queries (checkpoint "
                    "row, then every node in one query)"),
        Figure(section, "inclusion proof, p99", p99, "ms",
               "primary-key read of one row, p99", row99, higher_is_better=False,
               note=f"issue target < {PROOF_TARGET_MS:g} ms: {proof_met}"),
    ]


def run(quick: bool) -> list[Figure]:
    count = 50_000 if quick else 1_000_000
    samples = 500 if quick else 2000
    figures: list[Figure] = []
    for kind in ("postgresql", "sqlite"):
        figures += _measure(kind, count, samples)
    return figures


if __name__ == "__main__":
    import sys

    for figure in run(quick="--quick" in sys.argv):
        print(f"{figure.section} | {figure.name}: {figure.value:,.2f} {figure.unit} "
              f"(baseline {figure.baseline_name}: {figure.baseline_value:,.2f}; "
              f"ratio {figure.ratio:.2f}) {figure.note}")
