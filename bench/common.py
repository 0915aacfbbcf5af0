"""What every benchmark shares: the figure type, timing loops, the machine's description,
and scratch PostgreSQL schemas / SQLite files that are removed afterwards."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

KINERJA = str(Path(sys.executable).parent / "kinerja")
POSTGRES_URL = os.environ.get("KINERJA_BENCH_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Figure:
    """One measured figure beside the baseline it is judged against.

    `higher_is_better` says whether the ratio value/baseline should be large (throughput)
    or small (latency). `target` is the ratio the issue asks for, if any."""

    section: str
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float
    higher_is_better: bool = True
    target: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        if self.baseline_value == 0:
            return float("nan")
        return self.value / self.baseline_value

    @property
    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target


def percentile(samples: list[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class LoadResult:
    operations: int
    seconds: float
    latencies: list[float]
    #: How many transactions wrote the operations, where the load knows.
    transactions: int | None = None

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else float("nan")

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 0.50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan")


def paired(ours: Callable[[], LoadResult], baseline: Callable[[], LoadResult],
           rounds: int) -> tuple[LoadResult, LoadResult, list[float]]:
    """Measure the baseline and ours one right after the other, `rounds` times; the pair
    whose ratio is the median, and every ratio. On a shared machine whose speed drifts
    over a run, a figure and its baseline measured minutes apart differ by the drift;
    measured side by side, and taken at the median of a few rounds, they do not."""
    pairs = []
    for _ in range(rounds):
        base = baseline()
        mine = ours()
        pairs.append((mine.per_second / base.per_second, mine, base))
    pairs.sort(key=lambda pair: pair[0])
    _, mine, base = pairs[len(pairs) // 2]
    return mine, base, [ratio for ratio, _, _ in pairs]


def run_concurrently(clients: int, seconds: float,
                     make_worker: Callable[[int], Callable[[], int]]) -> LoadResult:
    """Run `clients` threads for about `seconds`; each calls its worker in a loop. A worker
    call returns how many operations it completed; its duration is one latency sample.
    Bounded in time: every thread stops by itself."""
    workers = [make_worker(i) for i in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    counts = [0] * clients
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def loop(index: int) -> None:
        work = workers[index]
        start_gate.wait()
        while time.perf_counter() < deadline[0]:
            began = time.perf_counter()
            counts[index] += work()
            latencies[index].append(time.perf_counter() - began)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start_gate.wait()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - began
    return LoadResult(sum(counts), elapsed, [x for per in latencies for x in per])


def run_tasks(clients: int, seconds: float,
              make_worker: Callable[[int], Callable[[], Awaitable[int]]], *,
              setup: Callable[[], Awaitable[Any]] | None = None,
              teardown: Callable[[], Awaitable[Any]] | None = None) -> LoadResult:
    """`run_concurrently` for callers on one event loop: `clients` tasks, each awaiting
    its worker in a loop for about `seconds`. `setup` and `teardown` run on that loop,
    untimed, before and after."""
    async def run() -> LoadResult:
        if setup is not None:
            await setup()
        try:
            return await timed()
        finally:
            if teardown is not None:
                await teardown()

    async def timed() -> LoadResult:
        workers = [make_worker(i) for i in range(clients)]
        latencies: list[float] = []
        counts = [0] * clients
        deadline = time.perf_counter() + seconds

        async def loop(index: int) -> None:
            work = workers[index]
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                done = await work()
                counts[index] += done
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(loop(i) for i in range(clients)))
        return LoadResult(sum(counts), time.perf_counter() - began, latencies)
    return asyncio.run(run())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    """Until `url` answers below 500; fails if the server process exits first."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer")


def load_demo_store(schema: str, folder: Path, employees: int,
                    months: int) -> tuple[dict[str, str], float]:
    """Environment of a fresh demo store in `schema` (data folder under `folder`), and the
    seconds `kinerja demo` took to fill it."""
    env = {**os.environ, "KINERJA_DATABASE_URL": f"{POSTGRES_URL}?schema={schema}",
           "KINERJA_DATA_DIR": str(folder / "data")}
    began = time.perf_counter()
    subprocess.run([KINERJA, "demo", "--employees", str(employees), "--months", str(months)],
                   env=env, check=True, capture_output=True)
    return env, time.perf_counter() - began


def mint_token(env: dict[str, str], actor: str, role: str) -> str:
    return subprocess.run([KINERJA, "token", "--actor", actor, "--role", role], env=env,
                          check=True, capture_output=True, text=True).stdout.strip()


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    postgres = "unreachable"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            postgres = connection.execute("SHOW server_version").fetchone()[0]
            fsync = connection.execute("SHOW fsync").fetchone()[0]
            commit = connection.execute("SHOW synchronous_commit").fetchone()[0]
            postgres += f" (fsync={fsync}, synchronous_commit={commit})"
    except psycopg.Error:
        pass
    kernel = subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} cores ({cpu}), {memory} memory, Linux {kernel}, "
            f"Python {platform.python_version()}, PostgreSQL {postgres}; a shared, noisy "
            "machine: compare ratios within one run, not absolute numbers across runs")


@contextmanager
def scratch_schema(prefix: str = "bench") -> Iterator[str]:
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


@contextmanager
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="kinerja-bench-") as name:
        yield Path(name)


def connect(schema: str, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(POSTGRES_URL, autocommit=autocommit,
                           options=f"-c search_path={schema}")


def http_load(url: str, clients: int, seconds: float, spec: dict) -> LoadResult:
    """`clients` keep-alive connections sending the request `spec` describes (see
    bench/http_load.py) for about `seconds`, from a separate lean process."""
    import json

    with tempfile.TemporaryDirectory(prefix="kinerja-load-") as folder:
        output = Path(folder) / "result.json"
        subprocess.run([sys.executable, "-m", "bench.http_load", url, str(clients),
                        str(seconds), str(output)], input=json.dumps(spec),
                       capture_output=True, text=True, check=True, timeout=seconds + 120)
        result = json.loads(output.read_text())
    if result["errors"]:
        raise RuntimeError(f"{url} answered with errors: {result['errors']}")
    return LoadResult(result["operations"], result["seconds"], result["latencies"])


@contextmanager
def pinned_to_one_core() -> Iterator[None]:
    """Threads started inside run on one core only (they inherit the calling thread's
    affinity). A Python process's threads share one interpreter lock; handing it between
    threads on different cores costs far more than on one."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextmanager
def served(env: dict[str, str], schema: str) -> Iterator[tuple[str, str]]:
    """`kinerja serve --no-follow` on the store `env` names, with `kinerja follow` beside
    it (the deployment that gives the API its interpreter to itself; the followers still
    share the machine's cores), and the bare baseline server (bench/bare_api.py) on the
    same schema, each on a free port; yields their URLs once both answer, and stops all
    three afterwards."""
    api_port, bare_port = free_port(), free_port()
    api = subprocess.Popen([KINERJA, "serve", "--no-follow", "--port", str(api_port)],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    follower = subprocess.Popen([KINERJA, "follow"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    bare = subprocess.Popen([sys.executable, "-m", "bench.bare_api", str(bare_port), schema],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        api_url, bare_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
        wait_for_http(f"{api_url}/healthz", api)
        wait_for_http(f"{bare_url}/healthz", bare)
        if follower.poll() is not None:
            raise RuntimeError(f"kinerja follow exited with {follower.returncode}")
        yield api_url, bare_url
    finally:
        for process in (api, follower, bare):
            process.terminate()
            process.wait(timeout=30)
