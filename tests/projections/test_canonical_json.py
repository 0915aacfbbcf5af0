"""Read-model rows store JSON values as canonical text: the encoder built once writes
exactly what `json.dumps` with the same settings writes, and refuses what it refuses."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.base import dumps

leaves = (st.none() | st.booleans() | st.integers() | st.floats() | st.text())
trees = st.recursive(leaves, lambda children: st.lists(children, max_size=4)
                     | st.dictionaries(st.text(max_size=8), children, max_size=4),
                     max_leaves=25)


def _outcome(encode, value: object) -> object:
    try:
        return encode(value)
    except Exception as error:  # noqa: BLE001 - the kind of refusal is compared too
        return type(error)


def _library(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=400, deadline=None)
@given(trees)
def test_values_are_written_exactly_as_json_dumps_writes_them(value):
    assert _outcome(dumps, value) == _outcome(_library, value)


def test_the_same_content_gives_the_same_text_whatever_the_key_order():
    assert dumps({"b": 1, "a": [True, None, "é"]}) == dumps({"a": [True, None, "é"], "b": 1})
    assert dumps({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'


def test_what_json_cannot_hold_is_refused_alike():
    for value in ({"x": object()}, {1: "x", "1": "y"}, {"x": {1, 2}}, [b"bytes"]):
        assert _outcome(dumps, value) == _outcome(_library, value)
