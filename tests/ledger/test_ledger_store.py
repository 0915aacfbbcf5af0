"""The Merkle ledger kept in SQL: leaf encoding, incremental appends, checkpoints, proofs.

Every proof the ledger serves is checked against an independent recomputation: the leaf
hashes computed here from the events, and the RFC 9162 reference functions of
domain/merkle.py, never the code under test.
"""

from __future__ import annotations

import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.ledger_keys import (
    FileSignedHead,
    SignerKeyError,
    load_signer_key,
    load_verifier_key,
    open_merkle_ledger,
    signer_key_path,
    sql_events,
)
from api.settings import StoreLocation
from api.store import open_ledger
from domain.merkle import (
    MemoryNodeStore,
    ProofError,
    leaf_hash,
    reference_consistency_proof,
    reference_inclusion_path,
    reference_root,
    verify_consistency,
    verify_inclusion,
)
from projections.checkpoint import generate_signer, verifier_key_from_signer, verify_checkpoint
from projections.db import open_database
from projections.ledger import (
    LEAF_PREFIX,
    CheckpointNotFound,
    InvalidProofRequest,
    LeafEncodingError,
    LeafNotFound,
    LeafRecord,
    Ledger,
    LedgerEntryGone,
    LedgerError,
    LedgerFollower,
    NoSignerKey,
    NothingToCheckpoint,
    RecorderEvents,
    TreeSizeNotAnchored,
    decode_leaf,
    encode_leaf,
    verify_ledger,
)
from tests.conftest import POSTGRES_URL, _conninfo
from tests.scenario import build_world

ORIGIN = "kinerja.test/ledger"
SIGNER, VERIFIER = generate_signer(ORIGIN)
FIXED_ID = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")


# --------------------------------------------------------------------------- leaf encoding


def test_leaf_data_has_the_documented_layout() -> None:
    # The example of docs/ledger.md, byte for byte: prefix, 16-byte id, u64 version,
    # u32 topic length, topic, u32 state length, state.
    data = encode_leaf(FIXED_ID, 2, "kinerja.t.v1", b'{"a":1}')
    assert data.hex() == (
        "6b696e65726a612d6c65616600" "7631"
        "00112233445566778899aabbccddeeff"
        "0000000000000002"
        "0000000c" "6b696e65726a612e742e7631"
        "00000007" "7b2261223a317d")
    assert data.startswith(LEAF_PREFIX)
    # Pinned so that the format cannot drift: SHA-256(0x00 || data), as docs/ledger.md shows.
    assert leaf_hash(data).hex() == (
        "604d12c89ac67fa47adf34adecd243c11d548cfb57eed00620f2522e535f9111")


records = st.builds(LeafRecord, st.uuids(), st.integers(0, 2**64 - 1),
                    st.text(max_size=40), st.binary(max_size=200))


@given(records)
def test_leaf_data_decodes_to_the_record_it_encodes(record: LeafRecord) -> None:
    data = encode_leaf(record.originator_id, record.originator_version, record.topic,
                       record.state)
    assert decode_leaf(data) == record


@given(records, records)
def test_different_records_never_share_leaf_data(first: LeafRecord,
                                                 second: LeafRecord) -> None:
    def encoded(r: LeafRecord) -> bytes:
        return encode_leaf(r.originator_id, r.originator_version, r.topic, r.state)
    assert (encoded(first) == encoded(second)) == (first == second)


@given(records, st.data())
def test_truncated_or_extended_leaf_data_is_refused(record: LeafRecord,
                                                    data: st.DataObject) -> None:
    encoded = encode_leaf(record.originator_id, record.originator_version, record.topic,
                          record.state)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(LeafEncodingError):
        decode_leaf(encoded[:cut])
    with pytest.raises(LeafEncodingError):
        decode_leaf(encoded + data.draw(st.binary(min_size=1, max_size=4)))


def test_a_record_without_a_uuid_or_with_a_negative_version_has_no_leaf() -> None:
    with pytest.raises(LeafEncodingError):
        encode_leaf("not-a-uuid", 1, "t", b"")  # type: ignore[arg-type]
    with pytest.raises(LeafEncodingError):
        encode_leaf(FIXED_ID, -1, "t", b"")
    with pytest.raises(LeafEncodingError):
        decode_leaf(b"kinerja-leaf\x00v2" + bytes(32))


