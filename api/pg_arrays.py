"""One-dimensional PostgreSQL arrays, encoded for the server in one pass.

psycopg dumps a Python list as an array element by element, in Python, looking up a
dumper for each element's type as it goes: for the insert call's four arrays that was a
fifth to a third of the client's CPU for a batch of 15 events (measured in alternating
runs, 2026-11-29). The elements of the insert's arrays are of known types, so they are
laid out here directly in the server's binary array format (`array_send`): a header
naming the element type, the length, then each element as its length and its bytes. The
values wrap the encoded bytes in types of their own, whose dumpers hand them to the
server unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from uuid import UUID

import psycopg
from psycopg import adapt, postgres, pq

_HEADER = struct.Struct("!iiiii")  # dimensions, has nulls, element oid, length, lower bound
_EMPTY = struct.Struct("!iii")  # no dimensions: the empty array
_LENGTH = struct.Struct("!i")
_BIGINT = struct.Struct("!iq")  # an element's length (8) and the element
_UUID_LENGTH = _LENGTH.pack(16)


def _dumper_of(array: type[EncodedArray]) -> type[adapt.Dumper]:
    class EncodedArrayDumper(adapt.Dumper):
        format = pq.Format.BINARY
        oid = array.OID

        def dump(self, obj: EncodedArray) -> bytes:
            return obj
    return EncodedArrayDumper


class EncodedArray(bytes):
    """An array already in PostgreSQL's binary format. A subclass names its element type
    (`element="uuid"`) and is dumped as an array of it, unchanged."""

    OID = 0
    ELEMENT_OID = 0

    def __init_subclass__(cls, *, element: str, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        info = postgres.types[element]
        cls.OID, cls.ELEMENT_OID = info.array_oid, info.oid
        # Registered for every connection: only values of this type are dumped this way.
        psycopg.adapters.register_dumper(cls, _dumper_of(cls))

    @classmethod
    def of(cls, elements: list[bytes]) -> EncodedArray:
        """The array of `elements`, each already laid out as its length and bytes."""
        if not elements:
            return cls(_EMPTY.pack(0, 0, cls.ELEMENT_OID))
        return cls(_HEADER.pack(1, 0, cls.ELEMENT_OID, len(elements), 1)
                   + b"".join(elements))


class UuidArray(EncodedArray, element="uuid"):
    @classmethod
    def from_values(cls, values: Iterable[UUID]) -> EncodedArray:
        return cls.of([_UUID_LENGTH + value.bytes for value in values])


class BigintArray(EncodedArray, element="int8"):
    @classmethod
    def from_values(cls, values: Iterable[int]) -> EncodedArray:
        pack = _BIGINT.pack
        return cls.of([pack(8, value) for value in values])


class TextArray(EncodedArray, element="text"):
    @classmethod
    def from_values(cls, values: Iterable[str]) -> EncodedArray:
        # ASCII: the values are event topics (module paths and class names), and ASCII
        # reads the same in every server encoding PostgreSQL has. Anything else is
        # refused here rather than sent in an encoding the connection may not use.
        return cls.of(_with_lengths([value.encode("ascii") for value in values]))


class ByteaArray(EncodedArray, element="bytea"):
    @classmethod
    def from_values(cls, values: Iterable[bytes]) -> EncodedArray:
        return cls.of(_with_lengths(values))


def _with_lengths(values: Iterable[bytes]) -> list[bytes]:
    pack = _LENGTH.pack
    return [pack(len(value)) + value for value in values]
