"""The app as users run it, for browser tests, scripts/check_sample_map.py and bench/map_page.py.

``Served`` starts ``eqreg serve --workers N`` (gunicorn, several processes) in a subprocess on a
free port of 127.0.0.1 over a given database; ``module_database`` makes a database for one test
module and drops it after (DESIGN §9); ``launch_chromium``, ``sign_in`` and ``Watched`` drive
Debian's Chromium through Playwright and record what a page requested and which scripts failed.

Used from outside pytest too: ``sys.path.insert(0, "<repo>/tests")`` then ``import served``.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import psycopg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    """``eqreg serve --workers N`` over ``database_url`` until ``stop()`` (or the ``with`` ends).

    ``env`` adds variables (e.g. ``EQREG_BASEMAPS``); ``EQREG_SECRET_KEY`` is removed so the
    workers must share the key kept under ``home``/var (a fresh temporary directory by default).
    """

    def __init__(self, database_url: str, *, workers: int = 3, env: dict | None = None,
                 home: Path | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._home = home
        self._tmp = None if home else tempfile.TemporaryDirectory(prefix="eqreg-served-")
        self.home = home or Path(self._tmp.name)
        self._log = tempfile.TemporaryFile()
        environment = {k: v for k, v in os.environ.items() if k != "EQREG_SECRET_KEY"}
        environment.update({"DATABASE_URL": database_url, "EQREG_HOME": str(self.home), **(env or {})})
        eqreg = Path(sys.executable).with_name("eqreg")
        self.process = subprocess.Popen(
            [str(eqreg), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
             "--threads", "4"], cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=self._log)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"eqreg serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                urllib.request.urlopen(self.base + "/login", timeout=2).close()
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"eqreg serve did not answer within {START_TIMEOUT_S} s:\n{self.log()}")

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # gunicorn's master stops its workers
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> "Served":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextmanager
def module_database(server_url: str, name: str) -> Iterator[str]:
    """A fresh database ``name`` on the server of ``server_url``, migrated to head; dropped after."""
    from registry import embedded, schema
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    admin = make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        embedded.ensure_database(url)
        schema.upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def sign_in(context, base_url: str, username: str, password: str, *, landing: str | None = None) -> None:
    """Sign in through the login form on a page of its own (closed after). ``landing``: the page
    to land on instead of the dashboard (which takes long at 10^6 projects, bench/map_tiles.py)."""
    page = context.new_page()
    page.goto(base_url + "/login" + (f"?next={landing}" if landing else ""))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.locator("form [type=submit]").first.click()
    if urlsplit(page.url).path == "/login":
        raise AssertionError(f"sign-in as {username} failed")
    page.close()


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1"


class Watched:
    """A page that records every request, uncaught error and console error."""

    def __init__(self, context, base_url: str):
        self.base = base_url
        self.page = context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("console", lambda message: message.type == "error"
                     and self.errors.append(f"console: {message.text}"))

    def open_map(self, path: str, timeout: int = 15000) -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_selector("html[data-map-ready]", timeout=timeout)
        self.page.wait_for_load_state("networkidle")

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def outside_requests(self) -> list[str]:
        return [u for u in self.requests if not is_local(u)]

    def assert_stayed_local(self) -> None:
        assert self.outside_requests() == [], self.outside_requests()
        assert self.errors == [], self.errors

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name))