# ------------------------------------------------------- random logs on a real SQL store


def _stored(index: int, state: bytes) -> StoredEvent:
    return StoredEvent(originator_id=uuid.UUID(int=index % 7 + 1), originator_version=index,
                       topic=f"kinerja.test.e{index % 3}.v1", state=state)


def _leaf_hashes(events: list[StoredEvent]) -> list[bytes]:
    return [leaf_hash(encode_leaf(e.originator_id, e.originator_version, e.topic, e.state))
            for e in events]


def _memory_ledger(**kwargs: object) -> tuple[Ledger, POPOApplicationRecorder]:
    recorder = POPOApplicationRecorder()
    db = open_database(StoreLocation(kind="memory"))
    ledger = Ledger(db, RecorderEvents(recorder), origin=ORIGIN, signer_key=SIGNER,
                    owns_db=True, **kwargs)  # type: ignore[arg-type]
    return ledger, recorder


def _flip(value: bytes, position: int, mask: int) -> bytes:
    return value[:position] + bytes([value[position] ^ mask]) + value[position + 1:]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(st.binary(max_size=24), min_size=1, max_size=9),
                        min_size=1, max_size=6),
       batch_size=st.integers(1, 7), data=st.data())
def test_every_served_proof_verifies_against_an_independent_recomputation(
        batches: list[list[bytes]], batch_size: int, data: st.DataObject) -> None:
    ledger, recorder = _memory_ledger(batch_size=batch_size)
    events: list[StoredEvent] = []
    try:
        for batch in batches:
            new = [_stored(len(events) + i + 1, state) for i, state in enumerate(batch)]
            recorder.insert_events(new)
            events += new
            assert ledger.catch_up() == len(events)
            ledger.publish_checkpoint()
        hashes = _leaf_hashes(events)
        # The SQL node table is exactly the in-memory reference store's.
        with ledger.db.transaction() as cursor:
            cursor.execute("SELECT level, idx, hash FROM ledger_nodes")
            stored = {(level, index): bytes(h) for level, index, h in cursor.fetchall()}
        assert stored == MemoryNodeStore.from_leaf_hashes(hashes).nodes
        sizes = [c.size for c in ledger.checkpoints()]
        for size in sizes:
            root = reference_root(hashes[:size])
            checkpoint = verify_checkpoint(ledger.checkpoint(size).note, VERIFIER,
                                           expected_origin=ORIGIN)
            assert checkpoint.root_hash == root
            for index in range(size):
                served = ledger.inclusion_proof(index, size)
                assert served.leaf_hash == hashes[index]
                assert served.root_hash == root
                assert served.proof == reference_inclusion_path(index, hashes[:size])
                verify_inclusion(hashes[index], index, size, served.proof, root)
        for first in sizes:
            for second in sizes:
                if first <= second:
                    served = ledger.consistency_proof(first, second)
                    assert served.proof == reference_consistency_proof(first, hashes[:second])
                    verify_consistency(first, second, served.proof,
                                       reference_root(hashes[:first]),
                                       reference_root(hashes[:second]))
        # Any single-byte change to a served proof element, or to the root, fails.
        size = data.draw(st.sampled_from(sizes), label="size")
        index = data.draw(st.integers(0, size - 1), label="index")
        served = ledger.inclusion_proof(index, size)
        mask = data.draw(st.integers(1, 255), label="mask")
        byte = data.draw(st.integers(0, 31), label="byte")
        with pytest.raises(ProofError):
            verify_inclusion(served.leaf_hash, index, size, served.proof,
                             _flip(served.root_hash, byte, mask))
        if served.proof:
            element = data.draw(st.integers(0, len(served.proof) - 1), label="element")
            corrupted = list(served.proof)
            corrupted[element] = _flip(corrupted[element], byte, mask)
            with pytest.raises(ProofError):
                verify_inclusion(served.leaf_hash, index, size, corrupted, served.root_hash)
        if len(sizes) > 1 and sizes[0] < sizes[-1]:
            consistency = ledger.consistency_proof(sizes[0], sizes[-1])
            first_root = ledger.checkpoint(sizes[0]).root_hash
            second_root = ledger.checkpoint(sizes[-1]).root_hash
            with pytest.raises(ProofError):
                verify_consistency(sizes[0], sizes[-1], consistency.proof, first_root,
                                   _flip(second_root, byte, mask))
            element = data.draw(st.integers(0, len(consistency.proof) - 1), label="c-element")
            corrupted = list(consistency.proof)
            corrupted[element] = _flip(corrupted[element], byte, mask)
            with pytest.raises(ProofError):
                verify_consistency(sizes[0], sizes[-1], corrupted, first_root, second_root)
    finally:
        ledger.close()


