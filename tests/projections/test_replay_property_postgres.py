"""The replay property of test_replay_property.py on PostgreSQL (a file of its own to
keep each file's run short)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.projections.test_replay_property import STEPS, bounded, check_property


@pytest.mark.postgres
@bounded(5)
@given(steps=STEPS, final_batch=st.integers(1, 50))
def test_incremental_projection_equals_a_replay_on_postgres(steps, final_batch):
    check_property("postgres", steps, final_batch)
