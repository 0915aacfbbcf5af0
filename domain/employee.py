"""An ASN employee (PNS or PPPK) as far as appraisal needs them.

Personal data (name, NIP) sits only in `Registered`, so that it can be encrypted with
one key per person and shredded without touching any other event.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import LedgerAggregate, as_date, require_aware, require_reason, require_text
from domain.errors import EmploymentEnded, InvalidValue
from domain.personal_data import SHREDDED, PersonalDataAlreadyShredded


def _check_nip(nip: str) -> str:
    digits = nip.replace(" ", "")
    # NIP PNS is 18 digits; PPPK numbers are shorter: accept 8 to 18 digits.
    if not digits.isdigit() or not 8 <= len(digits) <= 18:
        raise InvalidValue("NIP must be 8 to 18 digits")
    return digits


class Employee(LedgerAggregate):
    TOPIC = "kinerja.employee"

    class Registered(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "kinerja.employee.registered.v1"
        #: Fields holding personal data: encrypted per person at rest.
        PERSONAL_FIELDS = ("nip", "name")

        actor: str
        at: datetime
        nip: str
        name: str
        unit: str
        position: str

    @classmethod
    def register(cls, *, employee_id: Any, nip: str, name: str, unit: str, position: str,
                 actor: str, at: datetime) -> Employee:
        return cls._create(
            cls.Registered,
            id=employee_id,
            actor=actor,
            at=require_aware(at),
            nip=_check_nip(nip),
            name=require_text(name, "name", 200),
            unit=require_text(unit, "unit", 100),
            position=require_text(position, "position", 200),
        )

    class Created(LedgerAggregate.Event, Aggregate.Created):
        """Required by the library on every aggregate with a topic; never recorded
        (employees begin with `Registered`)."""

        TOPIC = "kinerja.employee.created.v0"

    def __init__(self, actor: str, at: datetime, nip: str, name: str, unit: str,
                 position: str) -> None:
        self.nip = nip
        self.name = name
        self.unit = unit
        self.position = position
        self.registered_by = actor
        self.rater_assignments: list[tuple[date, str]] = []
        self.reviewer_assignments: list[tuple[date, str]] = []
        self.unit_history: list[tuple[date, str]] = [(as_date(at), unit)]
        self.ended_on: date | None = None

    # --- decisions -------------------------------------------------------------------

    def assign_rater(self, rater_id: str, effective_from: date, actor: str,
                     at: datetime) -> None:
        """Name the pejabat penilai kinerja in force from `effective_from`."""
        self._require_employed()
        if rater_id == str(self.id):
            raise InvalidValue("an employee cannot be their own rater")
        self._rater_assigned(actor=actor, at=require_aware(at), rater_id=rater_id,
                             effective_from=effective_from)

    def assign_reviewer(self, reviewer_id: str, effective_from: date, actor: str,
                        at: datetime) -> None:
        """Name the rater's superior, who decides this employee's appeals."""
        self._require_employed()
        if reviewer_id == str(self.id):
            raise InvalidValue("an employee cannot review their own appeal")
        self._reviewer_assigned(actor=actor, at=require_aware(at), reviewer_id=reviewer_id,
                                effective_from=effective_from)

    def transfer(self, unit: str, position: str, effective_from: date, actor: str,
                 at: datetime) -> None:
        self._require_employed()
        self._transferred(actor=actor, at=require_aware(at),
                          unit=require_text(unit, "unit", 100),
                          position=require_text(position, "position", 200),
                          effective_from=effective_from)

    def end_employment(self, effective_on: date, reason: str, actor: str,
                       at: datetime) -> None:
        self._require_employed()
        self._employment_ended(actor=actor, at=require_aware(at), effective_on=effective_on,
                               reason=require_reason(reason, "ending employment"))

    # --- queries ---------------------------------------------------------------------

    def rater_on(self, day: date) -> str | None:
        return _in_force(self.rater_assignments, day)

    def reviewer_on(self, day: date) -> str | None:
        return _in_force(self.reviewer_assignments, day)

    def unit_on(self, day: date) -> str:
        return _in_force(self.unit_history, day) or self.unit_history[0][1]

    def is_employed_on(self, day: date) -> bool:
        return self.ended_on is None or day < self.ended_on

    def _require_employed(self) -> None:
        if self.ended_on is not None:
            raise EmploymentEnded(f"employment of {self.id} ended on {self.ended_on}")

    # --- events ----------------------------------------------------------------------

    @event("RaterAssigned", topic="kinerja.employee.rater-assigned.v1")
    def _rater_assigned(self, actor: str, at: datetime, rater_id: str,
                        effective_from: date) -> None:
        _insert_sorted(self.rater_assignments, (effective_from, rater_id))

    @event("ReviewerAssigned", topic="kinerja.employee.reviewer-assigned.v1")
    def _reviewer_assigned(self, actor: str, at: datetime, reviewer_id: str,
                           effective_from: date) -> None:
        _insert_sorted(self.reviewer_assignments, (effective_from, reviewer_id))

    @event("Transferred", topic="kinerja.employee.transferred.v1")
    def _transferred(self, actor: str, at: datetime, unit: str, position: str,
                     effective_from: date) -> None:
        _insert_sorted(self.unit_history, (effective_from, unit))
        self.unit = unit
        self.position = position

    @event("EmploymentEnded", topic="kinerja.employee.employment-ended.v1")
    def _employment_ended(self, actor: str, at: datetime, effective_on: date,
                          reason: str) -> None:
        self.ended_on = effective_on

    # --- personal data (UU 27/2022): see domain/personal_data.py and docs/privacy.md ----

    #: When this person's data key was destroyed; a class default, so that aggregates
    #: rebuilt from logs without the event need nothing from __init__.
    personal_data_shredded_on: date | None = None

    def shred_personal_data(self, reason: str, actor: str, at: datetime) -> None:
        """Record that this person's data key is being destroyed (crypto-shredding).
        Recorded before the key goes, so that no key is ever destroyed unaudited."""
        if self.personal_data_shredded_on is not None:
            raise PersonalDataAlreadyShredded(
                f"the personal data of {self.id} was shredded on "
                f"{self.personal_data_shredded_on}")
        self._personal_data_shredded(actor=actor, at=require_aware(at),
                                     reason=require_reason(reason, "shredding personal data"))

    @event("PersonalDataShredded", topic="kinerja.employee.personal-data-shredded.v1")
    def _personal_data_shredded(self, actor: str, at: datetime, reason: str) -> None:
        # Also clears what an aggregate already in memory (or in a cache) still holds.
        self.nip = SHREDDED
        self.name = SHREDDED
        self.personal_data_shredded_on = as_date(at)


def _insert_sorted(assignments: list[tuple[date, str]], entry: tuple[date, str]) -> None:
    # A later assignment with the same date wins: it is placed after the earlier one.
    position = len(assignments)
    while position > 0 and assignments[position - 1][0] > entry[0]:
        position -= 1
    assignments.insert(position, entry)


def _in_force(assignments: list[tuple[date, str]], day: date) -> str | None:
    current = None
    for effective_from, who in assignments:
        if effective_from <= day:
            current = who
    return current
