"""Notifications from the log, decoded into plain dicts the projections can use.

The projections need JSON-ready values, not domain objects: ids as dashed UUID strings,
decimals as their exact string, dates and times ISO-8601. The library's mapper gives
objects that are then turned into those strings (`plain`). On a rebuild that round trip
costs more than the rest of the projection, so when the stored state is the library's
plain JSON (no cipher, no compressor, only the transcodings known here), the state is
decoded straight to the same strings. Both paths give identical dicts; a test holds
them to that on every event the service records.

Personal fields (domain/personal_data.py) are not opened for the read models: a present
one reads as `PERSONAL`, an absent one as None. Read models so never hold personal text
(a shredded person leaves nothing behind in them); the query layer opens the text from
the event itself when it answers (`EventDecoder(app, open_personal=True)`), and reads
`[dihapus]` once the person's key is gone. As a guard against a mapper that does more
than seal personal fields, the first events of each topic are decoded both ways, and any
difference turns the fast path off.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, Mapper
from eventsourcing.utils import resolve_topic

from domain.personal_data import REGISTRY as PERSONAL_FIELDS

# Imported for their side effect: each event class registers its explicit TOPIC.
import domain.appeal  # noqa: F401
import domain.cycle  # noqa: F401
import domain.employee  # noqa: F401
import domain.evaluation  # noqa: F401
import domain.feedback  # noqa: F401
import domain.rubric  # noqa: F401

log = logging.getLogger(__name__)

#: Events of a topic decoded both ways before the fast path is trusted for a mapper
#: that is not the library's own.
VERIFY_PER_TOPIC = 2
#: Transcodings whose stored `_data_` the fast path knows how to read.
_KNOWN_TRANSCODINGS = frozenset({"uuid_hex", "decimal_str", "datetime_iso", "date_iso"})
#: What a present personal field reads as in the read models (opened at query time).
PERSONAL = "[personal]"
#: Library bookkeeping that is not part of an event's payload.
_BOOKKEEPING = ("originator_id", "originator_version")


class LogEvent:
    """One notification, decoded. `data` holds every field of the event (including
    `timestamp`, the recording time) as JSON-ready values."""

    __slots__ = ("position", "topic", "originator_id", "originator_version", "data",
                 "recorded_at")

    def __init__(self, position: int, topic: str, originator_id: str,
                 originator_version: int, data: dict[str, Any]) -> None:
        self.position = position
        self.topic = topic
        self.originator_id = originator_id
        self.originator_version = originator_version
        self.data = data
        self.recorded_at = utc_text(data.get("timestamp"))

    def __repr__(self) -> str:
        return f"LogEvent({self.position}, {self.topic!r}, {self.originator_id})"


def utc_text(value: Any) -> str:
    """A recording time as sortable text: UTC, microseconds, fixed width."""
    if value is None:
        return ""
    if isinstance(value, str) and value.endswith("+00:00"):
        # Already UTC (the usual case): only the fraction may need writing out.
        if len(value) == 32:
            return value
        if len(value) == 25:
            return value[:19] + ".000000+00:00"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def plain(value: Any) -> Any:
    """A decoded domain value as JSON-ready data (what the fast path produces)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, str):
        return value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    raise TypeError(f"cannot make {type(value).__name__} JSON-ready")


class _UnknownTranscoding(Exception):
    pass


def _object_hook(obj: dict[str, Any], _uuid: type[UUID] = UUID) -> Any:
    kind = obj.get("_type_")
    if kind is None or len(obj) != 2 or "_data_" not in obj:
        return obj
    data = obj["_data_"]
    if kind == "uuid_hex":
        return str(_uuid(data))
    if kind in _KNOWN_TRANSCODINGS:
        # decimal_str, datetime_iso and date_iso store exactly str()/isoformat().
        return data
    raise _UnknownTranscoding(kind)


_json_decoder = json.JSONDecoder(object_hook=_object_hook)


