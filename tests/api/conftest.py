"""HTTP fixtures: the real app (`create_app`) on a real store, driven through TestClient.

`http_world` builds, through the API itself, what tests/scenario.py builds through the
service: HR, a unit head (reviewer), a rater, employees, a published rubric, a cycle with
period 2026-01 open and the evaluations started.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from api.app import create_app
from api.settings import Settings
from tests.scenario import HR, PERIOD, UNIT, YEAR, TickingClock

warnings.filterwarnings("ignore", message=".*httpx2.*")

from fastapi.testclient import TestClient  # noqa: E402

ALL_ROLES = ("admin", "rater", "employee", "peer", "citizen_channel", "inspector",
             "appeal_panel")


@dataclass
class Api:
    client: TestClient
    runtime: Any
    clock: TickingClock

    def auth(self, actor: str, *roles: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.runtime.tokens.issue(actor, list(roles))}

    def post(self, path: str, body: Any = None, *, as_: dict[str, str],
             key: str | None = None, expect: int | None = None) -> Any:
        headers = dict(as_)
        if key is not None:
            headers["Idempotency-Key"] = key
        response = self.client.post(path, json=body, headers=headers)
        if expect is not None:
            assert response.status_code == expect, (path, response.status_code,
                                                    response.text)
        return response

    def get(self, path: str, *, as_: dict[str, str], expect: int | None = None,
            **params: Any) -> Any:
        response = self.client.get(path, headers=as_, params=params)
        if expect is not None:
            assert response.status_code == expect, (path, response.status_code,
                                                    response.text)
        return response

    def log_position(self) -> int:
        return self.runtime.ledger.recorder.max_notification_id() or 0

    def topics_after(self, position: int) -> list[str]:
        notes = self.runtime.ledger.recorder.select_notifications(position + 1, 10_000)
        return [n.topic for n in notes]


@dataclass
class HttpWorld:
    api: Api
    head: str = ""
    rater: str = ""
    employees: list[str] = field(default_factory=list)
    rubric_id: str = ""
    cycle_id: str = ""
    evaluation_ids: list[str] = field(default_factory=list)

    @property
    def employee(self) -> str:
        return self.employees[0]

    @property
    def evaluation_id(self) -> str:
        return self.evaluation_ids[0]

    @property
    def hr(self) -> dict[str, str]:
        return self.api.auth(HR, "admin")

    @property
    def as_rater(self) -> dict[str, str]:
        return self.api.auth(self.rater, "rater", "employee")

    @property
    def as_head(self) -> dict[str, str]:
        return self.api.auth(self.head, "rater", "appeal_panel", "employee")

    def as_employee(self, n: int = 0) -> dict[str, str]:
        return self.api.auth(self.employees[n], "employee")


def build_http_world(api: Api, *, employees: int = 1) -> HttpWorld:
    world = HttpWorld(api=api)
    hr = world.hr

    def register(nip: str, name: str, position: str) -> str:
        return api.post("/v1/employees", {"nip": nip, "name": name, "unit": UNIT,
                                          "position": position},
                        as_=hr, expect=201).json()["employee_id"]

    world.head = register("197001012000031001", "Kepala Suku Dinas", "Kepala Sudinhub")
    world.rater = register("198001012005031001", "Rina Penilai", "Kepala Satpel")
    for n in range(employees):
        employee = register(f"1990010120150310{n:02d}", f"Petugas {n}", "Petugas Lapangan")
        api.post(f"/v1/employees/{employee}/rater",
                 {"rater_id": world.rater, "effective_from": f"{YEAR}-01-01"},
                 as_=hr, expect=200)
        api.post(f"/v1/employees/{employee}/reviewer",
                 {"reviewer_id": world.head, "effective_from": f"{YEAR}-01-01"},
                 as_=hr, expect=200)
        world.employees.append(employee)
    world.rubric_id = api.post("/v1/rubrics", {"code": "dishub-lapangan",
                                               "title": "Petugas lapangan"},
                               as_=hr, expect=201).json()["rubric_id"]
    api.post(f"/v1/rubrics/{world.rubric_id}/versions",
             {"version": 1, "effective_from": f"{YEAR}-01-01", "summary": "first version"},
             as_=hr, expect=201)
    world.cycle_id = api.post("/v1/cycles", {"unit": UNIT, "year": YEAR,
                                             "periodicity": "monthly",
                                             "rubric_id": world.rubric_id},
                              as_=hr, expect=201).json()["cycle_id"]
    api.post(f"/v1/cycles/{world.cycle_id}/periods", {"period": PERIOD}, as_=hr, expect=200)
    world.evaluation_ids = api.post(
        f"/v1/cycles/{world.cycle_id}/evaluations",
        {"period": PERIOD, "employee_ids": world.employees},
        as_=hr, expect=201).json()["evaluation_ids"]
    return world


def plan_and_rate(world: HttpWorld, n: int = 0, *, violations: str = "30",
                  patrol: str = "95", perilaku: str = "sesuai_ekspektasi") -> None:
    """Plan two RHK rows, fix, realise (as the employee), rate items and perilaku."""
    api, evaluation = world.api, world.evaluation_ids[n]
    rater = world.as_rater
    base = f"/v1/evaluations/{evaluation}"
    api.post(f"{base}/items", {"item_id": "violations", "kind": "utama",
                               "aspect": "kuantitas",
                               "indicator": "Pelanggaran di persimpangan", "target": "40",
                               "direction": "lower_is_better", "unit_of_measure": "kasus"},
             as_=rater, expect=201)
    api.post(f"{base}/items", {"item_id": "patrol", "kind": "tambahan", "aspect": "waktu",
                               "indicator": "Patroli tepat waktu", "target": 100,
                               "direction": "higher_is_better", "unit_of_measure": "%"},
             as_=rater, expect=201)
    api.post(f"{base}/fix-targets", as_=rater, expect=200)
    employee = world.as_employee(n)
    for item, value in (("violations", violations), ("patrol", patrol)):
        api.post(f"{base}/items/{item}/realisations",
                 {"value": value, "evidence": [f"https://e-kinerja.example/bukti/{item}"]},
                 as_=employee, expect=201)
        api.post(f"{base}/items/{item}/rating", {}, as_=rater, expect=200)
    for value in ("berorientasi_pelayanan", "akuntabel", "kompeten", "harmonis", "loyal",
                  "adaptif", "kolaboratif"):
        api.post(f"{base}/perilaku", {"value": value, "rating": perilaku}, as_=rater,
                 expect=200)


def open_api(settings: Settings, clock: TickingClock | None = None) -> Iterator[Api]:
    clock = clock or TickingClock()
    app = create_app(settings, clock=clock, read_wait_seconds=5.0)
    with TestClient(app) as client:
        yield Api(client=client, runtime=app.state.kinerja, clock=clock)


@pytest.fixture
def api(sql_settings: Settings, clock: TickingClock) -> Iterator[Api]:
    yield from open_api(sql_settings, clock)


@pytest.fixture
def http_world(api: Api) -> HttpWorld:
    return build_http_world(api)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def shared_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Api]:
    """One app per store for a whole module, for tests that only read or are refused
    (building an app and its tables is the slow part of these tests)."""
    import uuid

    import psycopg
    from psycopg import sql

    from tests.conftest import POSTGRES_URL, _conninfo, require_postgres
    tmp = tmp_path_factory.mktemp("shared")
    if request.param == "sqlite":
        settings = Settings(database_url=f"sqlite:///{tmp / 'ledger.sqlite3'}",
                            data_dir=tmp / "data")
        yield from open_api(settings)
        return
    require_postgres()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    settings = Settings(database_url=POSTGRES_URL, postgres_schema=schema,
                        data_dir=tmp / "data", postgres_pool_size=4)
    try:
        yield from open_api(settings)
    finally:
        with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))
