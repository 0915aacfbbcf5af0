"""Baselines for the API: a bare FastAPI endpoint answering from one raw psycopg SELECT of
the same read-model row (query latency), and a bare FastAPI POST that validates the same
body as a citizen-feedback write and does nothing else (the framework's own ceiling for
writes over HTTP). Run: `python -m bench.bare_api PORT SCHEMA`."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from bench.common import POSTGRES_URL


class Feedback(BaseModel):
    employee_id: str
    period: str
    score: int
    channel: str
    external_ref: str
    giver_ref: str


def make_app(schema: str) -> FastAPI:
    pool = ConnectionPool(POSTGRES_URL, min_size=2, max_size=8, open=True,
                          kwargs={"options": f"-c search_path={schema}",
                                  "row_factory": dict_row})
    app = FastAPI()

    @app.post("/feedback", status_code=201)
    def feedback(body: Feedback) -> dict:
        # A plain `def`, as the ledger's write routes: FastAPI runs it in its thread pool.
        return {"position": 0, "feedback_id": body.external_ref}

    @app.get("/score/{evaluation_id}")
    def score(evaluation_id: str) -> dict:
        with pool.connection() as connection:
            row = connection.execute(
                "SELECT evaluation_id, employee_id, unit, period, hasil_kerja, "
                "perilaku_kerja, predikat, status FROM rm_scores "
                "WHERE evaluation_id = %s AND valid_to IS NULL", (evaluation_id,)).fetchone()
        return row or {}

    return app


if __name__ == "__main__":
    uvicorn.run(make_app(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]),
                log_level="warning", access_log=False)
