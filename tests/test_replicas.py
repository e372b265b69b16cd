"""Read replicas against a real streaming standby (scripts/replica.sh, issue 14 item 3).

A primary and a standby made with pg_basebackup on free ports, for this module: reads go to the
standby, row-level security holds there, a client reads its own writes (the standby's replay is
paused to make the point: only the primary has the write), cached figures follow the server they
are read from, and the app still answers when the standby is gone.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from conftest import SAMPLE_PROJECTS, insert_grid_district, insert_sample_projects, token_for
from registry import db as registry_db
from registry import embedded, schema
from spare_cluster import free_port
from web import replicas
from web.api import response_cache

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "replica.sh"
SMART_FACTORY = "2024-370499-01-01-100001"  # in 乙镇 (370499002)
GRAIN_DRYER = "2024-370499-01-01-100004"  # in 丙镇 (370499003) only
BEGIN_MARK = "set_config('eqreg.session'"  # every request transaction starts with it


class Pair:
    """The running primary + standby, their URLs and one API token per user of the tests."""

    def __init__(self, root: Path, env: dict):
        self.root, self.env = root, env
        out = self.script("start")
        urls = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.primary, self.standby = urls["DATABASE_URL"], urls["DATABASE_REPLICA_URLS"]
        self.tokens: dict[str, str] = {}

    def script(self, action: str) -> str:
        return subprocess.run(["bash", str(SCRIPT), action, str(self.root)], env=self.env, check=True,
                              capture_output=True, text=True, timeout=300).stdout

    def superuser(self, url: str):
        return psycopg.connect(url, autocommit=True)

    def caught_up(self) -> None:
        """Wait until the standby has replayed everything the primary has now."""
        with self.superuser(self.primary) as conn:
            lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        with self.superuser(self.standby) as conn:
            for _ in range(1200):
                if conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
                    return
                time.sleep(0.05)
        raise AssertionError("the standby did not catch up")

    def replay(self, running: bool) -> None:
        with self.superuser(self.standby) as conn:
            conn.execute("SELECT pg_wal_replay_resume()" if running else "SELECT pg_wal_replay_pause()")

    def pg_ctl(self, *args: str) -> None:
        command = [embedded.pg_program("pg_ctl"), "-D", str(self.root / "standby"), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def pair():
    root = embedded.home() / f"replica-test-{os.getpid()}"
    env = {**os.environ, "EQREG_PRIMARY_PORT": str(free_port()), "EQREG_STANDBY_PORT": str(free_port()),
           "EQREG_REPLICA_DB": "eqreg_replica_test"}
    try:
        pair = Pair(root, env)
        schema.upgrade(pair.primary)
        engine = registry_db.make_engine(pair.primary)
        with Session(engine) as session:
            insert_grid_district(session)
            insert_sample_projects(session)
            session.commit()
            for name, role, towns in [("bureau", "bureau", ()), ("other_bureau", "bureau", ()),
                                      ("yizhen", "town", ("370499002",))]:
                pair.tokens[name] = token_for(session, role, towns, username=name)
            session.commit()
        engine.dispose()
        pair.caught_up()
        yield pair
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(root)], env=env, capture_output=True, timeout=300)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def make_app(pair):
    """Factory: the app over the pair; ``app.begins`` counts request transactions per server."""
    from web.app import create_app
    made = []

    def make(**config):
        app = create_app({"DATABASE_URL": pair.primary, "DATABASE_REPLICA_URLS": pair.standby,
                          "TESTING": True, **config})
        app.begins = Counter()
        for name, engine in [("primary", app.extensions["eqreg.engine"]),
                             ("standby", app.extensions["eqreg.replicas"].members[0].engine)]:
            event.listen(engine, "before_cursor_execute",
                         lambda *args, name=name: app.begins.update([name]) if BEGIN_MARK in args[2] else None)
        made.append(app)
        return app
    yield make
    for app in made:
        app.extensions["eqreg.engine"].dispose()
        app.extensions["eqreg.replicas"].dispose()


def client(app, pair, user: str):
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {pair.tokens[user]}"
    return test_client


def codes(response) -> set[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return {item["code"] for item in response.get_json()["items"]}


def project_id(app, pair, code: str) -> int:
    items = client(app, pair, "bureau").get(f"/api/v1/projects?q={code}").get_json()["items"]
    return next(item["id"] for item in items if item["code"] == code)


def test_reads_go_to_the_standby_and_writes_to_the_primary(make_app, pair):
    app = make_app()
    bureau = client(app, pair, "bureau")
    live = {code for code, *_rest, deleted in SAMPLE_PROJECTS if not deleted}
    assert codes(bureau.get("/api/v1/projects?per_page=100")) == live
    assert bureau.get("/api/v1/stats?group_by=domain").status_code == 200
    assert app.begins["standby"] == 2 and app.begins["primary"] == 0


def test_row_level_security_holds_on_the_standby(make_app, pair):
    # The database's own wall, asked directly: the standby shows a town's token what the primary does.
    seen = {}
    for name, url in [("primary", pair.primary), ("standby", pair.standby)]:
        with pair.superuser(url) as conn, conn.transaction():
            conn.execute("SET LOCAL ROLE eqreg_app")
            conn.execute("SELECT set_config('eqreg.session', %s, true)", (pair.tokens["yizhen"],))
            seen[name] = {row[0] for row in conn.execute("SELECT code FROM projects WHERE deleted_at IS NULL")}
    assert seen["standby"] == seen["primary"] and SMART_FACTORY in seen["standby"]
    assert GRAIN_DRYER not in seen["standby"]
    # And through the app, read from the standby.
    app = make_app()
    assert codes(client(app, pair, "yizhen").get("/api/v1/projects?per_page=100")) == seen["primary"]
    assert app.begins["standby"] == 1 and app.begins["primary"] == 0


def test_a_client_reads_its_own_write_while_the_standby_lags(make_app, pair):
    app = make_app()
    writer, other = client(app, pair, "bureau"), client(app, pair, "other_bureau")
    factory = project_id(app, pair, SMART_FACTORY)
    before = other.get("/api/v1/stats?group_by=domain").get_json()["totals"]["total_investment"]
    response = writer.get(f"/api/v1/projects/{factory}")
    old_name = response.get_json()["name"]
    pair.replay(running=False)  # from now on only the primary has new writes
    try:
        changed = writer.patch(f"/api/v1/projects/{factory}", headers={"If-Match": response.headers["ETag"]},
                               json={"name": old_name + "（已改）", "total_investment": 1500})
        assert changed.status_code == 200, changed.get_data(as_text=True)
        begins = app.begins.copy()
        # The writer reads from the primary; the other client still from the (paused) standby.
        assert writer.get(f"/api/v1/projects/{factory}").get_json()["name"] == old_name + "（已改）"
        assert writer.get("/api/v1/stats?group_by=domain").get_json()["totals"]["total_investment"] == before + 500
        assert other.get(f"/api/v1/projects/{factory}").get_json()["name"] == old_name
        # The cached figures are those of the server read: the standby's stamp lags with its data.
        # (Without the writer's cached answer, which is at the primary's stamp and right for all.)
        response_cache.clear()
        assert other.get("/api/v1/stats?group_by=domain").get_json()["totals"]["total_investment"] == before
        assert app.begins - begins == Counter(primary=2, standby=2)
        # The standby's older answer is not kept under the primary's newer stamp.
        assert writer.get("/api/v1/stats?group_by=domain").get_json()["totals"]["total_investment"] == before + 500
    finally:
        pair.replay(running=True)
    pair.caught_up()
    begins = app.begins.copy()
    assert other.get(f"/api/v1/projects/{factory}").get_json()["name"] == old_name + "（已改）"
    assert other.get("/api/v1/stats?group_by=domain").get_json()["totals"]["total_investment"] == before + 500
    # Caught up: the writer's reads go back to the standby.
    assert writer.get(f"/api/v1/projects/{factory}").get_json()["name"] == old_name + "（已改）"
    # (the figures came from the response cache: the writer's answer, kept at the same stamp)
    assert app.begins - begins == Counter(standby=2)


@pytest.fixture
def uncached_api(monkeypatch):
    """API answers not kept (web/api/response_cache.py): each request below must reach a server."""
    monkeypatch.setattr(response_cache, "_store", lambda _key, body: ('"uncached"', body))


def test_the_app_answers_when_the_standby_goes_away(make_app, pair, caplog, uncached_api):
    app = make_app(DB_REPLICA_RETRY_SECONDS=3600)
    bureau = client(app, pair, "bureau")
    expected = codes(bureau.get("/api/v1/projects?per_page=100"))  # a pooled standby connection
    assert app.begins == Counter(standby=1)
    pair.pg_ctl("-m", "immediate", "-w", "stop")
    try:
        with caplog.at_level(logging.WARNING):
            assert codes(bureau.get("/api/v1/projects?per_page=100")) == expected  # dies mid-read
            assert codes(bureau.get("/api/v1/projects?per_page=100")) == expected  # skipped now
        assert "read replica" in caplog.text
        assert app.begins["primary"] == 2
        # A fresh app meets a standby that refuses connections, and reads from the primary too:
        # first for a client that just wrote (asking the standby how far it has replayed fails)…
        fresh = make_app()
        writer = client(fresh, pair, "bureau")
        writer.set_cookie(replicas.STICKY_COOKIE, "1")
        assert codes(writer.get("/api/v1/projects?per_page=100")) == expected
        # …then for anyone (the standby is being skipped).
        assert codes(client(fresh, pair, "other_bureau").get("/api/v1/projects?per_page=100")) == expected
        assert fresh.begins == Counter(primary=2)
    finally:
        pair.script("start")
    pair.caught_up()
