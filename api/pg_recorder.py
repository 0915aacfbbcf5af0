"""The library's PostgreSQL application recorder, with a cheaper insert.

The library sends new events as one array of a composite type, which psycopg dumps as
text: every state byte is escaped in Python (a regular-expression pass per event), the
largest Python cost of a write. Here the same INSERT ... SELECT FROM unnest(...) takes
four arrays in binary form instead. Same table, same rows, same order, same RETURNING of
notification ids: the storage format, the notification log and the library's own tools
are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier


class BinaryInsertPostgresApplicationRecorder(PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.insert_events_statement = SQL(
            "INSERT INTO {schema}.{table} AS t "
            "(originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(schema=Identifier(self.datastore.schema),
                 table=Identifier(self.events_table_name))
        # Read-version guards (api/recorders.py) fail inside the server, as a
        # unique_violation, so the transaction aborts exactly as for a version conflict.
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}(ids uuid[], versions bigint[]) "
            "RETURNS void LANGUAGE plpgsql AS $$ DECLARE i int; latest bigint; BEGIN "
            "FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP "
            "SELECT max(originator_version) INTO latest FROM {schema}.{table} "
            "WHERE originator_id = ids[i]; "
            "IF coalesce(latest, 0) <> versions[i] THEN RAISE EXCEPTION "
            "'aggregate % moved from version % to %', ids[i], versions[i], latest "
            "USING ERRCODE = 'unique_violation'; END IF; END LOOP; END $$"
        ).format(schema=Identifier(self.datastore.schema),
                 function=Identifier(f"{self.events_table_name}_check_versions"),
                 table=Identifier(self.events_table_name)))
        self._check_versions_statement = SQL("SELECT {schema}.{function}(%s, %s)").format(
            schema=Identifier(self.datastore.schema),
            function=Identifier(f"{self.events_table_name}_check_versions"))

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> None:
        # Keep what the library's method does before inserting: the EXCLUSIVE table lock,
        # so that notification ids are issued in commit order (a reader tailing the log,
        # such as the projection runner or the Merkle ledger, would otherwise pass over an
        # id that commits after a higher one), and the NOTIFY that wakes subscribers.
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_events_statement, (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        # Never prepared: a statement prepared inside a pipeline that then fails (a
        # version conflict) is lost on the server while psycopg still believes it exists.
        ), prepare=False)
        guards = list(kwargs.get("guards") or ())
        if guards:
            # After the insert, so that a neighbour in the same batch that moved a guarded
            # aggregate counts; on its own cursor, so the INSERT's RETURNING stays readable.
            with curs.connection.cursor() as check:
                check.execute(self._check_versions_statement,
                              ([g[0] for g in guards], [g[1] for g in guards]),
                              prepare=False)


RECORDER_TOPIC = f"{__name__}:{BinaryInsertPostgresApplicationRecorder.__name__}"
