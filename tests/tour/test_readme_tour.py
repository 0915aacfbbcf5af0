"""The README's tour, run as written against `kinerja serve --demo` (a small demo).

The server is started with the README's first command's final step, on a fresh SQLite
store; every shell block of the tour then runs in one bash session and must succeed.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KINERJA = Path(sys.executable).parent / "kinerja"


def tour_blocks() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    tour = readme.split("## Five-minute tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", tour, flags=re.S)


def setup_commands() -> list[str]:
    setup = (REPO / "README.md").read_text(encoding="utf-8").split("## Set up", 1)[1]
    return re.findall(r"```sh\n(.*?)```", setup.split("\n## ", 1)[0], flags=re.S)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def demo_server(tmp_path):
    port = free_port()
    env = {**os.environ, "KINERJA_DATA_DIR": str(tmp_path / "data"),
           "KINERJA_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [str(KINERJA), "serve", "--demo", "--demo-employees", "12", "--demo-months", "2",
         "--port", str(port)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"server exited: {(tmp_path / 'serve.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the server did not answer /healthz in time")
        yield url, env
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_the_readme_has_exactly_two_setup_commands_the_first_serving_the_demo():
    commands = setup_commands()
    assert len(commands) == 2
    assert commands[0].strip().endswith("kinerja serve --demo")
    assert commands[1].strip().endswith(".venv/bin/pytest")


def test_every_tour_command_works_against_the_served_demo(demo_server, tmp_path):
    url, env = demo_server
    work = tmp_path / "tour"
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.executable).parents[1])
    script = "set -euo pipefail\n" + "\n".join(tour_blocks())
    # curl -f would hide bodies; instead every curl's status must be 2xx.
    script = script.replace("curl -s ", "curl -sS --fail-with-body ")
    assert shutil.which("curl"), "the tour needs curl"
    result = subprocess.run(["bash", "-c", script], cwd=work, env={**env, "API": url},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert '"evaluation_id"' in result.stdout
    assert '"inputs"' in result.stdout
    assert "ok:" in result.stdout  # kinerja verify's summary
    assert (work / "bundle.json").stat().st_size > 1000
    assert "<html" in (work / "bundle.html").read_text(encoding="utf-8").lower()
