"""Read-model rebuild throughput (issue 3): replaying 1,000,000 events (about 50,000 with
--quick) into every read model, on PostgreSQL and SQLite, beside a raw keyset read plus
JSON decode of the same rows in the same run.

The log is a year of monthly appraisals (50 units of 100 officers, 12 periods: planning,
realisation, rating, perilaku, delivery, citizen and peer feedback, some appeals and
calibrations, a year-end lock), made by the domain's own aggregates and encoded by the
application's own mapper (personal fields sealed as in production), then written straight
into the events table (COPY on PostgreSQL, the recorder on SQLite): running a million
commands through the service would measure the write path, which has its own benchmark.

    .venv/bin/python -m bench.bench_projections [--quick] [--store sqlite|postgresql]

prints a markdown table fragment; `bench.run` collects the same figures.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from bench.common import POSTGRES_URL, Figure, connect, scratch_dir, scratch_schema
from projections.replay import REBUILD_BATCH

SECTION = "Read-model rebuild"
#: Issue 3: rebuild at >= 20,000 events/s on PostgreSQL, where a raw keyset read plus
#: JSON decode runs at about 70,000/s: a ratio of about 0.29.
TARGET_EVENTS_PER_SECOND = 20_000
TARGET_RATIO = 20_000 / 70_000
READ_PAGE = 5000


class SimulatedClock:
    """Every event a second after the previous one, from 1 December 2025 (UTC)."""

    def __init__(self) -> None:
        self.now = datetime(2025, 12, 1, 1, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _id(*key: object) -> UUID:
    return uuid5(NAMESPACE_URL, "bench/" + "/".join(str(k) for k in key))


def generate(units: int, per_unit: int, months: int, seed: int = 7
             ) -> Iterator[list[Any]]:
    """Domain events in log order, in chunks (aggregates are driven directly)."""
    from domain.appeal import Appeal
    from domain.base import recording_clock
    from domain.cycle import PerformanceCycle
    from domain.employee import Employee
    from domain.evaluation import Evaluation
    from domain.feedback import FeedbackItem
    from domain.rubric import Rubric
    from domain.scoring import FeedbackSummary, RubricPolicy
    from domain.values import (
        Aspect,
        BerakhlakValue,
        ChangeSource,
        Direction,
        FeedbackSource,
        ItemKind,
        OrganisationalResult,
        Periodicity,
        Predikat,
        Rating,
    )

    rng = random.Random(seed)
    clock = SimulatedClock()
    policy = RubricPolicy()
    hr = "bkd:admin"

    def collect(*aggregates: Any) -> list[Any]:
        return [e for a in aggregates for e in a.collect_events()]

    with recording_clock(clock):
        rubric = Rubric.establish(code="dishub", title="Dishub", actor=hr, at=clock())
        rubric.publish(version=1, effective_from=date(2026, 1, 1), policy={}, indicators=[],
                       summary="v1", actor=hr, at=clock())
        yield collect(rubric)
        staff: dict[int, list[str]] = {}
        raters: dict[int, str] = {}
        heads: dict[int, str] = {}
        cycles: dict[int, Any] = {}
        for u in range(units):
            unit = f"Unit {u:03d}"
            people = []
            for role in ("head", "rater", *range(per_unit)):
                person = Employee.register(
                    employee_id=_id("employee", u, role), nip=f"{19800000 + u * 1000:08d}"
                    f"{(hash(role) % 1000 if isinstance(role, str) else role):04d}",
                    name=f"Pegawai {u}-{role}", unit=unit, position="Petugas", actor=hr,
                    at=clock())
                people.append(person)
            head, rater, *officers = people
            heads[u], raters[u] = str(head.id), str(rater.id)
            for officer in officers:
                officer.assign_rater(str(rater.id), date(2026, 1, 1), hr, clock())
                officer.assign_reviewer(str(head.id), date(2026, 1, 1), hr, clock())
            staff[u] = [str(o.id) for o in officers]
            cycle = PerformanceCycle.start(unit=unit, year=2026,
                                           periodicity=Periodicity.MONTHLY,
                                           rubric_id=rubric.id, actor=hr, at=clock())
            cycles[u] = cycle
            yield collect(*people, cycle)
        predikat: dict[tuple[int, str], Any] = {}
        for month in range(1, months + 1):
            period = f"2026-{month:02d}"
            evaluations: dict[int, list[Any]] = {}
            for u in range(units):
                cycle = cycles[u]
                cycle.open_period(period, hr, clock())
                starts = date(2026, month, 1)
                ends = (date(2026, month + 1, 1) if month < 12 else date(2027, 1, 1)) \
                    - timedelta(days=1)
                made = [Evaluation.start(employee_id=e, unit=cycle.unit, cycle_id=cycle.id,
                                         period=period, starts_on=starts, ends_on=ends,
                                         rubric_id=rubric.id, rubric_version=1, actor=hr,
                                         at=clock()) for e in staff[u]]
                cycle.enrol(period, [str(e.id) for e in made], hr, clock())
                evaluations[u] = made
                yield collect(cycle, *made)
            everyone = [(u, e) for u in range(units) for e in evaluations[u]]

            def stage(act: Callable[[int, Any], None]) -> list[Any]:
                for u, evaluation in everyone:
                    act(u, evaluation)
                return collect(*(e for _, e in everyone))

            def plan(u: int, e: Any) -> None:
                e.plan_item(item_id="pelanggaran", kind=ItemKind.UTAMA,
                            aspect=Aspect.KUANTITAS, indicator="Pelanggaran lalu lintas",
                            target=Decimal(40), direction=Direction.LOWER_IS_BETTER,
                            unit_of_measure="kasus", supports=None, actor=raters[u],
                            at=clock())
                e.plan_item(item_id="patroli", kind=ItemKind.TAMBAHAN, aspect=Aspect.WAKTU,
                            indicator="Patroli tepat waktu", target=Decimal(100),
                            direction=Direction.HIGHER_IS_BETTER, unit_of_measure="%",
                            supports=None, actor=raters[u], at=clock())
                e.fix_targets(raters[u], clock())
            yield stage(plan)
            feedback = []
            for u, e in everyone:
                if rng.random() < 0.5:
                    citizen = rng.random() < 0.7
                    n = len(feedback)
                    feedback.append(FeedbackItem.give(
                        feedback_id=_id("feedback", period, u, n), employee_id=e.employee_id,
                        period=period,
                        source=FeedbackSource.CITIZEN if citizen else FeedbackSource.PEER,
                        giver_ref=f"warga-{rng.randrange(10**6)}" if citizen else raters[u],
                        score=rng.randint(1, 5), value=None,
                        comment="pelayanan ramah" if rng.random() < 0.1 else None,
                        channel="JAKI" if citizen else None,
                        external_ref=f"{period}-{u}-{n}" if citizen else None,
                        actor="kanal:jaki" if citizen else raters[u], at=clock()))
            yield collect(*feedback)

            def realise(u: int, e: Any) -> None:
                for item, value in (("pelanggaran", rng.randint(15, 70)),
                                    ("patroli", rng.randint(60, 130))):
                    e.record_realisation(item_id=item, value=Decimal(value),
                                         evidence=[f"https://bukti.example/{e.id}/{item}"],
                                         note="lembur" if rng.random() < 0.05 else None,
                                         actor=e.employee_id, at=clock())
            yield stage(realise)

            def rate(u: int, e: Any) -> None:
                for item in ("pelanggaran", "patroli"):
                    override = Rating.DI_ATAS if rng.random() < 0.03 else None
                    e.rate_item(item_id=item, override=override, reason="kondisi lapangan",
                                rater_in_force=raters[u], policy=policy, actor=raters[u],
                                at=clock())
                value = rng.choice([Rating.SESUAI, Rating.SESUAI, Rating.DI_ATAS,
                                    Rating.DI_BAWAH])
                for v in BerakhlakValue:
                    e.rate_perilaku(value=v, rating=value, note=None,
                                    rater_in_force=raters[u], actor=raters[u], at=clock())
            yield stage(rate)

            def deliver(u: int, e: Any) -> None:
                e.deliver(policy=policy, feedback=FeedbackSummary(),
                          departure_reason="pengamatan langsung", rater_in_force=raters[u],
                          actor=raters[u], at=clock())
                predikat[(u, str(e.id))] = e.result["predikat"]
            yield stage(deliver)
            for u in range(units):
                cycles[u].set_organisational_result(
                    period, rng.choice([OrganisationalResult.BAIK,
                                        OrganisationalResult.ISTIMEWA]), hr, clock())
            yield collect(*cycles.values())
            appeals = []
            for u, e in everyone:
                if rng.random() < 0.01:
                    appeal = Appeal.file(evaluation=e, rater_id=raters[u],
                                         grounds="bukti tidak dilihat", panel=[],
                                         superior_id=heads[u], actor=e.employee_id,
                                         at=datetime.combine(e.delivered_on, datetime.min.time(),
                                                             tzinfo=timezone.utc))
                    hk, pk = Rating.SESUAI, Rating.SESUAI
                    if (e.result["hasil_kerja"], e.result["perilaku_kerja"]) == (hk, pk):
                        appeal.decide(outcome="kept", hk=None, pk=None, reasons="tetap",
                                      policy=policy, current=e.result, actor=heads[u],
                                      at=clock())
                    else:
                        appeal.decide(outcome="changed", hk=hk, pk=pk, reasons="diterima",
                                      policy=policy, current=e.result, actor=heads[u],
                                      at=clock())
                        e.change_result(source=ChangeSource.APPEAL, reference=str(appeal.id),
                                        hk=hk, pk=pk, reason="diterima", policy=policy,
                                        actor=heads[u], at=clock())
                        predikat[(u, str(e.id))] = e.result["predikat"]
                    appeals.append(appeal)
                    appeals.append(e)
                elif rng.random() < 0.01:
                    e.change_result(source=ChangeSource.CALIBRATION, reference="kalibrasi",
                                    hk=Rating.SESUAI, pk=Rating.SESUAI, reason="sebaran",
                                    policy=policy, actor=hr, at=clock())
                    predikat[(u, str(e.id))] = e.result["predikat"]
                    appeals.append(e)
            yield collect(*appeals)
        for u in range(units):
            counts: dict[str, dict[Predikat, int]] = {}
            for (unit_index, evaluation_id), value in predikat.items():
                if unit_index == u:
                    pass
            cycle = cycles[u]
            by_period: dict[str, dict[Predikat, int]] = {}
            for period, ids in cycle.enrolled.items():
                tally: dict[Predikat, int] = {}
                for evaluation_id in ids:
                    p = Predikat(predikat[(u, evaluation_id)])
                    tally[p] = tally.get(p, 0) + 1
                by_period[period] = tally
            counts = by_period
            cycle.lock(predikat_counts=counts, policy=policy,
                       justification="sebaran unit kecil", actor=hr, at=clock())
        yield collect(*cycles.values())


def sizes(quick: bool) -> tuple[int, int, int]:
    """(units, officers per unit, months): about 50,000 or 1,000,000 events."""
    return (10, 50, 6) if quick else (50, 100, 12)


def write_log(ledger: Any, store: Any, units: int, per_unit: int, months: int) -> int:
    """Encode with the ledger's mapper and write straight into its events table."""
    mapper = ledger.mapper
    total = 0
    if store.kind == "postgresql":
        table = ledger.recorder.events_table_name
        with connect(store.schema) as connection:
            for chunk in generate(units, per_unit, months):
                stored = [mapper.to_stored_event(e) for e in chunk]
                with connection.cursor() as cursor, cursor.copy(
                        f"COPY {table} (originator_id, originator_version, topic, state) "
                        "FROM STDIN") as copy:
                    for s in stored:
                        copy.write_row((s.originator_id, s.originator_version, s.topic,
                                        s.state))
                connection.commit()
                total += len(stored)
    else:
        for chunk in generate(units, per_unit, months):
            stored = [mapper.to_stored_event(e) for e in chunk]
            for start in range(0, len(stored), 20_000):
                ledger.recorder.insert_events(stored[start:start + 20_000])
            total += len(stored)
    return total


