"""Database outages: 503 with Retry-After (JSON for the API, the Chinese page for browsers), never a
500; liveness vs readiness; a read that loses its pooled connection is retried once."""
from __future__ import annotations

import logging
import os

import psycopg
import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, sign_in
from registry import accounts, embedded, schema
from registry import db as registry_db
from spare_cluster import spare_cluster
from web.database import pool_limits


@pytest.fixture(scope="module")
def outage_server():
    """A server of its own to stop and start (the suite's database stays up)."""
    with spare_cluster("outage") as cluster:
        url = cluster.url("eqreg_outage")
        embedded.ensure_database(url)
        schema.upgrade(url)
        engine = registry_db.make_engine(url)
        with Session(engine) as session:
            accounts.create_user(session, actor="test", role="bureau", username="fagai", password=TEST_PASSWORD)
        engine.dispose()
        yield cluster, url


@pytest.fixture
def outage_app(outage_server):
    from web.app import create_app
    cluster, url = outage_server
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    yield app
    app.extensions["eqreg.engine"].dispose()
    cluster.start()


def test_database_down_is_503_with_retry_after_for_the_api_and_the_pages(outage_server, outage_app):
    cluster, url = outage_server
    api = outage_app.test_client()
    token = api.post("/api/v1/auth/token", json={"username": "fagai", "password": TEST_PASSWORD}).get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    engine = registry_db.make_engine(url)
    with Session(engine) as session:
        browser = sign_in(outage_app, accounts.find_account(session, "fagai"))
    engine.dispose()
    assert api.get("/api/v1/projects", headers=bearer).status_code == 200
    assert browser.get("/projects").status_code == 200

    cluster.stop()
    response = api.get("/api/v1/projects", headers=bearer)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert response.get_json()["error"]["message"] == "数据库暂时无法访问，请稍后重试。"

    page = browser.get("/projects", headers={"Accept": "text/html"})
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    body = page.get_data(as_text=True)
    assert "数据库暂时无法访问，请稍后重试。" in body and "Internal Server Error" not in body

    # an anonymous sign-in page is made without the database; keeping its session fails quietly
    login = outage_app.test_client().get("/login", headers={"Accept": "text/html"})
    assert login.status_code in (200, 503) and "Internal Server Error" not in login.get_data(as_text=True)

    assert outage_app.test_client().get("/api/v1/health").status_code == 200  # liveness: the process
    ready = outage_app.test_client().get("/api/v1/health/ready")
    assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"

    cluster.start()
    assert outage_app.test_client().get("/api/v1/health/ready").get_json() == {"status": "ok", "database": "ok"}
    assert api.get("/api/v1/projects", headers=bearer).status_code == 200  # the stale pool was replaced


def _terminate(application_name: str, database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = %s", (application_name,)).fetchone()[0]


def test_a_read_whose_pooled_connection_was_terminated_is_retried_once(web_data, committed, make_user, caplog):
    from web.app import create_app
    name = "eqreg_retry_test"
    app = create_app({"DATABASE_URL": f"{committed}?application_name={name}", "TESTING": True,
                      "DB_POOL_SIZE": 1, "DB_MAX_OVERFLOW": 0})
    try:
        client = sign_in(app, make_user("bureau"))
        assert client.get("/api/v1/projects").status_code == 200
        assert _terminate(name, committed) == 1

        with caplog.at_level(logging.WARNING, logger="web.database"):
            response = client.get("/api/v1/projects")
        assert response.status_code == 200 and response.get_json()["total"] == 5
        assert any("retrying once" in record.getMessage() for record in caplog.records)
    finally:
        app.extensions["eqreg.engine"].dispose()


def test_a_write_whose_connection_was_terminated_is_not_retried_but_answered_503(
        web_data, committed, make_user):
    from web.app import create_app
    name = "eqreg_write_test"
    app = create_app({"DATABASE_URL": f"{committed}?application_name={name}", "TESTING": True,
                      "DB_POOL_SIZE": 1, "DB_MAX_OVERFLOW": 0})
    try:
        client = sign_in(app, make_user("bureau"))
        project = web_data["2024-370499-01-01-100004"]
        etag = client.get(f"/api/v1/projects/{project}").headers["ETag"]
        assert _terminate(name, committed) == 1
        response = client.patch(f"/api/v1/projects/{project}", json={"name": "改过的名字"},
                                headers={"If-Match": etag})
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert client.get(f"/api/v1/projects/{project}").get_json()["name"] == "丙镇粮食烘干中心"
    finally:
        app.extensions["eqreg.engine"].dispose()


@pytest.mark.parametrize("config, limits", [
    ({}, (10, 20)),
    ({"DB_WORKERS": 3, "DB_POOL_SIZE": 16, "DB_MAX_OVERFLOW": 20}, (16, 10)),  # 3 × 26 ≤ 80
    ({"DB_WORKERS": 4, "DB_POOL_SIZE": 32, "DB_CONNECTIONS": 40}, (10, 0)),
    ({"DB_WORKERS": 8, "DB_CONNECTIONS": 4}, (1, 0)),
])
def test_workers_share_the_connection_budget(config, limits):
    assert pool_limits(config) == limits
    workers = config.get("DB_WORKERS", 1)
    assert workers * sum(limits) <= max(config.get("DB_CONNECTIONS", 80), workers)


def test_serve_gives_each_worker_its_share_of_the_budget(monkeypatch):
    from web.cli.serve import share_connections
    for name in ("EQREG_DB_WORKERS", "EQREG_DB_POOL_SIZE", "EQREG_DB_CONNECTIONS"):
        monkeypatch.delenv(name, raising=False)
    share_connections(workers=3, threads=16)
    config = {"DB_WORKERS": os.environ["EQREG_DB_WORKERS"], "DB_POOL_SIZE": os.environ["EQREG_DB_POOL_SIZE"]}
    pool, overflow = pool_limits(config)
    assert (pool, overflow) == (16, 10) and 3 * (pool + overflow) <= 80


def test_every_pooled_connection_busy_is_503_after_the_pool_timeout(web_data, committed, make_user):
    from web.app import create_app
    app = create_app({"DATABASE_URL": committed, "TESTING": True, "DB_POOL_SIZE": 1, "DB_MAX_OVERFLOW": 0,
                      "DB_POOL_TIMEOUT": 0.2})
    try:
        client = sign_in(app, make_user("bureau"))
        assert client.get("/api/v1/projects").status_code == 200
        with app.extensions["eqreg.engine"].connect():  # someone else holds the only connection
            response = client.get("/api/v1/projects")
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert response.get_json()["error"]["message"] == "服务器繁忙（数据库连接已用满），请稍后重试。"
    finally:
        app.extensions["eqreg.engine"].dispose()


def test_the_cli_says_in_chinese_when_the_database_is_unreachable():
    from click.testing import CliRunner

    from spare_cluster import free_port
    from web.cli import main
    result = CliRunner().invoke(main, ["db", "check"],
                                env={"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/eqreg"})
    assert result.exit_code == 1
    assert "错误：无法访问数据库" in result.output and "Traceback" not in result.output