def test_every_size_up_to_40_gives_the_reference_root_and_proofs() -> None:
    ledger, recorder = _memory_ledger()
    events = [_stored(i + 1, b"state %d" % i) for i in range(40)]
    hashes = _leaf_hashes(events)
    try:
        for size in range(1, 41):
            recorder.insert_events([events[size - 1]])
            ledger.catch_up()
            ledger.publish_checkpoint()
            assert ledger.root(size) == reference_root(hashes[:size])
        for size in range(1, 41):
            for index in range(size):
                assert ledger.inclusion_proof(index, size).proof == \
                    reference_inclusion_path(index, hashes[:size])
            for first in range(1, size + 1):
                assert ledger.consistency_proof(first, size).proof == \
                    reference_consistency_proof(first, hashes[:size])
    finally:
        ledger.close()


class CountingDatabase:
    """Counts transactions and the statements that read the node table."""

    def __init__(self, db: object) -> None:
        self.db = db
        self.kind = db.kind  # type: ignore[attr-defined]
        self.transactions = 0
        self.node_queries = 0

    @contextmanager
    def transaction(self) -> Iterator[object]:
        self.transactions += 1
        with self.db.transaction() as cursor:  # type: ignore[attr-defined]
            outer = self

            class Counting:
                def execute(self, statement: str, params: object = ()) -> object:
                    outer.node_queries += "ledger_nodes" in statement
                    return cursor.execute(statement, params)

                def __getattr__(self, name: str) -> object:
                    return getattr(cursor, name)
            yield Counting()


def test_a_proof_is_one_transaction_with_one_node_query() -> None:
    ledger, recorder = _memory_ledger()
    recorder.insert_events([_stored(i + 1, b"x") for i in range(1000)])
    ledger.catch_up()
    ledger.publish_checkpoint()
    real = ledger.db
    counting = CountingDatabase(real)
    ledger.db = counting  # type: ignore[assignment]
    try:
        ledger.inclusion_proof(617, 1000)
        assert (counting.transactions, counting.node_queries) == (1, 1)
        ledger.consistency_proof(1000)
        assert (counting.transactions, counting.node_queries) == (2, 1)  # equal sizes
    finally:
        ledger.db = real
        ledger.close()


# ---------------------------------------------------------- the ledger over a real store


@pytest.fixture
def store(sql_settings, clock):  # noqa: ANN001, ANN201
    app = open_ledger(sql_settings, clock=clock)
    ledger = open_merkle_ledger(sql_settings, app)
    yield sql_settings, app, ledger
    ledger.close()
    app.close()


def _log(app) -> list:  # noqa: ANN001
    return list(app.recorder.select_notifications(None, 10_000))


def _hashes_of(notifications: list) -> list[bytes]:
    return [leaf_hash(encode_leaf(n.originator_id, n.originator_version, n.topic, n.state))
            for n in notifications]


