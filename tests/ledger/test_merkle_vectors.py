"""Published vectors: the transparency-dev/merkle JSON suite (read from shared/, never copied
into the repo) and the RFC 6962 test tree of eight leaves."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from domain.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodeStore,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_at,
    root_from_consistency_proof,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("KINERJA_SHARED_DIR", REPO_ROOT.parent / "shared"))
VECTOR_DIR = SHARED_DIR / "testdata" / "merkle"


def _vector_files(kind: str) -> list[Path]:
    folder = VECTOR_DIR / kind
    return sorted(folder.rglob("*.json")) if folder.is_dir() else []


INCLUSION_FILES = _vector_files("inclusion")
CONSISTENCY_FILES = _vector_files("consistency")


def _id(path: Path) -> str:
    return str(path.relative_to(VECTOR_DIR))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _hash(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _proof(vector: dict) -> list[bytes]:
    # The Go generator writes a nil proof as JSON null.
    return [_hash(element) for element in vector["proof"] or []]


# Leaf inputs and roots of the RFC 6962 test tree, copied from transparency-dev/merkle
# testonly/constants.go (LeafInputs, RootHashes, NodeHashes, CompactTrees); they go back
# to the C++ certificate-transparency merkle_tree_test.cc.
RFC6962_LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
RFC6962_ROOTS = [  # index = tree size
    bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    bytes.fromhex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    bytes.fromhex("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    bytes.fromhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    bytes.fromhex("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    bytes.fromhex("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    bytes.fromhex("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# NodeHashes(): level -> hashes by index, exactly the (level, index) key scheme we store.
RFC6962_NODES = {
    (level, index): bytes.fromhex(h)
    for level, hashes in enumerate(
        [
            [
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
                "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
            ],
            [
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            ],
            [
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
            ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
        ]
    )
    for index, h in enumerate(hashes)
}
# CompactTrees(): the right-edge perfect subtrees after each size.
RFC6962_EDGES = [
    [],
    [(0, 0)],
    [(1, 0)],
    [(1, 0), (0, 2)],
    [(2, 0)],
    [(2, 0), (0, 4)],
    [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)],
    [(3, 0)],
]

RFC6962_LEAF_HASHES = [leaf_hash(data) for data in RFC6962_LEAF_INPUTS]


@pytest.fixture(scope="module")
def rfc6962_store() -> MemoryNodeStore:
    return MemoryNodeStore.from_leaf_hashes(RFC6962_LEAF_HASHES)


# ------------------------------------------------------------- RFC 6962 test tree


def test_the_empty_tree_hashes_to_sha256_of_nothing():
    assert EMPTY_ROOT == RFC6962_ROOTS[0]
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert root_at(0, MemoryNodeStore()) == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_rfc6962_test_tree_match_the_published_values(size, rfc6962_store):
    assert root_from_leaf_hashes(RFC6962_LEAF_HASHES[:size]) == RFC6962_ROOTS[size]
    assert root_at(size, rfc6962_store) == RFC6962_ROOTS[size]


def test_stored_nodes_are_exactly_the_published_perfect_subtrees(rfc6962_store):
    assert rfc6962_store.nodes == RFC6962_NODES


@pytest.mark.parametrize("size", range(9))
def test_the_compact_range_holds_the_published_edge_after_each_append(size):
    edge = CompactRange()
    for hash_ in RFC6962_LEAF_HASHES[:size]:
        edge.append(hash_)
    assert edge.hashes == tuple(RFC6962_NODES[key] for key in RFC6962_EDGES[size])
    assert edge.root() == RFC6962_ROOTS[size]


# ------------------------------------------------------------ shared JSON vectors


def test_the_shared_vector_directory_is_present():
    if not VECTOR_DIR.is_dir():
        reason = f"shared Merkle vectors not found at {VECTOR_DIR} (set KINERJA_SHARED_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    assert INCLUSION_FILES, f"no inclusion vectors under {VECTOR_DIR}"
    assert CONSISTENCY_FILES, f"no consistency vectors under {VECTOR_DIR}"
    outcomes = {_load(path)["wantErr"] for path in INCLUSION_FILES + CONSISTENCY_FILES}
    assert outcomes == {True, False}, "the suite should hold both accepted and rejected proofs"


@pytest.mark.parametrize("path", INCLUSION_FILES, ids=_id)
def test_inclusion_vector(path):
    vector = _load(path)
    arguments = (_hash(vector["leafHash"]), vector["leafIdx"], vector["treeSize"], _proof(vector))
    root = _hash(vector["root"])
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*arguments, root)
    else:
        verify_inclusion(*arguments, root)
        assert root_from_inclusion_proof(*arguments) == root


@pytest.mark.parametrize("path", CONSISTENCY_FILES, ids=_id)
def test_consistency_vector(path):
    vector = _load(path)
    size1, size2, proof = vector["size1"], vector["size2"], _proof(vector)
    root1, root2 = _hash(vector["root1"]), _hash(vector["root2"])
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof, root1, root2)
    else:
        verify_consistency(size1, size2, proof, root1, root2)
        assert root_from_consistency_proof(size1, size2, proof, root1) == root2


# The happy paths whose trees are the RFC 6962 test tree: our prover must emit the very
# proofs the vectors carry, not merely proofs that verify.
def _happy_paths_over_the_test_tree(files, root_field):
    vectors = {path: _load(path) for path in files}
    return [
        path
        for path, vector in vectors.items()
        if not vector["wantErr"] and _hash(vector[root_field]) in RFC6962_ROOTS
    ]


@pytest.mark.parametrize("path", _happy_paths_over_the_test_tree(INCLUSION_FILES, "root"), ids=_id)
def test_our_inclusion_proof_equals_the_published_one(path, rfc6962_store):
    vector = _load(path)
    assert RFC6962_ROOTS[vector["treeSize"]] == _hash(vector["root"])
    assert inclusion_proof(vector["leafIdx"], vector["treeSize"], rfc6962_store) == _proof(vector)


@pytest.mark.parametrize("path", _happy_paths_over_the_test_tree(CONSISTENCY_FILES, "root2"), ids=_id)
def test_our_consistency_proof_equals_the_published_one(path, rfc6962_store):
    vector = _load(path)
    assert RFC6962_ROOTS[vector["size2"]] == _hash(vector["root2"])
    assert consistency_proof(vector["size1"], vector["size2"], rfc6962_store) == _proof(vector)
