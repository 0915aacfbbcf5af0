"""32 clients at once against the real server (uvicorn on 127.0.0.1) on PostgreSQL:
raters rating the same evaluations, peers and complaint channels giving feedback, employees
appealing (some twice, some retrying with the same Idempotency-Key). Afterwards the log
holds exactly the accepted writes, one appeal at most per evaluation, and every read model
equals a replay of the log."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.http_protocol import GatheringHttpToolsProtocol
from api.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.scenario import HR, PERIOD, UNIT, YEAR

CLIENTS = 32
VALUES = ("berorientasi_pelayanan", "akuntabel", "kompeten", "harmonis", "loyal", "adaptif",
          "kolaboratif")


class Server:
    def __init__(self, app: Any) -> None:
        self.app = app
        # The protocol `kinerja serve` runs, each response in one write.
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="on",
                                                    http=GatheringHttpToolsProtocol))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def server(postgres_schema: str, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    settings = Settings(database_url=POSTGRES_URL, postgres_schema=postgres_schema,
                        data_dir=tmp_path / "data", postgres_pool_size=16)
    app = create_app(settings, read_wait_seconds=10)
    with Server(app) as url:
        yield url, app.state.kinerja


def bearer(runtime: Any, actor: str, *roles: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + runtime.tokens.issue(actor, list(roles))}


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.is_success, (response.request.url, response.status_code, response.text)
    return response.json()


def set_up(client: httpx.Client, runtime: Any, employees: int) -> dict[str, Any]:
    hr = bearer(runtime, HR, "admin")
    ids: list[str] = []

    def register(n: int, position: str) -> str:
        return ok(client.post("/v1/employees", headers=hr, json={
            "nip": f"19900101201503{n:04d}", "name": f"P{n}", "unit": UNIT,
            "position": position}))["employee_id"]

    head, rater = register(9998, "Kepala"), register(9999, "Kepala Satpel")
    for n in range(employees):
        employee = register(n, "Petugas")
        for kind, who in (("rater", rater), ("reviewer", head)):
            ok(client.post(f"/v1/employees/{employee}/{kind}", headers=hr, json={
                f"{kind}_id": who, "effective_from": f"{YEAR}-01-01"}))
        ids.append(employee)
    rubric = ok(client.post("/v1/rubrics", headers=hr,
                            json={"code": "c", "title": "t"}))["rubric_id"]
    ok(client.post(f"/v1/rubrics/{rubric}/versions", headers=hr, json={
        "version": 1, "effective_from": f"{YEAR}-01-01", "summary": "s"}))
    cycle = ok(client.post("/v1/cycles", headers=hr, json={
        "unit": UNIT, "year": YEAR, "periodicity": "monthly", "rubric_id": rubric}))["cycle_id"]
    ok(client.post(f"/v1/cycles/{cycle}/periods", headers=hr, json={"period": PERIOD}))
    evaluations = ok(client.post(f"/v1/cycles/{cycle}/evaluations", headers=hr, json={
        "period": PERIOD, "employee_ids": ids}))["evaluation_ids"]
    as_rater = bearer(runtime, rater, "rater")
    for n, evaluation in enumerate(evaluations):
        base = f"/v1/evaluations/{evaluation}"
        ok(client.post(f"{base}/items", headers=as_rater, json={
            "item_id": "v", "kind": "utama", "aspect": "kuantitas", "indicator": "x",
            "target": 40, "direction": "lower_is_better"}))
        ok(client.post(f"{base}/fix-targets", headers=as_rater))
        ok(client.post(f"{base}/items/v/realisations", json={"value": 30},
                       headers=bearer(runtime, ids[n], "employee")))
        if n >= employees // 2:  # the second half is delivered, ready to appeal
            ok(client.post(f"{base}/items/v/rating", headers=as_rater, json={}))
            for value in VALUES:
                ok(client.post(f"{base}/perilaku", headers=as_rater,
                               json={"value": value, "rating": "sesuai_ekspektasi"}))
            ok(client.post(f"{base}/deliver", headers=as_rater, json={}))
    return {"employees": ids, "evaluations": evaluations, "rater": rater}


@pytest.mark.postgres
@pytest.mark.slow
def test_32_clients_at_once_leave_exactly_the_accepted_writes(server: tuple[str, Any]
                                                             ) -> None:
    url, runtime = server
    with httpx.Client(base_url=url, timeout=60) as client:
        world = set_up(client, runtime, employees=16)
    employees, evaluations = world["employees"], world["evaluations"]
    open_evaluations, delivered = evaluations[:8], evaluations[8:]
    as_rater = bearer(runtime, world["rater"], "rater")
    start = runtime.ledger.recorder.max_notification_id()

    accepted: list[tuple[str, int, int | None]] = []  # (kind, events, position)
    refused: Counter[tuple[str, int]] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def record(kind: str, response: httpx.Response, events: int) -> None:
        with lock:
            if response.is_success:
                replay = response.headers.get("idempotency-replayed") == "true"
                accepted.append((kind, 0 if replay else events,
                                 response.json()["position"]))
            else:
                assert response.status_code < 500, response.text
                refused[(kind, response.status_code)] += 1

    def rater_client(n: int) -> None:
        # Three raters' sessions on each open evaluation: the same aggregate, at once.
        evaluation = open_evaluations[n % 8]
        for value in VALUES:
            record("perilaku", client.post(
                f"/v1/evaluations/{evaluation}/perilaku", headers=as_rater,
                json={"value": value, "rating": "di_atas_ekspektasi"}), 1)
        record("item", client.post(f"/v1/evaluations/{evaluation}/items/v/rating",
                                   headers=as_rater, json={}), 1)

    def feedback_client(n: int) -> None:
        peer = bearer(runtime, employees[(n + 1) % 16], "peer")
        channel = bearer(runtime, f"channel:{n}", "citizen_channel")
        for k in range(5):
            record("peer", client.post("/v1/feedback", headers=peer, json={
                "employee_id": employees[n % 16], "period": PERIOD, "source": "peer",
                "score": 1 + k}), 1)
        # Overlapping channel references between clients: each item is recorded once.
        items = [{"employee_id": employees[(n + k) % 16], "period": PERIOD,
                  "giver_ref": f"w{k}", "score": 3, "channel": "JAKI",
                  "external_ref": f"JAKI-{(n // 2) * 20 + k}"} for k in range(20)]
        # Items already recorded are skipped: counted from the log below, not here.
        record("batch", client.post("/v1/feedback/citizen/batch", headers=channel,
                                    json={"items": items}), 0)
        # Single items (the path that is awaited on the event loop), each sent by two
        # clients at once: recorded once, both answered with success.
        for k in range(5):
            record("single", client.post("/v1/feedback/citizen", headers=channel, json={
                "employee_id": employees[(n + k) % 16], "period": PERIOD,
                "giver_ref": f"s{k}", "score": 4, "channel": "Qlue",
                "external_ref": f"Qlue-{(n // 2) * 5 + k}"}), 0)

    def appeal_client(n: int) -> None:
        # Two clients per evaluation; for two evaluations they retry with one key.
        pair = n % 4
        employee = bearer(runtime, employees[8 + pair], "employee")
        headers = {**employee, "Idempotency-Key": f"appeal-{pair}"} if pair < 2 else employee
        record("appeal", client.post(f"/v1/evaluations/{delivered[pair]}/appeal",
                                     headers=headers,
                                     json={"grounds": "Target tidak realistis"}), 1)

    roles = [rater_client] * 16 + [feedback_client] * 8 + [appeal_client] * 8
    with httpx.Client(base_url=url, timeout=60,
                      limits=httpx.Limits(max_connections=CLIENTS)) as client:
        def run(n: int) -> None:
            barrier.wait()
            roles[n](n)
        threads = [threading.Thread(target=run, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

    end = runtime.ledger.recorder.max_notification_id()
    notes = runtime.ledger.recorder.select_notifications(start + 1, 100_000)
    topics = Counter(n.topic for n in notes)
    def count(kind: str, replayed: bool = False) -> int:
        return sum(1 for k, events, _ in accepted
                   if k == kind and (events == 0) == replayed)

    # Batches record only references nobody recorded before: 4 distinct sets of 20.
    assert count("batch", replayed=True) == 8
    # Single items: 4 distinct sets of 5, every request accepted.
    assert count("single", replayed=True) == 40
    assert topics["kinerja.feedback.given.v1"] == count("peer") + 80 + 20
    assert len(notes) == sum(events for _, events, _ in accepted) + 80 + 20
    # Every accepted write's position is in the log, and the log ends at the last one.
    positions = {n.id for n in notes}
    assert {p for _, events, p in accepted if events} <= positions
    assert max(p for _, _, p in accepted if p is not None) == end
    # One appeal per evaluation: a same-key retry replays, a second filing is refused.
    assert topics["kinerja.appeal.filed.v1"] == count("appeal") == 4
    assert count("appeal", replayed=True) == 2
    assert refused[("appeal", 409)] == 2
    # Rating races are retried on the server; any left over were answered 409.
    assert {status for (kind, status) in refused if kind != "appeal"} <= {409}
    assert topics["kinerja.evaluation.perilaku-rated.v1"] == count("perilaku")
    assert topics["kinerja.evaluation.item-rated.v1"] == count("item")

    from projections.replay import check
    assert runtime.runner.wait_for(end, 30)
    comparisons = check(runtime.ledger, runtime.reads.db)
    assert comparisons and all(c.same for c in comparisons), [
        c.name for c in comparisons if not c.same]
