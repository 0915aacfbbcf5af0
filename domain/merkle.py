"""RFC 9162 Merkle tree: hashing, proofs, verification, and incremental node storage.

Hashing (RFC 9162 2.1.1, identical to RFC 6962 2.1)::

    leaf_hash(d)    = SHA-256(0x00 || d)
    node_hash(l, r) = SHA-256(0x01 || l || r)
    MTH({})         = SHA-256()                       (EMPTY_ROOT)
    MTH(D[n])       = node_hash(MTH(D[0:k]), MTH(D[k:n])), k = largest power of 2 < n

Node keys
---------
A stored node is named by ``(level, index)``: node ``(l, i)`` is the Merkle Tree Hash of
leaves ``[i * 2**l, (i + 1) * 2**l)``. Level 0 holds the leaf hashes, and
``(l, i) = node_hash((l-1, 2i), (l-1, 2i+1))``. Only *perfect* subtrees are stored: in a
tree of size n, node ``(l, i)`` exists exactly when ``(i + 1) * 2**l <= n``. Because a
perfect subtree never changes once complete, the table is append-only and a row written
for one tree size stays valid for every later size::

    CREATE TABLE merkle_node (
        level SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 63),
        idx   BIGINT   NOT NULL CHECK (idx >= 0),
        hash  BYTEA    NOT NULL CHECK (length(hash) = 32),   -- BLOB in SQLite
        PRIMARY KEY (level, idx)
    );

Appending leaf n writes ``(0, n)`` plus one node per trailing 1-bit of n (the subtrees
that leaf completes), two rows per leaf on average; a tree of size n holds
``2n - popcount(n)`` rows. The same scheme is used by transparency-dev/merkle
(``compact.NodeID``, ``testonly.NodeHashes``).

Roots of non-perfect trees, and proof elements that are not perfect subtrees, are never
stored: every subtree that RFC 9162 recursion produces, ``[begin, end)``, is the
concatenation of the perfect subtrees given by the set bits of ``end - begin`` (largest
first), and its hash is those stored hashes folded from the right. Proof functions
therefore first list the node keys they need, fetch them with one batched
``NodeReader.get_nodes`` call (one SQL query), then hash: O(log n) rows per proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "HashSizeError",
    "IndexOutOfRangeError",
    "MemoryNodeStore",
    "MissingNodeError",
    "NodeKey",
    "NodeReader",
    "ProofError",
    "ProofSizeError",
    "RootMismatchError",
    "TreeSizeError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "nodes_to_store_on_append",
    "perfect_subtree_keys",
    "reference_consistency_proof",
    "reference_inclusion_path",
    "reference_root",
    "root_at",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# Domain separation prefixes, RFC 9162 2.1.1: they make a leaf hash and an interior node
# hash unequal for any input, so a leaf cannot be passed off as a subtree (second
# preimage attack on naive Merkle trees).
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

NodeKey = tuple[int, int]
"""``(level, index)``: the perfect subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


# --------------------------------------------------------------------------- errors


class ProofError(ValueError):
    """A proof, or the claim it is checked against, is not valid."""


class IndexOutOfRangeError(ProofError):
    """A leaf index outside ``[0, size)``: no tree of that size holds such a leaf."""


class TreeSizeError(ProofError):
    """Tree sizes no consistency proof can relate: ``size1 > size2``, or ``size1 == 0``."""


class ProofSizeError(ProofError):
    """A proof with more or fewer hashes than its index and tree size(s) call for."""


class HashSizeError(ProofError):
    """A hash that must be fed to SHA-256 is not ``HASH_SIZE`` bytes long."""


class RootMismatchError(ProofError):
    """The root computed from a proof differs from the root it was checked against."""

    def __init__(self, message: str, *, expected: bytes, calculated: bytes) -> None:
        super().__init__(f"{message}: expected {expected.hex()}, calculated {calculated.hex()}")
        self.expected = expected
        self.calculated = calculated


class MissingNodeError(LookupError):
    """The node store lacks nodes that a tree of the requested size must have.

    Not a ProofError: it means the store is behind or damaged, not that a proof is false.
    """

    def __init__(self, missing: Sequence[NodeKey]) -> None:
        super().__init__(f"node store lacks {len(missing)} node(s), first {missing[0]}")
        self.missing = tuple(missing)


