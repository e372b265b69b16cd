"""Migration 0008 (progress periods) on a database of its own: existing reports get the month of
their date, older reports of a month are marked superseded by the next, and the downgrade works."""
from __future__ import annotations

import psycopg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from registry import embedded, schema

BEFORE = "0005_api_indexes_change_stamp"


@pytest.fixture
def fresh_url(database_url):
    url = make_url(database_url).set(database="eqreg_test_periods_migration")
    admin = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS eqreg_test_periods_migration WITH (FORCE)")
        conn.execute("CREATE DATABASE eqreg_test_periods_migration")
    rendered = url.render_as_string(hide_password=False)
    embedded.ensure_database(rendered)
    yield rendered
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE eqreg_test_periods_migration WITH (FORCE)")


def test_upgrade_backfills_periods_and_supersedes_duplicates_and_downgrade_restores(fresh_url):
    schema.upgrade(fresh_url, BEFORE)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("INSERT INTO districts (code, name) VALUES ('370499', '测试区')")
        project = conn.execute(
            "INSERT INTO projects (district_code, code, name, domain_code, owner, geom, total_investment, stage) "
            "VALUES ('370499', '2024-370499-01-01-100001', 'p', 'industry', 'o', "
            "ST_GeomFromText('POINT(117 35)', 4326), 100, 'construction') RETURNING id").fetchone()[0]
        for day, value in (("2025-06-10", 10), ("2025-06-30", 30), ("2025-06-20", 20), ("2025-07-05", 40)):
            conn.execute("INSERT INTO progress_reports (project_id, district_code, reported_on, "
                         "completed_investment, created_by) VALUES (%s, '370499', %s, %s, 't')", (project, day, value))
    schema.upgrade(fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        rows = conn.execute("SELECT id, period, superseded_at IS NOT NULL, superseded_by "
                            "FROM progress_reports ORDER BY id").fetchall()
    # ids 1 (06-10), 2 (06-30), 3 (06-20), 4 (07-05): 06-10 → 06-20 → 06-30 stays current
    assert rows == [(1, "2025-06", True, 3), (2, "2025-06", False, None), (3, "2025-06", True, 2),
                    (4, "2025-07", False, None)]
    command.downgrade(schema.alembic_config(fresh_url), BEFORE)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'progress_reports'")}
        assert not columns & {"period", "superseded_at", "superseded_by"}
        assert conn.execute("SELECT count(*) FROM progress_reports").fetchone()[0] == 4
    schema.upgrade(fresh_url)
