"""What every aggregate of the ledger shares.

Each event records who acted (`actor`) and when the business fact happened (`at`); the
library's own `timestamp` is when it was recorded. The recording clock can be fixed by the
application (the demo fixes it, so that one seed gives the same log byte for byte).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import date, datetime
from enum import Enum
from hashlib import sha1
from typing import TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, datetime_now_with_tzinfo

from domain.errors import InvalidValue, ReasonRequired

E = TypeVar("E", bound=Enum)

_recording_clock: ContextVar[Callable[[], datetime] | None] = ContextVar(
    "kinerja_recording_clock", default=None
)

#: Namespace of every id the ledger derives from business keys (uuid5).
LEDGER_NAMESPACE = uuid5(NAMESPACE_URL, "https://kinerja-ledger.id/ns")


class recording_clock:  # noqa: N801 - used as the context manager it replaced
    """Within this block, new events take their `timestamp` from `clock`.

    A class rather than a generator-based context manager: every command enters one."""

    __slots__ = ("_clock", "_token")

    def __init__(self, clock: Callable[[], datetime] | None) -> None:
        self._clock = clock

    def __enter__(self) -> None:
        self._token = _recording_clock.set(self._clock)

    def __exit__(self, *exc_info: object) -> None:
        _recording_clock.reset(self._token)


class RecordedByClock:
    """Mixin for event classes: the recording time comes from the active clock."""

    @staticmethod
    def create_timestamp() -> datetime:
        clock = _recording_clock.get()
        return clock() if clock is not None else datetime_now_with_tzinfo()


class LedgerAggregate(Aggregate):
    """Base of the ledger's aggregates (no topic of its own: it is never stored)."""

    class Event(RecordedByClock, Aggregate.Event):
        pass


_NAMESPACE_BYTES = LEDGER_NAMESPACE.bytes


def derived_id(kind: str, *key: object) -> UUID:
    """A stable id from a business key, so the same fact always names the same stream.

    It is `uuid5(LEDGER_NAMESPACE, "kind/key/...")`, computed as `uuid.uuid5` computes it;
    `uuid5` itself imports `hashlib` and converts the namespace on every call, which was
    half of naming a bulk-ingested item."""
    name = "/".join([kind, *(str(k) for k in key)])
    digest = sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest()
    return UUID(bytes=digest[:16], version=5)


def require_reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ReasonRequired(f"{what} needs a written reason")
    if len(text) > 4000:
        raise InvalidValue("a reason must be at most 4000 characters")
    return text


def require_text(value: str | None, what: str, max_length: int = 500) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidValue(f"{what} must not be empty")
    if len(text) > max_length:
        raise InvalidValue(f"{what} must be at most {max_length} characters")
    return text


def require_aware(at: datetime, what: str = "time") -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidValue(f"{what} must carry a time zone")
    return at


def as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def require_member(kind: type[E], value: object, what: str) -> E:
    """`value` as a member of the enumeration `kind`, or InvalidValue naming the choices."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in kind)
        raise InvalidValue(f"{what} must be one of {choices}; got {value!r}") from None
