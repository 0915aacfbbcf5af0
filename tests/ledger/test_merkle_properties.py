"""Proofs from the node store equal the RFC 9162 reference, verify, and every corruption fails.

Exhaustive over all tree sizes up to SWEEP_SIZE, then hypothesis over larger trees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.merkle import (
    EMPTY_ROOT,
    HashSizeError,
    IndexOutOfRangeError,
    MemoryNodeStore,
    MissingNodeError,
    NodeKey,
    ProofError,
    ProofSizeError,
    RootMismatchError,
    TreeSizeError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    nodes_to_store_on_append,
    reference_consistency_proof,
    reference_inclusion_path,
    reference_root,
    root_at,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

SWEEP_SIZE = 64
LARGE_SIZE = 3000
LEAF_HASHES = [leaf_hash(b"event %d" % i) for i in range(LARGE_SIZE)]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


class RecordingReader:
    """Wraps a store and records every batch of keys asked for."""

    def __init__(self, store: MemoryNodeStore) -> None:
        self.store = store
        self.batches: list[list[NodeKey]] = []

    def get_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        keys = list(keys)
        self.batches.append(keys)
        return self.store.get_nodes(keys)


@pytest.fixture(scope="module")
def sweep_store() -> MemoryNodeStore:
    return MemoryNodeStore.from_leaf_hashes(LEAF_HASHES[:SWEEP_SIZE])


@pytest.fixture(scope="module")
def large_store() -> MemoryNodeStore:
    return MemoryNodeStore.from_leaf_hashes(LEAF_HASHES)


def _flip_bit(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8 % len(changed)] ^= 1 << bit % 8
    return bytes(changed)


Probe = tuple[str, type[ProofError], Callable[[], None]]


def _inclusion_probes(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> list[Probe]:
    def verify(leaf=leaf, index=index, size=size, proof=proof, root=root):
        return lambda: verify_inclusion(leaf, index, size, proof, root)

    probes: list[Probe] = [
        ("index - 1", ProofError, verify(index=index - 1)),
        ("index + 1", ProofError, verify(index=index + 1)),
        ("index ^ 2", ProofError, verify(index=index ^ 2)),
        ("size * 2", ProofError, verify(size=size * 2)),
        ("size // 2", ProofError, verify(size=size // 2)),
        ("size 0", IndexOutOfRangeError, verify(size=0)),
        ("flipped leaf", RootMismatchError, verify(leaf=_flip_bit(leaf, 0))),
        ("empty-tree root", RootMismatchError, verify(root=EMPTY_ROOT)),
        ("some other root", RootMismatchError, verify(root=SOME_HASH)),
        ("flipped root", RootMismatchError, verify(root=_flip_bit(root, 255))),
        ("short leaf", HashSizeError, verify(leaf=leaf[:-1])),
        ("trailing empty garbage", HashSizeError, verify(proof=proof + [b""])),
        ("preceding empty garbage", HashSizeError, verify(proof=[b""] + proof)),
        ("trailing root", ProofSizeError, verify(proof=proof + [root])),
        ("preceding root", ProofSizeError, verify(proof=[root] + proof)),
    ]
    if leaf != root:
        probes.append(("leaf and root swapped", RootMismatchError, verify(leaf=root, root=leaf)))
    for position, element in enumerate(proof):
        # A different bit in each element, so every byte offset gets exercised somewhere.
        flipped = proof[:position] + [_flip_bit(element, 8 * position + 3)] + proof[position + 1 :]
        probes.append((f"flipped proof[{position}]", RootMismatchError, verify(proof=flipped)))
        removed = proof[:position] + proof[position + 1 :]
        probes.append((f"removed proof[{position}]", ProofSizeError, verify(proof=removed)))
        truncated = proof[:position] + [element[:-1]] + proof[position + 1 :]
        probes.append((f"truncated proof[{position}]", HashSizeError, verify(proof=truncated)))
    for position in range(len(proof) + 1):
        inserted = proof[:position] + [SOME_HASH] + proof[position:]
        probes.append((f"inserted at {position}", ProofSizeError, verify(proof=inserted)))
    return probes


def _consistency_probes(size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes) -> list[Probe]:
    def verify(size1=size1, size2=size2, proof=proof, root1=root1, root2=root2):
        return lambda: verify_consistency(size1, size2, proof, root1, root2)

    probes: list[Probe] = [
        ("size1 - 1", ProofError, verify(size1=size1 - 1)),
        ("size1 + 1", ProofError, verify(size1=size1 + 1)),
        ("size1 ^ 2", ProofError, verify(size1=size1 ^ 2)),
        ("size2 * 2", ProofError, verify(size2=size2 * 2)),
        ("size2 // 2", ProofError, verify(size2=size2 // 2)),
        ("size1 0", TreeSizeError, verify(size1=0)),
        ("sizes swapped", TreeSizeError, verify(size1=size2, size2=size1)),
        ("flipped root1", RootMismatchError, verify(root1=_flip_bit(root1, 7))),
        ("flipped root2", RootMismatchError, verify(root2=_flip_bit(root2, 7))),
        ("roots swapped", RootMismatchError, verify(root1=root2, root2=root1)),
        ("short root1", HashSizeError, verify(root1=root1[:-1])),
        ("empty proof", ProofSizeError, verify(proof=[])),
        ("trailing empty garbage", HashSizeError, verify(proof=proof + [b""])),
        ("preceding empty garbage", HashSizeError, verify(proof=[b""] + proof)),
        ("trailing root1", ProofSizeError, verify(proof=proof + [root1])),
        ("trailing root2", ProofSizeError, verify(proof=proof + [root2])),
        ("preceding root1", ProofSizeError, verify(proof=[root1] + proof)),
        ("preceding root2", ProofSizeError, verify(proof=[root2] + proof)),
        ("preceding proof[0]", ProofSizeError, verify(proof=[proof[0]] + proof)),
    ]
    for position, element in enumerate(proof):
        flipped = proof[:position] + [_flip_bit(element, 8 * position + 4)] + proof[position + 1 :]
        probes.append((f"flipped proof[{position}]", RootMismatchError, verify(proof=flipped)))
        removed = proof[:position] + proof[position + 1 :]
        probes.append((f"removed proof[{position}]", ProofSizeError, verify(proof=removed)))
        truncated = proof[:position] + [element[:-1]] + proof[position + 1 :]
        probes.append((f"truncated proof[{position}]", HashSizeError, verify(proof=truncated)))
    for position in range(len(proof) + 1):
        inserted = proof[:position] + [SOME_HASH] + proof[position:]
        probes.append((f"inserted at {position}", ProofSizeError, verify(proof=inserted)))
    return probes


def _accepted_or_wrongly_rejected(probes: list[Probe]) -> list[str]:
    """Descriptions of probes that verified, or failed with an error other than expected."""
    wrong = []
    for description, expected_error, probe in probes:
        try:
            probe()
        except expected_error:
            continue
        except Exception as error:  # noqa: BLE001 - reported below with its type
            wrong.append(f"{description}: {type(error).__name__} {error}")
        else:
            wrong.append(f"{description}: verified")
    return wrong


def _check_inclusion(index: int, size: int, store: MemoryNodeStore) -> None:
    leaves = LEAF_HASHES[:size]
    root = reference_root(leaves)
    proof = inclusion_proof(index, size, store)
    assert proof == reference_inclusion_path(index, leaves)
    verify_inclusion(leaves[index], index, size, proof, root)
    assert _accepted_or_wrongly_rejected(_inclusion_probes(leaves[index], index, size, proof, root)) == []


def _check_consistency(size1: int, size2: int, store: MemoryNodeStore) -> None:
    root1, root2 = root_at(size1, store), root_at(size2, store)
    proof = consistency_proof(size1, size2, store)
    assert proof == reference_consistency_proof(size1, LEAF_HASHES[:size2])
    verify_consistency(size1, size2, proof, root1, root2)
    assert _accepted_or_wrongly_rejected(_consistency_probes(size1, size2, proof, root1, root2)) == []


# ------------------------------------------------------------- exhaustive sweep


@pytest.mark.parametrize("size", range(SWEEP_SIZE + 1))
def test_stored_roots_equal_the_reference_root(size, sweep_store):
    assert root_at(size, sweep_store) == reference_root(LEAF_HASHES[:size])
    assert root_from_leaf_hashes(LEAF_HASHES[:size]) == reference_root(LEAF_HASHES[:size])


@pytest.mark.parametrize("size", range(1, SWEEP_SIZE + 1))
def test_every_inclusion_proof_matches_the_reference_verifies_and_resists_corruption(size, sweep_store):
    for index in range(size):
        _check_inclusion(index, size, sweep_store)


@pytest.mark.parametrize("size2", range(2, SWEEP_SIZE + 1))
def test_every_consistency_proof_matches_the_reference_verifies_and_resists_corruption(size2, sweep_store):
    for size1 in range(1, size2):
        _check_consistency(size1, size2, sweep_store)


@pytest.mark.parametrize("size", range(1, SWEEP_SIZE + 1))
def test_a_tree_is_consistent_with_itself_by_the_empty_proof_only(size, sweep_store):
    root = root_at(size, sweep_store)
    assert consistency_proof(size, size, sweep_store) == []
    verify_consistency(size, size, [], root, root)
    with pytest.raises(ProofSizeError):
        verify_consistency(size, size, [root], root, root)
    with pytest.raises(RootMismatchError):
        verify_consistency(size, size, [], root, _flip_bit(root, 0))


def test_a_proof_alone_does_not_pin_the_tree_size(sweep_store):
    # RFC 9162 proof elements are opaque subtree hashes, so a proof for size n can also
    # verify as one for a neighbouring size with the same root. The size a verifier relies
    # on therefore has to come from a signed checkpoint, never from the proof request.
    root6 = root_at(6, sweep_store)
    verify_inclusion(LEAF_HASHES[0], 0, 7, inclusion_proof(0, 6, sweep_store), root6)
    root1, root3 = root_at(1, sweep_store), root_at(3, sweep_store)
    verify_consistency(1, 4, consistency_proof(1, 3, sweep_store), root1, root3)


def test_nothing_is_consistent_with_the_empty_tree(sweep_store):
    with pytest.raises(TreeSizeError):
        consistency_proof(0, 5, sweep_store)
    with pytest.raises(TreeSizeError):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)


def test_a_leaf_index_outside_the_tree_has_no_proof(sweep_store):
    for index, size in [(0, 0), (5, 5), (6, 5), (-1, 5)]:
        with pytest.raises(IndexOutOfRangeError):
            inclusion_proof(index, size, sweep_store)


@pytest.mark.parametrize("size", range(1, SWEEP_SIZE + 1))
def test_each_proof_reads_its_nodes_in_one_batch_of_logarithmic_size(size, sweep_store):
    reader = RecordingReader(sweep_store)
    budget = 2 * size.bit_length()
    for index in range(size):
        reader.batches.clear()
        inclusion_proof(index, size, reader)
        assert len(reader.batches) <= 1 and all(len(batch) <= budget for batch in reader.batches)
    for size1 in range(1, size):
        reader.batches.clear()
        consistency_proof(size1, size, reader)
        assert len(reader.batches) == 1 and len(reader.batches[0]) <= budget
    reader.batches.clear()
    root_at(size, reader)
    assert len(reader.batches) == 1 and len(reader.batches[0]) == size.bit_count()


@pytest.mark.parametrize("size", range(SWEEP_SIZE + 1))
def test_the_store_holds_exactly_the_perfect_subtrees(size):
    store = MemoryNodeStore.from_leaf_hashes(LEAF_HASHES[:size])
    expected = {
        (level, index)
        for level in range(size.bit_length())
        for index in range(size >> level)
    }
    assert set(store.nodes) == expected
    assert len(expected) == 2 * size - size.bit_count()


def test_appending_one_leaf_stores_the_leaf_and_the_subtrees_it_completes(sweep_store):
    store = MemoryNodeStore()
    for index, hash_ in enumerate(LEAF_HASHES[:SWEEP_SIZE]):
        nodes = nodes_to_store_on_append(index, [hash_], store)
        completed = (index ^ (index + 1)).bit_length() - 1  # trailing 1-bits of index
        assert [key for key, _ in nodes] == [(level, index >> level) for level in range(completed + 1)]
        store.put_nodes(nodes)
    assert store.nodes == sweep_store.nodes


def test_a_store_behind_the_requested_size_reports_missing_nodes(sweep_store):
    small = MemoryNodeStore.from_leaf_hashes(LEAF_HASHES[:10])
    with pytest.raises(MissingNodeError):
        root_at(11, small)
    with pytest.raises(MissingNodeError):
        inclusion_proof(3, 12, small)
    with pytest.raises(MissingNodeError):
        nodes_to_store_on_append(11, [LEAF_HASHES[11]], small)


def test_stored_history_cannot_be_rewritten():
    store = MemoryNodeStore.from_leaf_hashes(LEAF_HASHES[:4])
    with pytest.raises(ValueError):
        store.put_nodes([((0, 2), SOME_HASH)])
    store.put_nodes([((0, 2), LEAF_HASHES[2])])  # rewriting the same hash is harmless


# ------------------------------------------------------------------ hypothesis

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def index_and_size(draw):
    size = draw(st.integers(min_value=SWEEP_SIZE + 1, max_value=LARGE_SIZE))
    return draw(st.integers(min_value=0, max_value=size - 1)), size


@st.composite
def two_sizes(draw):
    size2 = draw(st.integers(min_value=SWEEP_SIZE + 1, max_value=LARGE_SIZE))
    return draw(st.integers(min_value=1, max_value=size2 - 1)), size2


@PROPERTY_SETTINGS
@given(index_and_size())
def test_inclusion_proofs_in_large_trees(large_store, case):
    _check_inclusion(*case, large_store)


@PROPERTY_SETTINGS
@given(two_sizes())
def test_consistency_proofs_in_large_trees(large_store, case):
    _check_consistency(*case, large_store)


@PROPERTY_SETTINGS
@given(st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=8))
def test_appending_in_any_batches_gives_the_same_nodes_and_roots(large_store, batch_sizes):
    store = MemoryNodeStore()
    for batch_size in batch_sizes:
        size_before = store.size
        root = store.append(LEAF_HASHES[size_before : size_before + batch_size])
        assert root == root_at(store.size, large_store)
    all_nodes = large_store.nodes
    assert store.nodes == {key: all_nodes[key] for key in store.nodes}
    assert len(store.nodes) == 2 * store.size - store.size.bit_count()