def raw_read(store: Any, table: str) -> tuple[int, float]:
    """Keyset-read every row and JSON-decode its state: (rows, seconds)."""
    decode = json.JSONDecoder().decode
    rows = 0
    began = time.perf_counter()
    if store.kind == "postgresql":
        with connect(store.schema) as connection, connection.cursor() as cursor:
            after = 0
            while True:
                cursor.execute(f"SELECT notification_id, originator_id, originator_version, "
                               f"topic, state FROM {table} WHERE notification_id > %s "
                               "ORDER BY notification_id LIMIT %s", (after, READ_PAGE))
                page = cursor.fetchall()
                if not page:
                    break
                for row in page:
                    decode(bytes(row[4]).decode("utf-8"))
                rows += len(page)
                after = page[-1][0]
    else:
        connection = sqlite3.connect(store.sqlite_path)
        try:
            after = 0
            while True:
                page = connection.execute(
                    f"SELECT rowid, originator_id, originator_version, topic, state FROM "
                    f"{table} WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, READ_PAGE)
                ).fetchall()
                if not page:
                    break
                for row in page:
                    decode(row[4].decode("utf-8"))
                rows += len(page)
                after = page[-1][0]
        finally:
            connection.close()
    return rows, time.perf_counter() - began


@contextmanager
def _store(kind: str) -> Iterator[Any]:
    from api.settings import Settings

    if kind == "postgresql":
        with scratch_schema("bench_rm") as schema, scratch_dir() as directory:
            yield Settings(database_url=POSTGRES_URL, postgres_schema=schema,
                           data_dir=directory / "data")
    else:
        with scratch_dir() as directory:
            yield Settings(database_url=f"sqlite:///{directory / 'ledger.sqlite3'}",
                           data_dir=directory / "data")