class EventDecoder:
    """Decodes notifications of one application, fast where the storage format allows.
    With `open_personal`, personal fields are opened (by the mapper) instead of being
    read as `PERSONAL`."""

    def __init__(self, app: Any, *, fast: bool | None = None,
                 open_personal: bool = False) -> None:
        self.mapper = app.mapper
        self.fast = self.fast_path_possible(self.mapper) if fast is None else fast
        self.open_personal = open_personal
        #: The library's own mapper needs no checking; a subclass is verified per topic.
        self._verified: dict[str, int] | None = (
            None if type(self.mapper) is Mapper else {})
        self._topics: dict[str, tuple[int, tuple[str, ...], bool]] = {}

    @staticmethod
    def fast_path_possible(mapper: Any) -> bool:
        transcoder = getattr(mapper, "transcoder", None)
        # The library's JSON transcoder, or a subclass that decodes as it does (the
        # ledger's encodes faster, to the same bytes).
        decodes_as_library = (isinstance(transcoder, JSONTranscoder)
                              and type(transcoder).decode is JSONTranscoder.decode
                              and type(transcoder)._decode_obj is JSONTranscoder._decode_obj)
        return (isinstance(mapper, Mapper) and mapper.cipher is None
                and mapper.compressor is None and decodes_as_library
                and set(transcoder.names) <= _KNOWN_TRANSCODINGS)

    def decode(self, notifications: Iterable[Any]) -> list[LogEvent]:
        if not self.fast:
            return [self._slow(n) for n in notifications]
        return [self._fast(n) or self._slow(n) for n in notifications]

    def decode_one(self, notification: Any) -> LogEvent:
        return self.decode([notification])[0]

    def _topic(self, topic: str) -> tuple[int, tuple[str, ...], bool]:
        """(class version, personal fields, still to be verified) of a topic."""
        version = getattr(resolve_topic(topic), "class_version", 1)
        personal = PERSONAL_FIELDS.get(topic)
        info = (version, personal.fields if personal else (), self._verified is not None)
        self._topics[topic] = info
        return info

    def _fast(self, notification: Any) -> LogEvent | None:
        """The event decoded straight from its JSON; None if the mapper must decode it."""
        state = notification.state
        try:
            data = _json_decoder.decode(
                state.decode("utf-8") if type(state) is bytes else
                bytes(state).decode("utf-8") if isinstance(state, (bytearray, memoryview))
                else state)
        except (_UnknownTranscoding, ValueError):
            return None
        topic = notification.topic
        info = self._topics.get(topic) or self._topic(topic)
        if data.pop("class_version", 1) < info[0]:
            # Upcasters are written against decoded objects: let the mapper run them.
            return None
        for field in info[1]:
            if data.get(field) is not None:
                if self.open_personal:
                    return None
                data[field] = PERSONAL
        event = LogEvent(notification.id, topic, str(notification.originator_id),
                         notification.originator_version, data)
        if info[2]:
            return self._verify(notification, event)
        return event

    def _verify(self, notification: Any, event: LogEvent) -> LogEvent:
        assert self._verified is not None
        topic = event.topic
        expected = self._slow(notification)
        if expected.data != event.data:
            log.warning("the mapper changes %s beyond personal fields: decoding every "
                        "event through it from now on", topic)
            self.fast = False
            return expected
        self._verified[topic] = self._verified.get(topic, 0) + 1
        if self._verified[topic] >= VERIFY_PER_TOPIC:
            version, personal, _ = self._topics[topic]
            self._topics[topic] = (version, personal, False)
        return event

    def _slow(self, notification: Any) -> LogEvent:
        event = self.mapper.to_domain_event(notification)
        data = {k: plain(v) for k, v in vars(event).items() if k not in _BOOKKEEPING}
        if not self.open_personal:
            personal = PERSONAL_FIELDS.get(notification.topic)
            for field in personal.fields if personal else ():
                if data.get(field) is not None:
                    data[field] = PERSONAL
        return LogEvent(notification.id, notification.topic, str(notification.originator_id),
                        notification.originator_version, data)

