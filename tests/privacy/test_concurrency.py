"""Many commands at once, each needing a data key or a pseudonym key made on first need."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from domain.values import FeedbackSource
from tests.scenario import HR, PERIOD


def test_concurrent_first_needs_make_one_key_each_and_everything_reads_back(sql_ledger):
    def register(n: int) -> str:
        return sql_ledger.register_employee(
            nip=f"19900101201503{n:04d}", name=f"Pegawai Nomor {n}", unit="Sudinhub",
            position="Petugas", actor=HR).ids["employee_id"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        employees = list(pool.map(register, range(24)))

    def feedback(n: int) -> None:
        # Every thread also races for the one pseudonym key of channel JAKI.
        sql_ledger.give_feedback(employee_id=employees[n % 24], period=PERIOD,
                                 source=FeedbackSource.CITIZEN, giver_ref=f"warga-{n}",
                                 score=3, comment=f"komentar {n}", channel="JAKI",
                                 actor="channel:jaki")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(feedback, range(48)))
    for n, employee_id in enumerate(employees):
        assert sql_ledger.get_employee(employee_id).name == f"Pegawai Nomor {n}"
    comments = {sql_ledger.mapper.to_domain_event(x).comment
                for x in sql_ledger.recorder.select_notifications(1, 1000)
                if x.topic == "kinerja.feedback.given.v1"}
    assert comments == {f"komentar {n}" for n in range(48)}
    records = sql_ledger.vault.keys.records()
    assert sorted(r.kind for r in records) == ["person"] * 24 + ["pseudonym"]
