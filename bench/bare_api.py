"""The bare FastAPI server the API and web benchmarks measure against, served and loaded
the same way as ours in the same run:

- `GET /score/{id}`: one raw psycopg SELECT of the read-model row (query latency);
- `GET /page/{id}`: the same row in one small autoescaped template (the least a
  server-rendered page of ours could cost);
- `POST /feedback`: validates the body of a citizen-feedback write and stores nothing
  (the framework's own ceiling for writes over HTTP).

Run: `python -m bench.bare_api PORT SCHEMA`."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from jinja2 import Environment, select_autoescape
from pydantic import BaseModel
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from bench.common import POSTGRES_URL

SCORE_ROW = ("SELECT evaluation_id, employee_id, unit, period, hasil_kerja, perilaku_kerja, "
             "predikat, status FROM rm_scores WHERE evaluation_id = %s AND valid_to IS NULL")

PAGE = ("<!DOCTYPE html><html><head><title>{{ r.evaluation_id }}</title></head><body>"
        "<h1>{{ r.period }}</h1><dl>{% for k, v in r.items() %}<dt>{{ k }}</dt>"
        "<dd>{{ v }}</dd>{% endfor %}</dl></body></html>")


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
    template = Environment(autoescape=select_autoescape(default=True)).from_string(PAGE)
    app = FastAPI()

    def score_row(evaluation_id: str) -> dict[str, Any]:
        with pool.connection() as connection:
            return connection.execute(SCORE_ROW, (evaluation_id,)).fetchone() or {}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/score/{evaluation_id}")
    def score(evaluation_id: str) -> dict:
        return score_row(evaluation_id)

    @app.get("/page/{evaluation_id}", response_class=HTMLResponse)
    def page(evaluation_id: str) -> HTMLResponse:
        return HTMLResponse(template.render(r=score_row(evaluation_id)))

    @app.post("/feedback", status_code=201)
    def feedback(body: Feedback) -> dict:
        # A plain `def`, as the ledger's write routes: FastAPI runs it in its thread pool.
        return {"position": 0, "feedback_id": body.external_ref}

    return app


if __name__ == "__main__":
    uvicorn.run(make_app(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]),
                log_level="warning", access_log=False)
