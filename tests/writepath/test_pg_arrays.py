"""The insert call's arrays, encoded by hand in PostgreSQL's binary format, read back by a
real server exactly as psycopg's own dumping of the same lists would be."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from hypothesis import given, settings, strategies as st

from api.pg_arrays import BigintArray, ByteaArray, TextArray, UuidArray

pytestmark = pytest.mark.postgres

BIGINTS = st.integers(min_value=-2**63, max_value=2**63 - 1)
TOPICS = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@pytest.fixture(scope="module")
def connection():
    from tests.conftest import POSTGRES_URL, require_postgres

    require_postgres()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        yield conn


def _server_reads(connection, encoded, cast: str) -> list:
    """The array as the server read it, sent back as psycopg loads any array."""
    return connection.execute(f"SELECT %b::{cast}", (encoded,)).fetchone()[0]


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.uuids(), max_size=40), versions=st.lists(BIGINTS, max_size=40),
       topics=st.lists(TOPICS, max_size=40), states=st.lists(st.binary(max_size=300),
                                                               max_size=40))
def test_each_array_reads_back_as_its_values(connection, ids, versions, topics, states):
    assert _server_reads(connection, UuidArray.from_values(ids), "uuid[]") == ids
    assert _server_reads(connection, BigintArray.from_values(versions), "bigint[]") == versions
    assert _server_reads(connection, TextArray.from_values(topics), "text[]") == topics
    assert _server_reads(connection, ByteaArray.from_values(states), "bytea[]") == states


def test_the_server_finds_them_equal_to_psycopgs_own_arrays(connection):
    ids = [uuid.uuid4() for _ in range(3)]
    row = connection.execute(
        "SELECT %b::uuid[] = %b::uuid[], %b::bigint[] = %b::bigint[],"
        " %b::text[] = %b::text[], %b::bytea[] = %b::bytea[],"
        " array_ndims(%b::uuid[]) IS NULL AND cardinality(%b::uuid[]) = 0",
        (UuidArray.from_values(ids), ids, BigintArray.from_values([1, 2**40]), [1, 2**40],
         TextArray.from_values(["domain.x:Y.Z", ""]), ["domain.x:Y.Z", ""],
         ByteaArray.from_values([b"{}", b"\x00\xff"]), [b"{}", b"\x00\xff"],
         UuidArray.from_values([]), UuidArray.from_values([]))).fetchone()
    assert row == (True, True, True, True, True)


def test_a_topic_that_is_not_ascii_is_refused_before_it_is_sent():
    with pytest.raises(UnicodeEncodeError):
        TextArray.from_values(["domain.penilaian:Nilai.Diberikan", "domain.café:Pesanan"])
