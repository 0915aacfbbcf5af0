"""Opening the configured store: the one place that turns settings into a ledger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from projections.db import postgres_conninfo

from api.privacy import ProtectedLedger, open_vault
from api.service import AppraisalLedger, FeedbackLookup, utc_now
from api.settings import Settings, StoreLocation


def ensure_postgres_schema(store: StoreLocation) -> None:
    """The library creates tables but not the schema that holds them."""
    with psycopg.connect(postgres_conninfo(store), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
            sql.Identifier(store.schema)))


def open_ledger(settings: Settings, *, clock: Callable[[], datetime] = utc_now,
                feedback_lookup: FeedbackLookup | None = None, group_commit: bool = True,
                **extra_env: Any) -> AppraisalLedger:
    store = settings.store()
    if store.kind == "postgresql":
        ensure_postgres_schema(store)
    env = {**settings.library_env(), **{k: str(v) for k, v in extra_env.items()}}
    kwargs: dict[str, Any] = {"clock": clock, "group_commit": group_commit}
    if feedback_lookup is not None:
        kwargs["feedback_lookup"] = feedback_lookup
    # Personal fields encrypted per person, citizen references pseudonymised (privacy.py).
    vault = open_vault(settings)
    try:
        return ProtectedLedger(env, vault=vault, **kwargs)
    except BaseException:
        vault.close()
        raise
