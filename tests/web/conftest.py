"""Fixtures of the web view's tests: a served demo for the browser, and the browser itself.

The browser is Debian's Chromium (/usr/bin/chromium) driven by the `playwright` package
(the project's `test` extra); Playwright's own browser download does not work on these
machines. When Chromium is missing and the tests run as root, it is installed with
apt-get once; when it cannot be had, the browser tests are skipped with the reason, and
fail under CI=true (CI must never pass by skipping them).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.settings import Settings
from tests.conftest import REPO_ROOT, UNDER_CI

CHROMIUM = Path("/usr/bin/chromium")
#: Without the background-networking flags Chromium's own connections are refused, many
#: at a time, by these machines' closed network (docs/web.md).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO_ROOT / "test-output" / "web"
#: The demo the browser tests read: small enough to load in seconds, with every kind of
#: event (appeals, a calibration, a correction after a reopening).
DEMO_EMPLOYEES = 12
DEMO_MONTHS = 2

_browser_checked: list[str | None] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real headless Chromium "
                                       "(skipped when none can be had, failed under CI=true)")


def _install_chromium() -> str | None:
    """Install Debian's chromium; None on success, else why not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"{CHROMIUM} is missing and the tests do not run as root to install it " \
               "(apt-get install chromium)"
    if shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and there is no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"`{' '.join(command)}` failed: {error}"
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {done.stderr.strip()[-400:]}"
    return None if CHROMIUM.exists() else f"apt-get installed chromium but {CHROMIUM} " \
                                          "is still missing"


def _install_playwright() -> str | None:
    """The `playwright` package of the test extra, installed if this environment lacks it
    (only its driver is used; it downloads no browser)."""
    if importlib.util.find_spec("playwright") is not None:
        return None
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "playwright"],
                              capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"pip install playwright failed: {error}"
    if done.returncode != 0:
        return f"pip install playwright failed: {done.stderr.strip()[-400:]}"
    importlib.invalidate_caches()
    return None if importlib.util.find_spec("playwright") else "playwright did not import"


def browser_unavailable_reason() -> str | None:
    """None when Chromium and Playwright are ready (installed here if need be)."""
    if not _browser_checked:
        reason = None if CHROMIUM.exists() else _install_chromium()
        if reason is None:
            reason = _install_playwright()
        _browser_checked.append(reason)
    return _browser_checked[0]


def require_browser() -> None:
    reason = browser_unavailable_reason()
    if reason is None:
        return
    if UNDER_CI:
        pytest.fail(f"CI=true but no browser for the web tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright, for one module."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot under test-output/web/ (gitignored) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# --- the served demo ---------------------------------------------------------------------

@dataclass
class ServedDemo:
    base_url: str
    app: Any
    runtime: Any
    summary: Any
    settings: Settings

    def token(self, role: str, actor: str | None = None) -> str:
        return self.runtime.tokens.issue(actor or self.summary.actors[role], [role])


def free_socket() -> socket.socket:
    """A listening socket on a free port of 127.0.0.1, handed to uvicorn as it is (no
    race between choosing a port and binding it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def serve(app: Any) -> tuple[str, Any, threading.Thread]:
    """Run `app` with uvicorn in a background thread; (base URL, server, thread)."""
    import uvicorn

    from api.http_protocol import GatheringHttpToolsProtocol

    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           http=GatheringHttpToolsProtocol))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="web-test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def wait_until_settled(app: Any, timeout: float = 30.0) -> None:
    """The read models at the end of the log, and a signed checkpoint covering it."""
    runtime = app.state.kinerja
    end = runtime.ledger.recorder.max_notification_id() or 0
    if not runtime.runner.wait_for(end, timeout):
        raise RuntimeError(f"read models did not reach position {end}")
    merkle = app.state.merkle_ledger
    deadline = time.monotonic() + timeout
    while True:
        try:
            if merkle.checkpoint().size >= end:
                return
        except Exception:  # noqa: BLE001 - no checkpoint yet: the follower publishes soon
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("no checkpoint covers the demo")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def served_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDemo]:
    """The demo (12 officers, 2 months) in a temporary SQLite file, served by the real
    app with uvicorn on a free port of 127.0.0.1."""
    from api.app import create_app
    from api.cli_demo import open_for_demo
    from api.demo import load_demo

    folder = tmp_path_factory.mktemp("web-demo")
    settings = Settings(database_url=f"sqlite:///{folder / 'ledger.sqlite3'}",
                        data_dir=folder / "data")
    ledger, runtime = open_for_demo(settings)
    try:
        summary = load_demo(ledger, employees=DEMO_EMPLOYEES, months=DEMO_MONTHS, seed=7)
    finally:
        ledger.close()
        runtime.reads.db.close()
    app = create_app(settings)
    base_url, server, thread = serve(app)
    try:
        wait_until_settled(app)
        yield ServedDemo(base_url, app, app.state.kinerja, summary, settings)
    finally:
        server.should_exit = True
        thread.join(30)
