"""Shared fixtures: a real PostGIS database migrated to head, one rolled-back transaction per test.

The test database is ``$EQREG_TEST_DB`` (default ``eqreg_test``) on the server of ``DATABASE_URL``,
or on the embedded cluster when that is unset. It is dropped and migrated afresh per session.
"""
from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from registry import db as registry_db
from registry import embedded, schema

FIXTURES = Path(__file__).parent / "fixtures"

# 测试区 (fictional, code 370499): three 0.1° × 0.1° towns side by side, west to east.
GRID_DISTRICT = "370499"
GRID_TOWNS = [("370499001", "甲街道", 117.0), ("370499002", "乙镇", 117.1), ("370499003", "丙镇", 117.2)]


@pytest.fixture(scope="session")
def database_url() -> str:
    base = os.environ.get("DATABASE_URL") or embedded.start()
    url = make_url(base).set(database=os.environ.get("EQREG_TEST_DB", "eqreg_test"))
    test_url = url.render_as_string(hide_password=False)
    admin = make_url(base).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{url.database}"')
    embedded.ensure_database(test_url)
    schema.upgrade(test_url)
    return test_url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = registry_db.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine):
    """A session inside a transaction that is rolled back after the test; commits are savepoints."""
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint",
                          expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


@pytest.fixture
def committed(engine, database_url, monkeypatch):
    """For code that opens its own connections (CLI, web server): real commits, wiped afterwards."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    yield database_url
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE project_towns, projects, import_batches, towns, districts, audit_log "
                          "RESTART IDENTITY CASCADE"))


def insert_grid_district(session: Session) -> None:
    """Add 测试区 and its three square towns (EPSG:4326) to the session's transaction."""
    session.execute(text("INSERT INTO districts (code, name) VALUES (:code, '测试区')"),
                    {"code": GRID_DISTRICT})
    for code, name, west in GRID_TOWNS:
        session.execute(text("""
            INSERT INTO towns (district_code, code, name, geom, area_km2)
            SELECT :district, :code, :name, g, ST_Area(g::geography) / 1e6
            FROM ST_Multi(ST_MakeEnvelope(:west, 35.0, :east, 35.1, 4326)) g"""),
            {"district": GRID_DISTRICT, "code": code, "name": name, "west": west, "east": west + 0.1})
    session.execute(text("""UPDATE districts SET geom = (SELECT ST_Multi(ST_Union(geom)) FROM towns
                            WHERE district_code = :d) WHERE code = :d"""), {"d": GRID_DISTRICT})


@pytest.fixture
def grid_district(db) -> str:
    insert_grid_district(db)
    return GRID_DISTRICT
