"""`kinerja serve` (the HTTP API) and `kinerja token` (a bearer token for it)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

import typer

from api.cli import app, fail, load_settings
from api.followers import DEFAULT_LINGER

_TTL = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_ttl(text: str) -> timedelta:
    match = _TTL.match(text.strip())
    if not match or int(match[1]) <= 0:
        raise ValueError(f"a lifetime is written like 30m, 8h or 7d, not {text!r}")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


@app.command()
def token(actor: Annotated[str, typer.Option("--actor", help="The actor id (`sub`); an "
                                             "employee's or rater's employee id")],
          role: Annotated[list[str], typer.Option("--role", help="A role; repeat for more: "
                                                  "admin, rater, employee, peer, "
                                                  "citizen_channel, inspector, "
                                                  "appeal_panel")],
          ttl: Annotated[str, typer.Option(help="Lifetime: 30m, 8h, 7d")] = "8h") -> None:
    """Print a bearer token for the API (signed with the data folder's secret)."""
    from api.auth import TokenService, load_secret

    settings = load_settings()
    try:
        lifetime = parse_ttl(ttl)
        typer.echo(TokenService(load_secret(settings)).issue(actor, role, ttl=lifetime))
    except ValueError as error:
        fail(str(error))


@app.command()
def serve(host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
          demo: Annotated[bool, typer.Option(help="Load the demo first if the store is "
                                                   "empty, and print tokens for it")] = False,
          demo_employees: Annotated[int, typer.Option(help="Demo size")] = 200,
          demo_months: Annotated[int, typer.Option(help="Demo months of 2026")] = 6,
          demo_seed: Annotated[int, typer.Option(help="Demo seed")] = 7,
          access_log: Annotated[bool, typer.Option(
              help="Log a line per request. Off by default: every write is already "
                   "recorded, with its actor, in the ledger, and the line costs "
                   "about 5 % of the write rate.")] = False,
          follow: Annotated[bool, typer.Option(
              help="Keep the read models and the Merkle ledger caught up in this process. "
                   "--no-follow leaves that to `kinerja follow`, run beside it: the API "
                   "then has its interpreter to itself.")] = True) -> None:
    """Run the HTTP API on the configured store (docs at /docs)."""
    import uvicorn

    from api.app import create_app
    from api.http_protocol import GatheringHttpToolsProtocol

    settings = load_settings()
    url = f"http://{host}:{port}"
    if demo:
        # Loaded before the server's own composition: the demo's caches and settled
        # projections make it fast and its content independent of the machine's speed.
        for line in load_demo_lines(settings, url, employees=demo_employees,
                                    months=demo_months, seed=demo_seed):
            typer.echo(line)
    if not follow and settings.store().kind == "memory":
        fail("--no-follow needs a store another process can open (sqlite or postgresql)")
    application = create_app(settings, follow=follow)
    typer.echo(f"kinerja-ledger API on {url}  (docs: {url}/docs)"
               + ("" if follow else "; the log is followed by `kinerja follow`"))
    uvicorn.run(application, host=host, port=port, log_level="info", access_log=access_log,
                http=GatheringHttpToolsProtocol)


@app.command()
def follow(linger: Annotated[float, typer.Option(
        min=0.0, max=10.0,
        help="Seconds to let new events gather before catching up: longer costs less CPU "
             "per event, and leaves reads that name no position further behind (a read "
             "that asks for a position catches up by itself).")] = DEFAULT_LINGER) -> None:
    """Keep the read models and the Merkle ledger (with its signed checkpoints) caught up
    with the log, until stopped (Ctrl-C or SIGTERM). Run it beside
    `kinerja serve --no-follow`, on the same store."""
    import signal
    import threading

    from api.followers import Followers

    settings = load_settings()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        followers = Followers(settings, linger=linger)
    except ValueError as error:
        fail(str(error))
    except Exception as error:  # noqa: BLE001 - one line for the operator, not a traceback
        fail(f"cannot follow the log: {type(error).__name__}: {error}")
    with followers:
        typer.echo(f"following the log of {settings.store().kind}; stop with Ctrl-C")
        while not stop.wait(1.0):
            pass
    typer.echo("stopped")


def load_demo_lines(settings: Any, url: str, *, employees: int, months: int,
                    seed: int) -> list[str]:
    """Load the demo into an empty store; lines to print: what was loaded and a token for
    each demo actor (or why nothing was loaded)."""
    from api.cli_demo import open_for_demo  # imported late: the demo is optional
    from api.demo import load_demo

    ledger, runtime = open_for_demo(settings)
    try:
        existing = ledger.recorder.max_notification_id() or 0
        if existing:
            return [f"the store already holds {existing} events; the demo was not loaded"]
        typer.echo(f"loading the demo ({employees} officers, {months} months)...", err=True)
        summary = load_demo(ledger, employees=employees, months=months, seed=seed)
        return _demo_lines(summary, runtime, url)
    finally:
        ledger.close()
        runtime.reads.db.close()


def _demo_lines(summary: Any, runtime: Any, url: str) -> list[str]:
    lines = [f"demo loaded: {summary.events} events, {summary.employees_registered} "
             f"employees, {summary.evaluations} evaluations (seed {summary.seed})",
             f"try: curl -H 'Authorization: Bearer <token>' "
             f"{url}/v1/evaluations/{summary.sample_evaluation_id}/explain"]
    for role, actor in sorted(summary.actors.items()):
        roles = [role] if role in _ROLES else ["employee"]
        token_text = runtime.tokens.issue(actor, roles)
        lines.append(f"{role:16} {actor}\n    {token_text}")
    return lines


_ROLES = {"admin", "rater", "employee", "peer", "citizen_channel", "inspector",
          "appeal_panel"}
