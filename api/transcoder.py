"""The library's JSON transcoder, with its encoder built once.

`json.JSONEncoder.encode` builds a new C encoder for every call; mapping a citizen
feedback item spent a fifth of its time there. This one builds it once, with the very
settings the library's encoder has, so an event is stored as the same bytes (tested
against the library's transcoder on generated values). It skips the encoder's circular
reference check: an event's state is a tree, and a shared C encoder must not keep
per-call marks between callers. It also remembers the last datetime it encoded (an
event's `timestamp` and `at` are most often one object, shared by a whole batch).
"""

from __future__ import annotations

from datetime import datetime
from json.encoder import c_make_encoder, encode_basestring
from typing import Any

from eventsourcing.persistence import JSONTranscoder


class LedgerTranscoder(JSONTranscoder):
    def __init__(self) -> None:
        super().__init__()
        self._last_datetime: tuple[datetime, Any] | None = None
        settings = self.encoder
        if settings.ensure_ascii or settings.indent is not None or c_make_encoder is None:
            self._encode_tree = None  # not the library's settings any more: its own way
        else:
            self._encode_tree = c_make_encoder(
                None, self._encode_value, encode_basestring, None, settings.key_separator,
                settings.item_separator, settings.sort_keys, settings.skipkeys,
                settings.allow_nan)

    def _encode_value(self, value: Any) -> Any:
        """The library's encoding of a value JSON has no type for, remembering the last
        datetime's: an event's `timestamp` and `at` are most often one object, and a
        batch's items share it."""
        last = self._last_datetime
        if last is not None and last[0] is value:
            return last[1]
        encoded = self._encode_obj(value)
        if type(value) is datetime:
            self._last_datetime = (value, encoded)
        return encoded

    def encode(self, obj: Any) -> bytes:
        if self._encode_tree is None or isinstance(obj, str):
            return super().encode(obj)
        return "".join(self._encode_tree(obj, 0)).encode("utf8")
