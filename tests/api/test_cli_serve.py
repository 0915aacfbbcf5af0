"""`kinerja token`, the token secret on disk, and `kinerja serve --demo`'s loading step."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.auth import Role, TokenService, load_secret
from api.cli import app as cli
from api.settings import Settings
from tests.api.conftest import open_api


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KINERJA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KINERJA_DATABASE_URL", f"sqlite:///{tmp_path / 'l.sqlite3'}")
    monkeypatch.delenv("KINERJA_JWT_SECRET", raising=False)
    return tmp_path / "data"


def test_kinerja_token_prints_a_token_the_api_accepts(env: Path) -> None:
    result = CliRunner().invoke(cli, ["token", "--actor", "hr:siti", "--role", "admin",
                                      "--role", "inspector", "--ttl", "30m"])
    assert result.exit_code == 0, result.output
    principal = TokenService(load_secret(Settings())).verify(result.output.strip())
    assert principal.actor == "hr:siti"
    assert principal.roles == {Role.ADMIN, Role.INSPECTOR}


def test_the_secret_is_made_once_readable_by_its_owner_only(env: Path) -> None:
    first = load_secret(Settings())
    mode = stat.S_IMODE(os.stat(env / "jwt-secret").st_mode)
    assert mode == 0o600 and len(first) >= 32
    assert load_secret(Settings()) == first


def test_the_environment_secret_overrides_the_file_and_must_be_long(
        env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINERJA_JWT_SECRET", "s" * 40)
    assert load_secret(Settings()) == b"s" * 40
    assert not (env / "jwt-secret").exists()
    monkeypatch.setenv("KINERJA_JWT_SECRET", "short")
    result = CliRunner().invoke(cli, ["token", "--actor", "a", "--role", "admin"])
    assert result.exit_code == 2 and "jwt_secret" in result.output


def test_kinerja_token_refuses_an_unknown_role_or_lifetime(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["token", "--actor", "a", "--role", "boss"]).exit_code == 2
    assert runner.invoke(cli, ["token", "--actor", "a", "--role", "admin",
                               "--ttl", "soon"]).exit_code == 2


def test_serve_demo_loads_an_empty_store_once_and_mints_a_token_per_role(
        tmp_path: Path) -> None:
    from api.cli_serve import load_demo_lines
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'l.sqlite3'}",
                        data_dir=tmp_path / "data")
    apis = open_api(settings)
    api = next(apis)
    app = api.client.app
    lines = load_demo_lines(settings, "http://127.0.0.1:8000", employees=6, months=1,
                            seed=3)
    assert lines[0].startswith("demo loaded")
    tokens = [line.split()[-1] for line in lines[2:]]
    roles = set()
    for token in tokens:
        roles |= api.runtime.tokens.verify(token).roles
    assert roles == set(Role)
    again = load_demo_lines(settings, "http://127.0.0.1:8000", employees=6, months=1,
                            seed=3)
    assert "not loaded" in again[0]
    apis.close()
