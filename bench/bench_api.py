"""Query latency and throughput of the running API (issue 4), and writes over HTTP
(issue 10), on PostgreSQL with the demo loaded, beside a bare FastAPI endpoint answering
from one raw psycopg SELECT, served and loaded the same way in the same run. The load
comes from bench/http_load.py, a lean generator in a process of its own."""

from __future__ import annotations

import json

import httpx

from bench import baselines
from bench.common import (
    Figure,
    LoadResult,
    http_load,
    load_demo_store,
    mint_token,
    paired,
    scratch_dir,
    scratch_schema,
    served,
)

SECTION = "API (PostgreSQL, demo loaded)"


def run(quick: bool) -> list[Figure]:
    employees, months = (60, 2) if quick else (1000, 6)
    seconds = 3.0 if quick else 10.0
    figures: list[Figure] = []
    with scratch_schema("bench_api") as schema, scratch_dir() as folder:
        env, load_seconds = load_demo_store(schema, folder, employees, months)
        token = mint_token(env, "inspektorat:bench", "inspector")
        with served(env, schema) as (api_url, bare_url):
            auth = {"Authorization": f"Bearer {token}"}
            page = httpx.get(f"{api_url}/v1/evaluations?limit=200", headers=auth,
                             timeout=30).json()["items"]
            ids = [item["evaluation_id"] for item in page]

            employees_page = [item["employee_id"] for item in page]
            loads = {
                "score query": (f"{api_url}/v1/evaluations", [
                    f"/v1/evaluations?employee_id={e}&limit=1" for e in employees_page]),
                "explain": (f"{api_url}/v1/evaluations", [
                    f"/v1/evaluations/{i}/explain" for i in ids]),
            }
            bare_paths = [f"/score/{i}" for i in ids]

            for clients in (1, 8, 32):
                base = http_load(f"{bare_url}/score", clients, seconds,
                                 {"paths": bare_paths})
                for name, (url, paths) in loads.items():
                    result = http_load(url, clients, seconds,
                                       {"headers": auth, "paths": paths})
                    figures.append(Figure(
                        SECTION, f"{name} p99, {clients} clients", result.p99_ms, "ms",
                        "bare FastAPI + one psycopg SELECT, p99", base.p99_ms,
                        higher_is_better=False,
                        note=(f"p50 {result.p50_ms:.1f} ms (baseline {base.p50_ms:.1f}); "
                              f"{result.per_second:.0f}/s vs {base.per_second:.0f}/s; "
                              "issue target: p99 < 20 ms at 32 clients"
                              if clients == 32 else
                              f"p50 {result.p50_ms:.1f} ms (baseline {base.p50_ms:.1f})")))
                    figures.append(Figure(SECTION, f"{name} requests/s, {clients} clients",
                                          result.per_second, "/s", "bare FastAPI + SELECT",
                                          base.per_second))
            # Writes over HTTP at 1, 8 and 32 clients, from a lean load generator in its
            # own process; at 32, against raw plain inserts from 32 clients (the target's
            # pair) and a bare FastAPI POST validating the same body (the framework's own
            # ceiling here).
            writer = mint_token(env, "kanal:bench", "citizen_channel")
            employee_ids = sorted({item["employee_id"] for item in page})
            body = json.dumps({"employee_id": employee_ids[0], "period": "2026-01",
                               "score": 4, "channel": "JAKI", "external_ref": "bench-{n}",
                               "giver_ref": "warga-{n}"})
            json_headers = {"Content-Type": "application/json"}
            write_headers = {**json_headers, "Authorization": f"Bearer {writer}"}
            # 1 and 8 clients: what one channel, or a few, see; beside raw plain inserts
            # from as many clients, measured right after. No target at these counts.
            for clients in (1, 8):
                writes = http_load(f"{api_url}/v1/feedback/citizen", clients, seconds, {
                    "headers": write_headers,
                    "body": body.replace("bench-{n}", f"bench-c{clients}-{{n}}")})
                plain = baselines.raw_plain_inserts(clients, seconds)
                callers = "1 caller" if clients == 1 else f"{clients} callers"
                figures.append(Figure(
                    "Write path (PostgreSQL)", f"commands/s, {callers}, over HTTP",
                    writes.per_second, "/s",
                    f"raw plain single-row inserts, {clients} client"
                    + ("" if clients == 1 else "s"), plain.per_second,
                    note=(f"p50 {writes.p50_ms:.1f} ms, p99 {writes.p99_ms:.1f} ms (raw: "
                          f"p50 {plain.p50_ms:.1f} ms, p99 {plain.p99_ms:.1f} ms)")))
            rounds = iter(range(3))

            def write_load() -> LoadResult:
                # Each round sends items of its own: a resent item is a different request.
                return http_load(f"{api_url}/v1/feedback/citizen", 32, seconds, {
                    "headers": write_headers,
                    "body": body.replace("bench-{n}", f"bench-{next(rounds)}-{{n}}")})
            writes, plain_32, ratios = paired(
                write_load, lambda: baselines.raw_plain_inserts(32, seconds), rounds=3)
            ceiling = http_load(f"{bare_url}/feedback", 32, seconds,
                                {"headers": json_headers, "body": body})
            note = (f"p50 {writes.p50_ms:.1f} ms, p99 {writes.p99_ms:.1f} ms; median of 3 "
                    "rounds, each measured right after its baseline; ratios "
                    + ", ".join(f"{r:.2f}" for r in ratios))
            figures.append(Figure(
                "Write path (PostgreSQL)", "commands/s, 32 callers, over HTTP",
                writes.per_second, "/s", "raw plain single-row inserts, 32 clients",
                plain_32.per_second, target=0.5, note=note))
            figures.append(Figure(
                "Write path (PostgreSQL)", "commands/s, 32 callers, over HTTP (vs framework)",
                writes.per_second, "/s",
                "bare FastAPI POST, same body validated, nothing stored",
                ceiling.per_second,
                note=f"the bare endpoint: {ceiling.per_second / plain_32.per_second:.2f}x "
                     "the raw inserts; p50 "
                     f"{ceiling.p50_ms:.1f} ms, p99 {ceiling.p99_ms:.1f} ms"))
    figures[0] = Figure(**{**figures[0].__dict__, "note": figures[0].note +
                           f"; demo of {employees} employees x {months} months loaded in "
                           f"{load_seconds:.0f} s"})
    return figures
