"""The mapper's envelopes: any text goes round; any change to a sealed field fails; the
ciphertext hides the text and (to within the padding) its length."""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from functools import cache
from typing import Any

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from api.privacy import (
    PAD_TO,
    KeyStore,
    MasterKey,
    PersonalDataMapper,
    PersonalDataUnreadable,
)
from api.service import AppraisalLedger, DateAsISO
from api.settings import Settings
from domain.employee import Employee
from projections.db import SQLiteDatabase
from tests.privacy.story import NAME, NIP
from tests.privacy.test_at_rest import found, sqlite_bytes
from tests.privacy.test_forget import REASON
from tests.privacy.test_tampering import register
from tests.scenario import HR

AT = datetime(2026, 1, 2, 8, tzinfo=timezone.utc)
names = st.text(min_size=1, max_size=200).filter(lambda s: s.strip() == s and s)


@cache
def mapper() -> PersonalDataMapper:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    keys = KeyStore(SQLiteDatabase(None))
    keys.unlock(MasterKey.generate())
    return PersonalDataMapper(Mapper(transcoder), keys, recorder=lambda: None)  # type: ignore


def registered(name: str) -> Any:
    employee = Employee.register(employee_id=uuid.uuid4(), nip=NIP, name=name, unit="u",
                                 position="p", actor=HR, at=AT)
    return employee.collect_events()[0]


@settings(max_examples=150, deadline=None)
@given(names)
def test_any_name_goes_round_and_never_appears_in_the_stored_state(name):
    event = registered(name)
    stored = mapper().to_stored_event(event)
    assert mapper().to_domain_event(stored).name == name
    state = json.loads(stored.state)
    if len(name) >= 8:  # a shorter text can turn up in random base64 by chance
        assert name not in json.dumps(state["nip"]) + json.dumps(state["name"])
    ciphertext = base64.b64decode(state["name"]["ct"])
    assert (len(ciphertext) - 16) % PAD_TO == 0


@settings(max_examples=150, deadline=None)
@given(names, st.data())
def test_any_single_bit_flip_in_a_sealed_field_is_refused(name, data):
    stored = mapper().to_stored_event(registered(name))
    state = json.loads(stored.state)
    part = data.draw(st.sampled_from(["ct", "nonce"]))
    raw = bytearray(base64.b64decode(state["name"][part]))
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    state["name"][part] = base64.b64encode(bytes(raw)).decode()
    tampered = replace(stored, state=json.dumps(state).encode())
    try:
        mapper().to_domain_event(tampered)
    except PersonalDataUnreadable:
        return
    raise AssertionError("a tampered field was accepted")


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=2, max_value=10**6))
def test_a_sealed_field_replayed_at_another_version_is_refused(version):
    stored = mapper().to_stored_event(registered("Budi"))
    moved = StoredEvent(originator_id=stored.originator_id, originator_version=version,
                        topic=stored.topic, state=stored.state)
    try:
        mapper().to_domain_event(moved)
    except PersonalDataUnreadable:
        return
    raise AssertionError("an envelope moved to another version was accepted")


def test_the_same_name_sealed_twice_gives_different_ciphertexts():
    first, second = (json.loads(mapper().to_stored_event(registered(NAME)).state)["name"]
                     for _ in range(2))
    assert first["ct"] != second["ct"] and first["nonce"] != second["nonce"]


def test_the_raw_search_does_find_a_name_stored_without_protection(tmp_path):
    """The control for the at-rest tests: the same search on an unprotected ledger."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'plain.sqlite3'}",
                        data_dir=tmp_path / "data")
    plain = AppraisalLedger(settings.library_env())
    try:
        register(plain)
    finally:
        plain.close()
    assert found(NAME, sqlite_bytes(settings)) and found(NIP, sqlite_bytes(settings))


def test_a_shredded_key_leaves_no_copy_in_the_sqlite_file_or_its_wal(sqlite_settings,
                                                                     open_ledgers):
    ledger = open_ledgers(sqlite_settings)
    employee_id = register(ledger)
    path = sqlite_settings.store().sqlite_path
    with sqlite3.connect(str(path)) as connection:
        (wrapped,) = connection.execute("SELECT wrapped FROM kinerja_personal_keys WHERE "
                                        "subject = ?", (employee_id,)).fetchone()
    assert wrapped.encode() in sqlite_bytes(sqlite_settings)
    ledger.forget(employee_id, reason=REASON, actor=HR, roles={"admin"})
    assert wrapped.encode() not in sqlite_bytes(sqlite_settings)



def test_a_reader_handing_over_the_id_as_hex_opens_the_same_envelope():
    stored = mapper().to_stored_event(registered(NAME))
    as_hex = StoredEvent(originator_id=stored.originator_id.hex,  # type: ignore[arg-type]
                         originator_version=stored.originator_version, topic=stored.topic,
                         state=stored.state)
    assert mapper().to_domain_event(as_hex).name == NAME


def test_nonces_are_never_handed_out_twice_across_threads_or_to_a_forked_child():
    import multiprocessing
    import threading

    from api.privacy import _nonces

    taken: list[list[bytes]] = [[] for _ in range(8)]

    def take(n: int) -> None:
        taken[n].extend(_nonces.take() for _ in range(1000))

    threads = [threading.Thread(target=take, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [nonce for per in taken for nonce in per]
    assert len(set(every)) == len(every) == 8000
    assert {len(nonce) for nonce in every} == {12}

    _nonces.take()  # the parent's pool is not empty now
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=lambda: writer.send(_nonces.take()))
    child.start()
    childs = reader.recv()
    child.join(10)
    assert childs != _nonces.take()