def test_the_tree_holds_every_stored_event_in_log_order(store, clock) -> None:  # noqa: ANN001
    settings, app, ledger = store
    build_world(app, clock)
    size = ledger.catch_up()
    log = _log(app)
    assert size == len(log) == ledger.size()
    hashes = _hashes_of(log)
    assert ledger.root() == reference_root(hashes)
    with ledger.db.transaction() as cursor:
        cursor.execute("SELECT idx, position, originator_id, originator_version, topic, "
                       "leaf_hash FROM ledger_leaves ORDER BY idx")
        rows = cursor.fetchall()
        cursor.execute("SELECT COUNT(*) FROM ledger_nodes")
        node_rows = cursor.fetchone()[0]
    assert [(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows] == [
        (i, n.id, str(n.originator_id), n.originator_version, n.topic, hashes[i])
        for i, n in enumerate(log)]
    assert node_rows == 2 * size - bin(size).count("1")


def test_leaf_indexes_have_no_gaps_where_positions_do(store, clock) -> None:  # noqa: ANN001
    settings, app, ledger = store
    build_world(app, clock)
    # A position is used up without an event: a rolled-back PostgreSQL insert, or a
    # SQLite row removed before the ledger saw it.
    if settings.store().kind == "postgresql":
        with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True,
                             options=f"-c search_path={settings.store().schema}") as conn:
            conn.execute("SELECT nextval(pg_get_serial_sequence('kinerja_events', "
                         "'notification_id'))")
            conn.execute("SELECT nextval(pg_get_serial_sequence('kinerja_events', "
                         "'notification_id'))")
        app.register_employee(nip="199001012020011001", name="Budi", unit="U",
                              position="P", actor="hr")
    else:
        app.register_employee(nip="199001012020011001", name="Budi", unit="U",
                              position="P", actor="hr")
        gone = app.recorder.max_notification_id()
        app.register_employee(nip="199001012020011002", name="Sari", unit="U",
                              position="P", actor="hr")
        with ledger.db.transaction() as cursor:
            cursor.execute("DELETE FROM stored_events WHERE rowid = ?", (gone,))
    log = _log(app)
    positions = [n.id for n in log]
    assert positions != list(range(1, len(log) + 1))  # there is a gap
    assert ledger.catch_up() == len(log)
    found = ledger.leaf_for_position(positions + [10_000])
    assert [found[p][0] for p in positions] == list(range(len(log)))
    assert 10_000 not in found
    assert ledger.root() == reference_root(_hashes_of(log))


def test_appending_goes_on_where_it_left_off(store, clock) -> None:  # noqa: ANN001
    settings, app, ledger = store
    world = build_world(app, clock)
    first = ledger.catch_up()
    ledger.publish_checkpoint()
    app.register_employee(nip="199001012020011001", name="Budi", unit="U", position="P",
                          actor="hr")
    app.assign_rater(world.employee, rater_id=world.head,
                     effective_from=clock.now.date(), actor="hr")
    assert ledger.catch_up() == first + 2
    ledger.publish_checkpoint()
    hashes = _hashes_of(_log(app))
    proof = ledger.consistency_proof(first, first + 2)
    verify_consistency(first, first + 2, proof.proof, reference_root(hashes[:first]),
                       reference_root(hashes))


