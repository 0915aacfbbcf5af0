"""Real threads on the real SQL stores: many writers rate one evaluation at once.

Each thread's command either is acknowledged (returns a position) or is refused with
ConcurrentChange after its retries. Afterwards every acknowledged write is in the log
exactly once, at the position it was told, and no refused write is there at all.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

from domain.errors import ConcurrentChange
from domain.values import BerakhlakValue, Rating
from tests.domain.spec import events_after, log_position
from tests.scenario import TickingClock, build_world, plan_standard_items

THREADS = 8
COMMANDS_PER_THREAD = 3


class ThreadSafeClock(TickingClock):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            return super().__call__()


def test_concurrent_raters_lose_no_acknowledged_write_and_duplicate_none(sql_settings):
    from api.store import open_ledger
    clock = ThreadSafeClock()
    app = open_ledger(sql_settings, clock=clock)
    try:
        world = build_world(app, clock)
        eid = world.evaluation_id()
        plan_standard_items(world, eid)
        app.fix_targets(eid, actor=world.rater)
        app.record_realisation(eid, item_id="patrol", value=Decimal(95), evidence=[],
                               actor=world.employee)
        start = log_position(app)
        barrier = threading.Barrier(THREADS)
        acknowledged: dict[str, int] = {}
        refused: list[str] = []
        failures: list[BaseException] = []
        lock = threading.Lock()

        def writer(n: int) -> None:
            barrier.wait()
            for k in range(COMMANDS_PER_THREAD):
                tag = f"t{n}-c{k}"
                try:
                    if (n + k) % 2:
                        written = app.rate_perilaku(
                            eid, value=list(BerakhlakValue)[(n + k) % 7],
                            rating=Rating.SESUAI, note=tag, actor=world.rater)
                    else:
                        written = app.rate_item(eid, item_id="patrol", override=Rating.DI_ATAS,
                                                reason=tag, actor=world.rater)
                except ConcurrentChange:
                    with lock:
                        refused.append(tag)
                except BaseException as error:  # noqa: BLE001 - reported below
                    with lock:
                        failures.append(error)
                else:
                    with lock:
                        acknowledged[tag] = written.position

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert failures == []
        assert len(acknowledged) + len(refused) == THREADS * COMMANDS_PER_THREAD
        assert acknowledged, "no write went through at all"

        new = events_after(app, start)
        tags = [n["note"] if n.topic.endswith("perilaku-rated.v1") else n["override_reason"]
                for n in new]
        counts = Counter(tags)
        # Every acknowledged write is there once, at the position it was given.
        assert {tag: counts[tag] for tag in acknowledged} == {tag: 1 for tag in acknowledged}
        position_of = {tag: n.position for tag, n in zip(tags, new, strict=True)}
        assert {tag: position_of[tag] for tag in acknowledged} == acknowledged
        # Nothing that was refused, and nothing unacknowledged, was recorded.
        assert set(tags) == set(acknowledged)
        assert not set(refused) & set(tags)
        # One evaluation stream, no gaps and no duplicated versions.
        versions = [n.originator_version for n in new]
        assert versions == list(range(versions[0], versions[0] + len(versions)))
        assert {str(n.originator_id) for n in new} == {eid}
        # And the aggregate replays to the last acknowledged state.
        evaluation = app.get_evaluation(eid)
        assert evaluation.version == versions[-1]
    finally:
        app.close()
