"""A small appraisal world for tests: HR, a unit head (reviewer), a rater, employees,
a rubric, a cycle with an open period, and evaluations ready to plan or rate.

Time is a fixed clock that ticks one second per read, so runs are repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from api.service import AppraisalLedger
from domain.values import Aspect, BerakhlakValue, Direction, ItemKind, Periodicity, Rating

HR = "hr:siti"
UNIT = "Sudinhub Jakarta Pusat"
YEAR = 2026
PERIOD = "2026-01"


class TickingClock:
    def __init__(self, start: datetime = datetime(2026, 1, 2, 8, 0, tzinfo=timezone.utc)):
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class World:
    app: AppraisalLedger
    clock: TickingClock
    head: str = ""
    rater: str = ""
    employees: list[str] = field(default_factory=list)
    rubric_id: str = ""
    cycle_id: str = ""

    @property
    def employee(self) -> str:
        return self.employees[0]

    def evaluation_id(self, employee: str | None = None, period: str = PERIOD) -> str:
        from domain.evaluation import Evaluation
        return str(Evaluation.id_for(employee or self.employee, period))


def build_world(app: AppraisalLedger, clock: TickingClock, *, employees: int = 1,
                policy: dict[str, Any] | None = None) -> World:
    world = World(app=app, clock=clock)
    register = app.register_employee
    world.head = register(nip="197001012000031001", name="Kepala Suku Dinas", unit=UNIT,
                          position="Kepala Sudinhub", actor=HR).ids["employee_id"]
    world.rater = register(nip="198001012005031001", name="Rina Penilai", unit=UNIT,
                           position="Kepala Satpel", actor=HR).ids["employee_id"]
    for n in range(employees):
        employee = register(nip=f"1990010120150310{n:02d}", name=f"Petugas {n}", unit=UNIT,
                            position="Petugas Lapangan", actor=HR).ids["employee_id"]
        app.assign_rater(employee, rater_id=world.rater, effective_from=date(YEAR, 1, 1),
                         actor=HR)
        app.assign_reviewer(employee, reviewer_id=world.head,
                            effective_from=date(YEAR, 1, 1), actor=HR)
        world.employees.append(employee)
    world.rubric_id = app.establish_rubric(code="dishub-lapangan", title="Petugas lapangan",
                                           actor=HR).ids["rubric_id"]
    app.publish_rubric_version(world.rubric_id, version=1, effective_from=date(YEAR, 1, 1),
                               policy=policy or {}, indicators=[], summary="first version",
                               actor=HR)
    world.cycle_id = app.start_cycle(unit=UNIT, year=YEAR, periodicity=Periodicity.MONTHLY,
                                     rubric_id=world.rubric_id, actor=HR).ids["cycle_id"]
    app.open_period(world.cycle_id, period=PERIOD, actor=HR)
    app.start_evaluations(world.cycle_id, period=PERIOD, employee_ids=world.employees,
                          actor=HR)
    return world


def plan_standard_items(world: World, evaluation_id: str) -> None:
    """Two RHK rows: violations at the assigned intersections (lower is better, utama)
    and on-time patrol coverage (higher is better, tambahan)."""
    world.app.plan_item(evaluation_id, item_id="violations", kind=ItemKind.UTAMA,
                        aspect=Aspect.KUANTITAS, indicator="Pelanggaran di persimpangan",
                        target=Decimal(40), direction=Direction.LOWER_IS_BETTER,
                        unit_of_measure="kasus", actor=world.rater)
    world.app.plan_item(evaluation_id, item_id="patrol", kind=ItemKind.TAMBAHAN,
                        aspect=Aspect.WAKTU, indicator="Patroli tepat waktu",
                        target=Decimal(100), direction=Direction.HIGHER_IS_BETTER,
                        unit_of_measure="%", actor=world.rater)


def rate_fully(world: World, evaluation_id: str, employee: str, *,
               violations: str = "30", patrol: str = "95",
               perilaku: Rating = Rating.SESUAI) -> None:
    """Plan, fix, realise, rate and rate perilaku, ready for delivery."""
    plan_standard_items(world, evaluation_id)
    app = world.app
    app.fix_targets(evaluation_id, actor=world.rater)
    app.record_realisation(evaluation_id, item_id="violations", value=Decimal(violations),
                           evidence=["https://e-kinerja.example/bukti/1"], actor=employee)
    app.record_realisation(evaluation_id, item_id="patrol", value=Decimal(patrol),
                           evidence=["https://e-kinerja.example/bukti/2"], actor=employee)
    app.rate_item(evaluation_id, item_id="violations", actor=world.rater)
    app.rate_item(evaluation_id, item_id="patrol", actor=world.rater)
    for value in BerakhlakValue:
        app.rate_perilaku(evaluation_id, value=value, rating=perilaku, actor=world.rater)