def test_concurrent_appenders_build_one_tree(sql_settings, clock) -> None:  # noqa: ANN001
    app = open_ledger(sql_settings, clock=clock)
    ledgers = [open_merkle_ledger(sql_settings, app) for _ in range(3)]
    for ledger in ledgers:
        ledger.batch_size = 2
    try:
        build_world(app, clock, employees=3)
        errors: list[BaseException] = []

        def run(ledger: Ledger) -> None:
            try:
                ledger.catch_up()
            except BaseException as error:  # noqa: BLE001
                errors.append(error)
        threads = [threading.Thread(target=run, args=(ledger,)) for ledger in ledgers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        log = _log(app)
        assert ledgers[0].size() == len(log)
        assert ledgers[0].root() == reference_root(_hashes_of(log))
    finally:
        for ledger in ledgers:
            ledger.close()
        app.close()


def test_an_entry_gives_the_event_as_stored_and_its_leaf(store, clock) -> None:  # noqa: ANN001
    settings, app, ledger = store
    build_world(app, clock)
    ledger.catch_up()
    log = _log(app)
    entry = ledger.entry(3)
    assert entry.position == log[3].id
    assert decode_leaf(entry.leaf_data) == LeafRecord(
        log[3].originator_id, log[3].originator_version, log[3].topic, log[3].state)
    assert leaf_hash(entry.leaf_data) == entry.leaf_hash
    assert (entry.topic, entry.originator_id, entry.originator_version) == (
        log[3].topic, str(log[3].originator_id), log[3].originator_version)
    with pytest.raises(LeafNotFound):
        ledger.entry(len(log))
    with pytest.raises(LeafNotFound):
        ledger.entry(-1)


def test_an_entry_whose_event_was_deleted_says_so(store, clock) -> None:  # noqa: ANN001
    settings, app, ledger = store
    build_world(app, clock)
    ledger.catch_up()
    events = sql_events(settings, ledger.db)
    position = ledger.entry(2).position
    column = "rowid" if settings.store().kind == "sqlite" else "notification_id"
    with ledger.db.transaction() as cursor:
        cursor.execute(f"DELETE FROM {events.table} WHERE {column} = ?", (position,))
    with pytest.raises(LedgerEntryGone):
        ledger.entry(2)


# ------------------------------------------------------------------------- checkpoints


def test_checkpoints_are_signed_kept_and_anchor_every_proof(store, clock) -> None:  # noqa: ANN001
    settings, app, ledger = store
    with pytest.raises(CheckpointNotFound):
        ledger.checkpoint()
    with pytest.raises(NothingToCheckpoint):
        ledger.publish_checkpoint()
    world = build_world(app, clock)
    first = ledger.catch_up()
    note = ledger.publish_checkpoint()
    assert ledger.publish_checkpoint() == note  # the same tree is not signed twice
    public_key = load_verifier_key(settings)
    assert public_key == ledger.public_key
    checkpoint = verify_checkpoint(note, public_key, expected_origin=settings.ledger_origin)
    assert (checkpoint.size, checkpoint.root_hash) == (first, ledger.root(first))
    app.assign_rater(world.employee, rater_id=world.head, effective_from=clock.now.date(),
                     actor="hr")
    second = ledger.catch_up()
    ledger.publish_checkpoint()
    assert [c.size for c in ledger.checkpoints()] == [first, second]
    assert ledger.checkpoint().size == second
    assert ledger.checkpoint(first).note == note
    with pytest.raises(CheckpointNotFound):
        ledger.checkpoint(first + 100)
    # Proofs only for checkpointed sizes: a proof alone does not fix the tree size.
    with pytest.raises(TreeSizeNotAnchored):
        ledger.inclusion_proof(0, first - 1)
    with pytest.raises(TreeSizeNotAnchored):
        ledger.consistency_proof(1, second)
    with pytest.raises(InvalidProofRequest):
        ledger.inclusion_proof(first, first)
    with pytest.raises(InvalidProofRequest):
        ledger.consistency_proof(second, first)
    with pytest.raises(InvalidProofRequest):
        ledger.consistency_proof(0, first)
    assert ledger.inclusion_proof(0).size == second  # default: the latest checkpoint


def test_a_checkpoint_is_published_every_n_events_or_t_seconds(sql_settings) -> None:  # noqa: ANN001
    now = [datetime(2026, 1, 2, tzinfo=timezone.utc)]
    recorder = POPOApplicationRecorder()
    db = open_database(sql_settings.store())
    ledger = Ledger(db, RecorderEvents(recorder), origin=ORIGIN, signer_key=SIGNER,
                    clock=lambda: now[0], every_events=5, every_seconds=60, owns_db=True)
    try:
        assert ledger.maybe_publish() is None  # empty
        recorder.insert_events([_stored(1, b"a")])
        ledger.catch_up()
        assert ledger.maybe_publish() is not None  # the first leaf is checkpointed at once
        recorder.insert_events([_stored(i, b"b") for i in range(2, 6)])
        ledger.catch_up()
        assert ledger.maybe_publish() is None  # 4 new events, 0 seconds
        recorder.insert_events([_stored(6, b"c")])
        ledger.catch_up()
        assert ledger.maybe_publish() is not None  # 5 new events
        recorder.insert_events([_stored(7, b"d")])
        ledger.catch_up()
        now[0] += timedelta(seconds=59)
        assert ledger.maybe_publish() is None
        now[0] += timedelta(seconds=1)
        assert ledger.maybe_publish() is not None  # 60 seconds
        now[0] += timedelta(hours=1)
        assert ledger.maybe_publish() is None  # nothing new to sign
        assert [c.size for c in ledger.checkpoints()] == [1, 6, 7]
    finally:
        ledger.close()


def test_a_reset_ledger_is_never_signed_again(tmp_path) -> None:  # noqa: ANN001
    # An attacker with database access drops the ledger tables and rewrites an event;
    # the copy of the last checkpoint kept beside the key stops the signer.
    memory = FileSignedHead(tmp_path / "last")
    events = [_stored(i + 1, b"s") for i in range(6)]
    recorder = POPOApplicationRecorder()
    recorder.insert_events(events)
    first = Ledger(open_database(StoreLocation(kind="memory")), RecorderEvents(recorder),
                   origin=ORIGIN, signer_key=SIGNER, last_signed=memory, owns_db=True)
    first.catch_up()
    note = first.publish_checkpoint()
    first.close()
    assert memory.load() == note
    forged = POPOApplicationRecorder()
    forged.insert_events(events[:3] + [_stored(4, b"forged")] + events[4:])
    rebuilt = Ledger(open_database(StoreLocation(kind="memory")), RecorderEvents(forged),
                     origin=ORIGIN, signer_key=SIGNER, last_signed=memory, owns_db=True)
    try:
        rebuilt.catch_up()
        with pytest.raises(LedgerError, match="does not extend"):
            rebuilt.publish_checkpoint()
        assert memory.load() == note
    finally:
        rebuilt.close()


def test_a_ledger_without_its_key_serves_but_does_not_sign() -> None:
    recorder = POPOApplicationRecorder()
    recorder.insert_events([_stored(1, b"a")])
    ledger = Ledger(open_database(StoreLocation(kind="memory")), RecorderEvents(recorder),
                    origin=ORIGIN, owns_db=True)
    try:
        assert ledger.catch_up() == 1
        assert ledger.maybe_publish() is None
        with pytest.raises(NoSignerKey):
            ledger.publish_checkpoint()
    finally:
        ledger.close()


# --------------------------------------------------------------------------- the key file


def test_the_signer_key_is_made_once_private_and_outside_the_store(tmp_path) -> None:  # noqa: ANN001
    from api.settings import Settings
    settings = Settings(database_url="memory://", data_dir=tmp_path / "data")
    assert load_verifier_key(settings) is None  # nothing is created by asking
    signer = load_signer_key(settings)
    path = signer_key_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_signer_key(settings) == signer
    assert load_verifier_key(settings) == verifier_key_from_signer(signer)
    assert verifier_key_from_signer(signer).startswith(settings.ledger_origin + "+")
    os.chmod(path, 0o640)
    with pytest.raises(SignerKeyError, match="chmod 600"):
        load_signer_key(settings)
    os.chmod(path, 0o600)
    path.write_text("PRIVATE+KEY+garbage\n")
    with pytest.raises(SignerKeyError) as refused:
        load_signer_key(settings)
    assert "garbage" not in str(refused.value)


# ----------------------------------------------------------------------------- follower


def test_the_follower_keeps_the_tree_caught_up_and_checkpointed(store, clock) -> None:  # noqa: ANN001
    settings, app, ledger = store
    follower = LedgerFollower(ledger, interval=0.05).start()
    try:
        build_world(app, clock)
        end = len(_log(app))
        follower.poke()
        deadline = time.monotonic() + 30
        while (ledger.size() < end or not ledger.checkpoints()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ledger.size() == end
        assert ledger.checkpoints()
        assert follower.last_error is None
    finally:
        follower.stop()


def test_verify_passes_on_a_sound_ledger_in_memory() -> None:
    ledger, recorder = _memory_ledger()
    recorder.insert_events([_stored(i + 1, b"x%d" % i) for i in range(20)])
    ledger.catch_up()
    ledger.publish_checkpoint()
    recorder.insert_events([_stored(21, b"new")])
    try:
        report = verify_ledger(ledger.db, RecorderEvents(recorder), verifier_key=VERIFIER,
                               origin=ORIGIN)
        assert report.ok, report.summary()
        assert (report.leaves, report.pending, report.checkpoints) == (20, 1, 1)
    finally:
        ledger.close()


def test_a_shredded_persons_events_stay_verifiable(store, clock) -> None:  # noqa: ANN001
    settings, app, ledger = store
    world = build_world(app, clock)
    ledger.catch_up()
    ledger.publish_checkpoint()
    registered = ledger.entry(2)  # the employee's registration, encrypted fields in it
    assert registered.originator_id == world.employee
    app.forget(world.employee, reason="retention period over", actor="hr", roles={"admin"})
    ledger.catch_up()
    ledger.publish_checkpoint()
    # Their key is gone, but the ciphertext is what the leaf committed to.
    after = ledger.entry(2)
    assert after.leaf_data == registered.leaf_data
    assert leaf_hash(after.leaf_data) == after.leaf_hash
    with sql_events(settings, ledger.db) as events:
        report = verify_ledger(ledger.db, events, verifier_key=ledger.public_key,
                               origin=settings.ledger_origin)
    assert report.ok, report.summary()
    assert report.checkpoints == 2
