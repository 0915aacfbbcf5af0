"""The ledger's transcoder stores every value as the same bytes as the library's."""

from __future__ import annotations

from datetime import timezone
from decimal import Decimal

from eventsourcing.persistence import JSONTranscoder
from hypothesis import given, settings
from hypothesis import strategies as st

from api.service import AppraisalLedger
from api.transcoder import LedgerTranscoder

_app = AppraisalLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, group_commit=False)
LIBRARY = JSONTranscoder()
_app.register_transcodings(LIBRARY)
OURS = _app.mapper.transcoder

leaves = (st.none() | st.booleans() | st.integers() | st.floats() | st.text()
          | st.uuids() | st.dates() | st.datetimes(timezones=st.just(timezone.utc))
          | st.decimals(allow_nan=False, allow_infinity=False))
trees = st.recursive(leaves, lambda children: st.lists(children, max_size=4)
                     | st.dictionaries(st.text(max_size=8), children, max_size=4),
                     max_leaves=25)


def _outcome(transcoder: JSONTranscoder, value: object) -> object:
    try:
        return transcoder.encode(value)
    except Exception as error:  # noqa: BLE001 - the kind of refusal is compared too
        return type(error)


def test_the_ledger_uses_its_own_transcoder():
    assert isinstance(OURS, LedgerTranscoder)


@settings(max_examples=400, deadline=None)
@given(trees)
def test_values_are_encoded_exactly_as_the_library_encodes_them(value):
    assert _outcome(OURS, value) == _outcome(LIBRARY, value)
    if isinstance(value, dict):
        assert _outcome(OURS, {"state": value}) == _outcome(LIBRARY, {"state": value})


def test_a_type_with_no_transcoding_is_refused_alike():
    assert _outcome(OURS, {"x": object()}) == _outcome(LIBRARY, {"x": object()})
    assert _outcome(OURS, {"x": Decimal("1.5"), "y": [float("nan")]}) == _outcome(
        LIBRARY, {"x": Decimal("1.5"), "y": [float("nan")]})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.datetimes(timezones=st.just(timezone.utc)) | st.datetimes(), min_size=1,
                max_size=5), st.lists(st.integers(min_value=0, max_value=4), max_size=12))
def test_a_datetime_met_again_is_encoded_alike(moments, picks):
    # The same objects again and again, within one value and across calls, as an event's
    # `timestamp` and `at` and a batch's items are: the remembered encoding is the same.
    shared = [moments[i % len(moments)] for i in picks]
    for value in ({"timestamp": moments[0], "at": moments[0], "all": shared},
                  {"at": moments[-1], "timestamp": moments[0]}, shared):
        assert _outcome(OURS, value) == _outcome(LIBRARY, value)
