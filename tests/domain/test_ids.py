"""Ids derived from business keys never change: the log names its streams by them."""

from __future__ import annotations

from uuid import UUID, uuid5

from hypothesis import given
from hypothesis import strategies as st

from domain.base import LEDGER_NAMESPACE, derived_id

keys = st.lists(st.text() | st.integers(), max_size=4)


@given(st.text(), keys)
def test_a_derived_id_is_the_uuid5_of_its_key(kind, key):
    assert derived_id(kind, *key) == uuid5(LEDGER_NAMESPACE, "/".join([kind, *map(str, key)]))


def test_derived_ids_stay_what_the_log_already_holds():
    # Computed with `uuid.uuid5` before derived_id stopped calling it.
    assert derived_id("feedback", "JAKI", "laporan-0017") == UUID(
        "39198971-d7bc-5a59-9a3f-245d4439d25c")
    assert derived_id("evaluation", "x", 2026) == UUID("2f7fd1b2-13d2-549f-bb84-b89aa4afae82")
    assert derived_id("feedback", "JAKI", "laporan-0017").version == 5
