"""The library's JSON transcoder, with its encoder built once.

`json.JSONEncoder.encode` builds a new C encoder for every call; mapping a citizen
feedback item spent a fifth of its time there. This one builds it once, with the very
settings the library's encoder has, so an event is stored as the same bytes (tested
against the library's transcoder on generated values). It skips the encoder's circular
reference check: an event's state is a tree, and a shared C encoder must not keep
per-call marks between callers.
"""

from __future__ import annotations

from json.encoder import c_make_encoder, encode_basestring
from typing import Any

from eventsourcing.persistence import JSONTranscoder


class LedgerTranscoder(JSONTranscoder):
    def __init__(self) -> None:
        super().__init__()
        settings = self.encoder
        if settings.ensure_ascii or settings.indent is not None or c_make_encoder is None:
            self._encode_tree = None  # not the library's settings any more: its own way
        else:
            self._encode_tree = c_make_encoder(
                None, settings.default, encode_basestring, None, settings.key_separator,
                settings.item_separator, settings.sort_keys, settings.skipkeys,
                settings.allow_nan)

    def encode(self, obj: Any) -> bytes:
        if self._encode_tree is None or isinstance(obj, str):
            return super().encode(obj)
        return "".join(self._encode_tree(obj, 0)).encode("utf8")
