"""Bulk citizen feedback: a batch large enough to be streamed (decided, mapped and sent in
chunks while earlier chunks are inserted) is still one transaction: recorded whole, or,
if any item is refused or already there, not at all."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from api.service import STREAM_CHUNK, STREAM_FROM_ITEMS
from domain.errors import InvalidValue, NotFound
from domain.values import FeedbackSource
from tests.scenario import PERIOD, build_world

SIZE = STREAM_FROM_ITEMS + 2 * STREAM_CHUNK + 7  # several chunks, the last one partial


def _items(world, numbers, **changes):
    return [{"employee_id": world.employees[n % len(world.employees)], "period": PERIOD,
             "source": FeedbackSource.CITIZEN, "giver_ref": f"warga-{n}",
             "score": 1 + n % 5, "channel": "Qlue", "external_ref": f"qlue-{n}", **changes}
            for n in numbers]


def _log_after(app, position):
    return app.recorder.select_notifications(position + 1, 100_000)


def test_a_large_batch_is_recorded_whole_at_consecutive_positions(app, clock):
    world = build_world(app, clock, employees=5)
    before = app.recorder.max_notification_id() or 0
    written = app.give_feedback_batch(_items(world, range(SIZE)), actor="channel:qlue")
    after = _log_after(app, before)
    assert len(after) == SIZE
    assert [n.id for n in after] == list(range(after[0].id, after[0].id + SIZE))
    assert written.position == after[-1].id
    assert [str(n.originator_id) for n in after] == written.ids["feedback_ids"]
    assert {n.topic for n in after} == {"kinerja.feedback.given.v1"}
    # the events read back as the domain wrote them, citizens pseudonymised
    last = app.repository.get(after[-1].originator_id)
    assert last.giver_ref.startswith("cit:") and last.score == 1 + (SIZE - 1) % 5


def test_a_refused_item_late_in_a_large_batch_writes_nothing(app, clock):
    world = build_world(app, clock, employees=5)
    items = _items(world, range(SIZE))
    items[SIZE - 3]["score"] = 9  # in the last chunk: the chunks before were already sent
    before = app.recorder.max_notification_id() or 0
    with pytest.raises(InvalidValue, match="score"):
        app.give_feedback_batch(items, actor="channel:qlue")
    assert _log_after(app, before) == []


def test_a_large_batch_resent_in_part_records_only_the_new_items(app, clock):
    world = build_world(app, clock, employees=5)
    before = app.recorder.max_notification_id() or 0
    first = app.give_feedback_batch(_items(world, range(600)), actor="channel:qlue")
    again = app.give_feedback_batch(_items(world, range(300, 300 + SIZE)),
                                    actor="channel:qlue")
    after = _log_after(app, before)
    assert len(after) == 300 + SIZE
    assert len({n.originator_id for n in after}) == 300 + SIZE
    assert len(again.ids["feedback_ids"]) == SIZE
    # The answer says how many it recorded: the rest were there before.
    assert (first.events, again.events) == (600, SIZE - 300)
    resent = app.give_feedback_batch(_items(world, range(10)), actor="channel:qlue")
    assert (resent.events, resent.position) == (0, None)


@pytest.mark.postgres
def test_on_postgres_a_large_batch_is_streamed_past_the_group_committer(postgres_schema,
                                                                         tmp_path, clock):
    from api.settings import Settings
    from api.store import open_ledger
    from tests.conftest import POSTGRES_URL

    ledger = open_ledger(Settings(database_url=POSTGRES_URL, postgres_schema=postgres_schema,
                                  data_dir=tmp_path / "data"), clock=clock)
    try:
        world = build_world(ledger, clock, employees=3)
        assert ledger.streams_writes
        submissions = ledger.committer.submissions
        ledger.give_feedback_batch(_items(world, range(SIZE)), actor="channel:qlue")
        assert ledger.committer.submissions == submissions
        ledger.give_feedback_batch(_items(world, range(SIZE, SIZE + 10)),
                                   actor="channel:qlue")
        assert ledger.committer.submissions == submissions + 1
    finally:
        ledger.close()


@pytest.mark.parametrize("spelling", [str.upper, lambda i: i.replace("-", ""),
                                      lambda i: "{" + i + "}"])
def test_an_employee_id_spelt_otherwise_names_the_same_known_employee(app, clock, spelling):
    world = build_world(app, clock, employees=1)
    employee = world.employees[0]
    app.give_feedback_batch(_items(world, [1]), actor="channel:qlue")  # now known
    written = app.give_feedback(**_items(world, [2], employee_id=spelling(employee))[0],
                                actor="channel:qlue")
    item = app.repository.get(UUID(written.ids["feedback_id"]))
    assert item.employee_id == employee != spelling(employee)
    stranger = str(uuid4())
    with pytest.raises(NotFound, match="employee"):
        app.give_feedback(**_items(world, [3], employee_id=spelling(stranger))[0],
                          actor="channel:qlue")


@pytest.mark.parametrize("spoil, message", [
    (lambda items: items.__setitem__(1, ["not", "an", "object"]), "item 1 is not an object"),
    (lambda items: [items[2].pop("score"), items[2].pop("period")], "item 2 lacks period, score"),
    (lambda items: items[0].__setitem__("giver_ref", None), "item 0 lacks giver_ref"),
    (lambda items: items[3].__setitem__("external_ref", items[0]["external_ref"]),
     "same channel reference twice"),
])
def test_a_malformed_batch_is_refused_whole_and_writes_nothing(app, clock, spoil, message):
    world = build_world(app, clock, employees=2)
    items = _items(world, range(4))
    spoil(items)
    before = app.recorder.max_notification_id() or 0
    with pytest.raises(InvalidValue, match=message):
        app.give_feedback_batch(items, actor="channel:qlue")
    assert _log_after(app, before) == []


def test_a_single_item_says_it_recorded_one_event_and_sent_again_none(app, clock):
    world = build_world(app, clock)
    [item] = _items(world, [1])
    first = app.give_feedback(**item, actor="channel:qlue")
    again = app.give_feedback(**item, actor="channel:qlue")
    assert (first.events, again.events) == (1, 0)
    assert first.ids == again.ids
