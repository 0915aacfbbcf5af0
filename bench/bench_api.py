"""Query latency and throughput of the running API (issue 4), and writes over HTTP
(issue 10), on PostgreSQL with the demo loaded, beside a bare FastAPI endpoint answering
from one raw psycopg SELECT, served and loaded the same way in the same run."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Callable

import httpx

from bench import baselines
from bench.common import (
    KINERJA,
    load_demo_store,
    mint_token,
    Figure,
    free_port,
    http_load,
    run_concurrently,
    scratch_dir,
    scratch_schema,
    wait_for_http,
)

SECTION = "API (PostgreSQL, demo loaded)"


def _load(clients: int, seconds: float, request: Callable[[httpx.Client, int], None]):
    counter = itertools.count()
    lock = threading.Lock()

    def make(_: int) -> Callable[[], int]:
        client = httpx.Client(timeout=30)

        def work() -> int:
            with lock:
                n = next(counter)
            request(client, n)
            return 1
        return work
    return run_concurrently(clients, seconds, make)


def run(quick: bool) -> list[Figure]:
    employees, months = (60, 2) if quick else (1000, 6)
    seconds = 3.0 if quick else 10.0
    figures: list[Figure] = []
    with scratch_schema("bench_api") as schema, scratch_dir() as folder:
        env, load_seconds = load_demo_store(schema, folder, employees, months)
        token = mint_token(env, "inspektorat:bench", "inspector")
        api_port, bare_port = free_port(), free_port()
        api = subprocess.Popen([KINERJA, "serve", "--port", str(api_port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bare = subprocess.Popen([sys.executable, "-m", "bench.bare_api", str(bare_port),
                                 schema], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            api_url, bare_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
            wait_for_http(f"{api_url}/healthz", api)
            wait_for_http(f"{bare_url}/docs", bare)
            auth = {"Authorization": f"Bearer {token}"}
            page = httpx.get(f"{api_url}/v1/evaluations?limit=200", headers=auth,
                             timeout=30).json()["items"]
            ids = [item["evaluation_id"] for item in page]

            def score(client: httpx.Client, n: int) -> None:
                answer = client.get(f"{api_url}/v1/evaluations",
                                    params={"employee_id": page[n % len(page)]["employee_id"],
                                            "limit": 1}, headers=auth)
                answer.raise_for_status()

            def explain(client: httpx.Client, n: int) -> None:
                client.get(f"{api_url}/v1/evaluations/{ids[n % len(ids)]}/explain",
                           headers=auth).raise_for_status()

            def bare_select(client: httpx.Client, n: int) -> None:
                client.get(f"{bare_url}/score/{ids[n % len(ids)]}").raise_for_status()

            for clients in (1, 8, 32):
                base = _load(clients, seconds, bare_select)
                for name, request in (("score query", score), ("explain", explain)):
                    result = _load(clients, seconds, request)
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
            # Writes over HTTP at 32 clients, from a lean load generator in its own
            # process, against raw plain inserts from 32 clients and against a bare
            # FastAPI POST validating the same body (the framework's own ceiling here).
            plain_32 = baselines.raw_plain_inserts(32, seconds)
            writer = mint_token(env, "kanal:bench", "citizen_channel")
            employee_ids = sorted({item["employee_id"] for item in page})
            body = json.dumps({"employee_id": employee_ids[0], "period": "2026-01",
                               "score": 4, "channel": "JAKI", "external_ref": "bench-{n}",
                               "giver_ref": "warga-{n}"})
            json_headers = {"Content-Type": "application/json"}
            writes = http_load(f"{api_url}/v1/feedback/citizen", 32, seconds, {
                "headers": {**json_headers, "Authorization": f"Bearer {writer}"},
                "body": body})
            ceiling = http_load(f"{bare_url}/feedback", 32, seconds,
                                {"headers": json_headers, "body": body})
            note = f"p50 {writes.p50_ms:.1f} ms, p99 {writes.p99_ms:.1f} ms"
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
        finally:
            for process in (api, bare):
                process.terminate()
                process.wait(timeout=30)
    figures[0] = Figure(**{**figures[0].__dict__, "note": figures[0].note +
                           f"; demo of {employees} employees x {months} months loaded in "
                           f"{load_seconds:.0f} s"})
    return figures