def measure(kind: str, quick: bool, log: Callable[[str], None] = print) -> dict[str, float]:
    from api.store import open_ledger
    from projections.db import open_database
    from projections.runner import ProjectionRunner

    units, per_unit, months = sizes(quick)
    with _store(kind) as settings:
        ledger = open_ledger(settings, group_commit=False)
        db = open_database(settings.store(), pool_size=2)
        try:
            began = time.perf_counter()
            events = write_log(ledger, settings.store(), units, per_unit, months)
            log(f"{kind}: wrote {events:,} events in {time.perf_counter() - began:.0f} s")
            table = ledger.recorder.events_table_name
            raw = [raw_read(settings.store(), table) for _ in range(2)]
            raw_rate = max(rows / seconds for rows, seconds in raw)
            log(f"{kind}: raw keyset read + JSON decode {raw_rate:,.0f} events/s")
            runner = ProjectionRunner(ledger, db, batch_size=REBUILD_BATCH)
            began = time.perf_counter()
            reached = runner.rebuild(REBUILD_BATCH)
            seconds = time.perf_counter() - began
            rebuild_rate = events / seconds
            log(f"{kind}: rebuilt {events:,} events to position {reached:,} in "
                f"{seconds:.1f} s: {rebuild_rate:,.0f} events/s "
                f"(fast decoding: {runner.decoder.fast})")
            return {"events": events, "raw": raw_rate, "rebuild": rebuild_rate,
                    "seconds": seconds}
        finally:
            db.close()
            ledger.close()


