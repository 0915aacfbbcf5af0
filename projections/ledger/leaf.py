"""The leaf data of the Merkle log: one canonical byte string per stored event.

Version 1 (all integers unsigned big-endian)::

    leaf_data = "kinerja-leaf" 0x00 "v1"        15 bytes: domain separation and version
             || originator_id                   16 bytes: the aggregate's UUID, RFC 9562 order
             || originator_version               8 bytes
             || len(topic)                      4 bytes
             || topic                           UTF-8, as stored
             || len(state)                      4 bytes
             || state                           the stored state bytes, exactly as stored

The state is taken as stored (compressed or encrypted bytes included), so a record whose
personal fields were encrypted stays verifiable after its key has been destroyed. Fixed
widths and length prefixes make the encoding injective: two different records never share
leaf data, and `decode_leaf` accepts exactly the strings `encode_leaf` produces.
The log position (notification id) is deliberately not part of the leaf: the leaf *index*
fixes the order, and positions may differ between copies of a store.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from domain.merkle import leaf_hash

__all__ = ["LEAF_PREFIX", "LeafEncodingError", "LeafRecord", "decode_leaf", "encode_leaf",
           "leaf_hash_of", "raw_leaf_hasher"]

# The NUL ends the name so that no later name can be a prefix-extension of it; "v1" is
# bumped (never reused) if the layout below ever changes.
LEAF_PREFIX = b"kinerja-leaf\x00v1"
_HEAD = struct.Struct(">16sQI")  # originator id, originator version, topic length
_LENGTH = struct.Struct(">I")
_MAX_U32 = 2**32 - 1
_MAX_U64 = 2**64 - 1


class LeafEncodingError(ValueError):
    """A record that has no leaf encoding, or bytes that are not version-1 leaf data."""


@dataclass(frozen=True)
class LeafRecord:
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


def encode_leaf(originator_id: UUID, originator_version: int, topic: str,
                state: bytes) -> bytes:
    """The version-1 leaf data of one stored event."""
    if not isinstance(originator_id, UUID):
        raise LeafEncodingError(f"originator id {originator_id!r} is not a UUID")
    if not 0 <= originator_version <= _MAX_U64:
        raise LeafEncodingError(f"originator version {originator_version} is not a u64")
    topic_bytes = topic.encode("utf-8")
    if len(topic_bytes) > _MAX_U32 or len(state) > _MAX_U32:
        raise LeafEncodingError("topic or state longer than 2**32 - 1 bytes")
    return b"".join((
        LEAF_PREFIX,
        _HEAD.pack(originator_id.bytes, originator_version, len(topic_bytes)),
        topic_bytes,
        _LENGTH.pack(len(state)),
        bytes(state),
    ))


def leaf_hash_of(originator_id: UUID, originator_version: int, topic: str,
                 state: bytes) -> bytes:
    return leaf_hash(encode_leaf(originator_id, originator_version, topic, state))


# RFC 9162 leaf prefix 0x00 then our own prefix: what SHA-256 sees first for every leaf.
_HASHED_PREFIX = b"\x00" + LEAF_PREFIX


def raw_leaf_hasher() -> Callable[[bytes, int, str, bytes], bytes]:
    """A function computing `leaf_hash(encode_leaf(...))` from the id's 16 bytes, in one
    buffer, with topics encoded once: the hot loop of `kinerja verify`, where a UUID object
    or a second copy of the data per event would cost more than the hash itself."""
    topics: dict[str, bytes] = {}
    pack_head, pack_length, sha256, join = _HEAD.pack, _LENGTH.pack, hashlib.sha256, b"".join

    def hash_leaf(id_bytes: bytes, originator_version: int, topic: str, state: bytes) -> bytes:
        topic_bytes = topics.get(topic)
        if topic_bytes is None:
            topic_bytes = topic.encode("utf-8")
            if len(topics) < 10_000:  # topics are few; a damaged log must not grow this
                topics[topic] = topic_bytes
        if len(id_bytes) != 16:
            raise LeafEncodingError("originator id is not 16 bytes")
        try:
            head = pack_head(id_bytes, originator_version, len(topic_bytes))
            state_length = pack_length(len(state))
        except struct.error as error:
            raise LeafEncodingError(f"record out of range: {error}") from None
        return sha256(join((_HASHED_PREFIX, head, topic_bytes, state_length, state))).digest()
    return hash_leaf


def decode_leaf(data: bytes) -> LeafRecord:
    """The record inside version-1 leaf data; LeafEncodingError for anything else."""
    data = bytes(data)
    if not data.startswith(LEAF_PREFIX):
        raise LeafEncodingError("leaf data does not start with the kinerja-leaf v1 prefix")
    offset = len(LEAF_PREFIX)
    if len(data) < offset + _HEAD.size:
        raise LeafEncodingError("leaf data is truncated")
    id_bytes, version, topic_length = _HEAD.unpack_from(data, offset)
    offset += _HEAD.size
    topic_bytes = data[offset:offset + topic_length]
    offset += topic_length
    if len(topic_bytes) != topic_length or len(data) < offset + _LENGTH.size:
        raise LeafEncodingError("leaf data is truncated")
    (state_length,) = _LENGTH.unpack_from(data, offset)
    offset += _LENGTH.size
    if len(data) != offset + state_length:
        raise LeafEncodingError("leaf data length does not match its state length")
    try:
        topic = topic_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise LeafEncodingError("leaf topic is not UTF-8") from None
    return LeafRecord(UUID(bytes=id_bytes), version, topic, data[offset:])