# ------------------------------------------------------------------- tree arithmetic


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 2.1.1: the largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtree_keys(begin: int, end: int) -> list[NodeKey]:
    """Keys of the perfect subtrees that make up leaves ``[begin, end)``, left to right.

    Precondition: ``begin`` is a multiple of the smallest power of two >= ``end - begin``,
    which holds for ``begin == 0`` and for every subtree RFC 9162 recursion produces.
    Under it the pieces are aligned and folding their hashes from the right gives the
    subtree's MTH.
    """
    width = end - begin
    if width < 0 or begin < 0:
        raise ValueError(f"invalid leaf range [{begin}, {end})")
    if width and begin % (1 << (width - 1).bit_length()):
        raise ValueError(f"leaf range [{begin}, {end}) is not a subtree of an RFC 9162 tree")
    keys = []
    position = begin
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            keys.append((level, position >> level))
            position += 1 << level
    return keys


def _fold_from_right(hashes: Sequence[bytes]) -> bytes:
    # MTH splits off the largest perfect subtree on the left and recurses on the rest, so
    # the right-most pieces are combined first.
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _require_hash_size(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise HashSizeError(f"{what} is {len(value)} bytes, expected {HASH_SIZE}")


# ---------------------------------------------------------------------- verification


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root of a size-``size`` tree in which ``leaf_hash`` sits at ``index``, per ``proof``.

    RFC 9162 2.1.3.2, steps 1 to 4 and the ``sn == 0`` part of step 5; the caller compares
    the result with a trusted root (``verify_inclusion`` does).
    """
    if not 0 <= index < size:
        raise IndexOutOfRangeError(f"leaf index {index} is outside a tree of size {size}")
    _require_hash_size(leaf_hash, "leaf hash")
    for position, element in enumerate(proof):
        _require_hash_size(element, f"inclusion proof element {position}")

    # fn walks the leaf's path up the tree, sn the path of the last leaf; where they meet
    # (fn == sn) the leaf's subtree is on the right edge and may have no right sibling.
    fn, sn = index, size - 1
    result = leaf_hash
    for element in proof:
        if sn == 0:
            raise ProofSizeError(f"inclusion proof has {len(proof)} hashes, too many for index {index} of {size}")
        if fn & 1 or fn == sn:
            result = node_hash(element, result)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofSizeError(f"inclusion proof has {len(proof)} hashes, too few for index {index} of {size}")
    return result


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Return if ``proof`` shows ``leaf_hash`` at ``index`` in the tree ``(size, root)``; else raise ProofError."""
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if calculated != root:
        raise RootMismatchError("inclusion proof does not lead to the root", expected=root, calculated=calculated)


def root_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> bytes:
    """The size-``size2`` root that ``proof`` shows to extend the tree ``(size1, root1)``.

    RFC 9162 2.1.4.2. The proof is checked against ``root1`` here (RootMismatchError if it
    does not lead back to it); the caller compares the result with a trusted second root.
    Equal sizes need an empty proof and return ``root1`` unchanged (2.1.4.1: PROOF(n, D[n])
    is empty). Consistency with the empty tree is refused: it proves nothing, and the RFC
    defines proofs only for ``0 < size1``.
    """
    if size1 < 0 or size2 < size1:
        raise TreeSizeError(f"no consistency proof leads from size {size1} to size {size2}")
    if size1 == 0:
        raise TreeSizeError("consistency with the empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ProofSizeError(f"equal sizes need an empty consistency proof, got {len(proof)} hashes")
        # Only compared, never hashed, so its length is not checked; the transparency-dev
        # vector sizes-are-equal-one-and-proof-is-empty expects exactly this.
        return root1
    if not proof:
        raise ProofSizeError(f"empty consistency proof from size {size1} to {size2}")
    for position, element in enumerate(proof):
        _require_hash_size(element, f"consistency proof element {position}")
    _require_hash_size(root1, "first root")

    path = list(proof)
    # When size1 is a power of two the old tree is itself a perfect subtree of the new
    # one, so the proof omits it and the verifier supplies root1 (step 2).
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_root = second_root = path[0]
    for element in path[1:]:
        if sn == 0:
            raise ProofSizeError(f"consistency proof has {len(proof)} hashes, too many for {size1} to {size2}")
        if fn & 1 or fn == sn:
            first_root = node_hash(element, first_root)
            second_root = node_hash(element, second_root)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            second_root = node_hash(second_root, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofSizeError(f"consistency proof has {len(proof)} hashes, too few for {size1} to {size2}")
    if first_root != root1:
        raise RootMismatchError(
            "consistency proof does not lead to the first root", expected=root1, calculated=first_root
        )
    return second_root


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Return if ``proof`` shows tree ``(size2, root2)`` extends ``(size1, root1)``; else raise ProofError."""
    calculated = root_from_consistency_proof(size1, size2, proof, root1)
    if calculated != root2:
        raise RootMismatchError(
            "consistency proof does not lead to the second root", expected=root2, calculated=calculated
        )


# ------------------------------------------------------------------- node storage


class NodeReader(Protocol):
    def get_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """Hashes of those ``keys`` that are stored; absent keys are simply left out.

        Called once per proof or root with every key it needs, so that an SQL store can
        answer with a single query.
        """
        ...


def _fetch(reader: NodeReader, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
    if not keys:
        return {}
    found = reader.get_nodes(keys)
    missing = [key for key in keys if key not in found]
    if missing:
        raise MissingNodeError(missing)
    return found


class CompactRange:
    """The right edge of a tree: the hashes of the perfect subtrees that make up ``[0, size)``.

    O(log n) hashes are all an appender needs; ``append`` returns the nodes to store.
    """

    __slots__ = ("_size", "_hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """``hashes`` are those of ``perfect_subtree_keys(0, size)``, in that order."""
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {max(size, 0).bit_count()} edge subtrees, got {len(hashes)}")
        for hash_ in hashes:
            _require_hash_size(hash_, "subtree hash")
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def from_store(cls, size: int, reader: NodeReader) -> CompactRange:
        keys = perfect_subtree_keys(0, size)
        found = _fetch(reader, keys)
        return cls(size, [found[key] for key in keys])

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[NodeKey, bytes]]:
        """Add one leaf; return the leaf node and every subtree it completes, lowest first."""
        _require_hash_size(leaf_hash, "leaf hash")
        index = self._size
        completed = [((0, index), leaf_hash)]
        level, position, hash_ = 0, index, leaf_hash
        # Each trailing 1-bit of the index is a same-sized perfect subtree directly to the
        # left, at the end of the edge; the new leaf completes it into one twice as large.
        while position & 1:
            hash_ = node_hash(self._hashes.pop(), hash_)
            level, position = level + 1, position >> 1
            completed.append(((level, position), hash_))
        self._hashes.append(hash_)
        self._size += 1
        return completed

    def root(self) -> bytes:
        return _fold_from_right(self._hashes) if self._hashes else EMPTY_ROOT


def nodes_to_store_on_append(
    size_before: int, new_leaf_hashes: Iterable[bytes], reader: NodeReader
) -> list[tuple[NodeKey, bytes]]:
    """The nodes to write when appending ``new_leaf_hashes`` to a stored tree of ``size_before``.

    Reads the O(log n) edge nodes in one ``get_nodes`` call. The result is every new leaf
    node and every perfect subtree the batch completes, none of which is stored yet.
    """
    edge = CompactRange.from_store(size_before, reader)
    nodes: list[tuple[NodeKey, bytes]] = []
    for new_leaf_hash in new_leaf_hashes:
        nodes.extend(edge.append(new_leaf_hash))
    return nodes


def _subtree_hashes(ranges: Sequence[tuple[int, int]], reader: NodeReader) -> list[bytes]:
    pieces = [perfect_subtree_keys(begin, end) for begin, end in ranges]
    found = _fetch(reader, [key for keys in pieces for key in keys])
    return [_fold_from_right([found[key] for key in keys]) for keys in pieces]


def root_at(size: int, reader: NodeReader) -> bytes:
    """MTH of the first ``size`` leaves, from at most log2(size) + 1 stored nodes."""
    if size < 0:
        raise ValueError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    return _subtree_hashes([(0, size)], reader)[0]


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    # PATH(m, D[n]) of RFC 9162 2.1.3.1, unrolled: descend towards the leaf, noting the
    # sibling subtree at each split; PATH lists them leaf first.
    ranges = []
    begin, end = 0, size
    while end - begin > 1:
        split = begin + _largest_power_of_two_below(end - begin)
        if index < split:
            ranges.append((split, end))
            end = split
        else:
            ranges.append((begin, split))
            begin = split
    ranges.reverse()
    return ranges


def _consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    # SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1, unrolled; `old_tree_is_known` is b: whether
    # the subtree [begin, size1) is the verifier's whole old tree, whose root it already has.
    ranges = []
    begin, end = 0, size2
    old_tree_is_known = True
    while size1 != end:
        split = begin + _largest_power_of_two_below(end - begin)
        if size1 <= split:
            ranges.append((split, end))
            end = split
        else:
            ranges.append((begin, split))
            begin = split
            old_tree_is_known = False
    if not old_tree_is_known:
        ranges.append((begin, end))
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """PATH(index, D[size]) (RFC 9162 2.1.3.1) from stored nodes, with one ``get_nodes`` call."""
    if not 0 <= index < size:
        raise IndexOutOfRangeError(f"leaf index {index} is outside a tree of size {size}")
    return _subtree_hashes(_inclusion_ranges(index, size), reader)


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """PROOF(size1, D[size2]) (RFC 9162 2.1.4.1) from stored nodes, with one ``get_nodes`` call.

    Requires ``0 < size1 <= size2``; equal sizes give the empty proof.
    """
    if size1 < 0 or size2 < size1:
        raise TreeSizeError(f"no consistency proof leads from size {size1} to size {size2}")
    if size1 == 0:
        raise TreeSizeError("consistency with the empty tree is meaningless")
    if size1 == size2:
        return []
    return _subtree_hashes(_consistency_ranges(size1, size2), reader)


class MemoryNodeStore:
    """An in-memory ``NodeReader`` with the append-only semantics of the SQL table."""

    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}
        self._size = 0
        self.get_nodes_calls = 0

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> MemoryNodeStore:
        store = cls()
        store.append(leaf_hashes)
        return store

    @property
    def size(self) -> int:
        """Number of leaves stored."""
        return self._size

    @property
    def nodes(self) -> dict[NodeKey, bytes]:
        return dict(self._nodes)

    def get_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        self.get_nodes_calls += 1
        return {key: self._nodes[key] for key in keys if key in self._nodes}

    def put_nodes(self, nodes: Iterable[tuple[NodeKey, bytes]]) -> None:
        """Store nodes; rewriting a node with a different hash is refused, as history is fixed."""
        for key, hash_ in nodes:
            stored = self._nodes.setdefault(key, hash_)
            if stored != hash_:
                raise ValueError(f"node {key} is already stored with a different hash")
            if key[0] == 0:
                self._size = max(self._size, key[1] + 1)

    def append(self, leaf_hashes: Iterable[bytes]) -> bytes:
        """Append leaves and return the new root."""
        self.put_nodes(nodes_to_store_on_append(self._size, leaf_hashes, self))
        return root_at(self._size, self)


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH (RFC 9162 2.1.1) of a list of leaf hashes, in O(n) time and O(log n) memory."""
    edge = CompactRange()
    for hash_ in leaf_hashes:
        edge.append(hash_)
    return edge.root()


# ------------------------------------------- reference implementation, for cross-checks
#
# Written straight from the recursive definitions of RFC 9162, over leaf hashes rather
# than leaf data (so MTH of one entry is that entry). Quadratic-ish and slice-happy on
# purpose: it exists to be obviously right, and tests compare the code above against it.


def reference_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]), RFC 9162 2.1.1."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _largest_power_of_two_below(n)
    return node_hash(reference_root(leaf_hashes[:k]), reference_root(leaf_hashes[k:]))


def reference_inclusion_path(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 9162 2.1.3.1; requires 0 <= m < n."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise IndexOutOfRangeError(f"leaf index {index} is outside a tree of size {n}")
    if n == 1:
        return []
    k = _largest_power_of_two_below(n)
    if index < k:
        return reference_inclusion_path(index, leaf_hashes[:k]) + [reference_root(leaf_hashes[k:])]
    return reference_inclusion_path(index - k, leaf_hashes[k:]) + [reference_root(leaf_hashes[:k])]


def reference_consistency_proof(size1: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), RFC 9162 2.1.4.1; requires 0 < m <= n."""
    if not 0 < size1 <= len(leaf_hashes):
        raise TreeSizeError(f"no consistency proof from size {size1} to {len(leaf_hashes)}")
    return _reference_subproof(size1, leaf_hashes, True)


def _reference_subproof(m: int, leaf_hashes: Sequence[bytes], whole_old_tree: bool) -> list[bytes]:
    n = len(leaf_hashes)
    if m == n:
        return [] if whole_old_tree else [reference_root(leaf_hashes)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return _reference_subproof(m, leaf_hashes[:k], whole_old_tree) + [reference_root(leaf_hashes[k:])]
    return _reference_subproof(m - k, leaf_hashes[k:], False) + [reference_root(leaf_hashes[:k])]