def _figures(kind: str, result: dict[str, float]) -> list[Figure]:
    name = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}[kind]
    postgres = kind == "postgresql"
    note = (f"{result['events']:,.0f} events rebuilt into all five read models in "
            f"{result['seconds']:.0f} s, {REBUILD_BATCH:,} events per transaction")
    if postgres:
        note += (f"; issue target {TARGET_EVENTS_PER_SECOND:,} events/s absolute "
                 f"({'met' if result['rebuild'] >= TARGET_EVENTS_PER_SECOND else 'not met'})")
    return [Figure(SECTION, f"rebuild, {name}", result["rebuild"], "events/s",
                   "raw keyset read + JSON decode", result["raw"],
                   target=TARGET_RATIO if postgres else None, note=note)]


def run(quick: bool) -> list[Figure]:
    figures: list[Figure] = []
    for kind in ("postgresql", "sqlite"):
        figures += _figures(kind, measure(kind, quick,
                                          log=lambda m: print(m, file=sys.stderr)))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 50,000 events")
    parser.add_argument("--store", action="append", choices=["postgresql", "sqlite"])
    args = parser.parse_args(argv)
    rows = []
    for kind in args.store or ["postgresql", "sqlite"]:
        result = measure(kind, args.quick, log=lambda m: print(m, file=sys.stderr,
                                                               flush=True))
        rows.append((kind, result))
    print("| store | events | raw keyset read + JSON decode | rebuild (all read models) "
          "| ratio |")
    print("|---|---:|---:|---:|---:|")
    for kind, r in rows:
        print(f"| {kind} | {r['events']:,.0f} | {r['raw']:,.0f} events/s | "
              f"{r['rebuild']:,.0f} events/s | {r['rebuild'] / r['raw']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
