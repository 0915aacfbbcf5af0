"""Given / when / then for the ledger: run one command, then assert exactly the events it
appended to the log, or the typed error it raised and that the log did not move.

    new = when(app, lambda: app.fix_targets(eid, actor=rater))
    assert topics(new) == ["kinerja.evaluation.targets-fixed.v1"]

    refused(app, CycleLocked, lambda: app.rate_item(eid, item_id="x", actor=rater))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from domain.errors import DomainError

#: Library bookkeeping every event carries; the specs compare the business fields.
_BOOKKEEPING = {"originator_id", "originator_version", "timestamp", "originator_topic"}


@dataclass(frozen=True)
class New:
    """One event appended by the command under test, as it was stored and read back."""

    topic: str
    originator_id: Any
    originator_version: int
    event: Any
    #: The notification id: the event's position in the log.
    position: int = 0

    @property
    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self.event).items() if k not in _BOOKKEEPING}

    def __getitem__(self, name: str) -> Any:
        return vars(self.event)[name]


def log_position(app: Any) -> int:
    return app.recorder.max_notification_id() or 0


def events_after(app: Any, position: int) -> list[New]:
    """Every event after `position`, decoded through the application's mapper."""
    notifications = app.recorder.select_notifications(position + 1, limit=100_000)
    return [New(n.topic, n.originator_id, n.originator_version,
                app.mapper.to_domain_event(n), n.id) for n in notifications]


def all_events(app: Any) -> list[New]:
    return events_after(app, 0)


def when(app: Any, command: Callable[[], Any]) -> list[New]:
    """Run one command and return exactly the events it appended."""
    before = log_position(app)
    command()
    return events_after(app, before)


def refused(app: Any, error: type[DomainError], command: Callable[[], Any]) -> DomainError:
    """The command raises `error` (a typed domain error) and the log is unchanged."""
    before = log_position(app)
    with pytest.raises(error) as raised:
        command()
    assert isinstance(raised.value, DomainError)
    assert log_position(app) == before, "a refused command recorded something"
    assert events_after(app, before) == []
    return raised.value


def topics(new: list[New]) -> list[str]:
    return [n.topic for n in new]


def only(new: list[New], topic: str | None = None) -> New:
    """The single event of a command (checking its topic when given)."""
    assert len(new) == 1, f"expected one event, got {topics(new)}"
    if topic is not None:
        assert new[0].topic == topic
    return new[0]


@contextmanager
def race(app: Any, *, after_loading: Callable[[Any], bool],
         competitor: Callable[[], Any]) -> Iterator[list[Any]]:
    """Make the next command lose a race deterministically, on any store.

    When the command under test has loaded an aggregate for which `after_loading`
    returns true, `competitor` (another command) runs to completion before the command
    goes on with its stale copy. The competitor runs once; what it returned is yielded.
    """
    original = app.repository.get
    ran: list[Any] = []
    busy = [False]

    def get(aggregate_id: Any, *args: Any, **kwargs: Any) -> Any:
        aggregate = original(aggregate_id, *args, **kwargs)
        if not ran and not busy[0] and after_loading(aggregate):
            busy[0] = True
            try:
                ran.append(competitor())
            finally:
                busy[0] = False
        return aggregate

    app.repository.get = get
    try:
        yield ran
    finally:
        app.repository.get = original
    assert ran, "the competing command never ran"
