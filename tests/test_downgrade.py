"""``eqreg db downgrade REV [--force]``: a downgrade that would drop data is refused and explained."""
from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from registry import embedded, schema
from web.cli import main


@pytest.fixture
def scratch_url(database_url):
    """A database of its own (downgrading the shared test database would break other tests)."""
    url = make_url(database_url).set(database="eqreg_downgrade_test").render_as_string(hide_password=False)
    admin = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "eqreg_downgrade_test" WITH (FORCE)')
    embedded.ensure_database(url)
    schema.upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "eqreg_downgrade_test" WITH (FORCE)')


def _fill(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (username, role) VALUES ('zhangsan', 'bureau'), ('lisi', 'town')")
        conn.execute("INSERT INTO districts (code, name) VALUES ('370499', '测试区')")
        project = conn.execute("INSERT INTO projects (district_code, code, name, domain_code, stage, owner, geom, total_investment) VALUES "
                               "('370499', '2024-370499-01-01-100001', '测试项目', 'industry', 'construction', '测试单位', ST_SetSRID(ST_Point(117.1, 35.05), 4326), 100) "
                               "RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO progress_reports (project_id, district_code, reported_on, period, created_by) "
                     "VALUES (%s, '370499', '2025-06-30', '2025-06', 'zhangsan')", (project,))


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_downgrade_that_drops_progress_reports_and_users_is_refused_in_chinese(scratch_url):
    _fill(scratch_url)
    result = CliRunner().invoke(main, ["db", "downgrade", "0001_core_schema"], env={"DATABASE_URL": scratch_url})
    assert result.exit_code == 1
    assert "降级到 0001_core_schema 会删除数据" in result.output
    assert "表 progress_reports（1 行）" in result.output and "表 users（2 行）" in result.output
    assert "--force" in result.output
    assert schema.current_revision(scratch_url) == schema.head_revision()
    assert _count(scratch_url, "users") == 2 and _count(scratch_url, "progress_reports") == 1


def test_downgrade_that_drops_only_empty_tables_needs_no_force(scratch_url):
    result = CliRunner().invoke(main, ["db", "downgrade", "0002_accounts_and_rls"],
                                env={"DATABASE_URL": scratch_url})
    assert result.exit_code == 0, result.output
    assert schema.current_revision(scratch_url) == "0002_accounts_and_rls"


def test_forced_downgrade_drops_and_leaves_an_audit_entry(scratch_url):
    _fill(scratch_url)
    result = CliRunner().invoke(main, ["db", "downgrade", "0002_accounts_and_rls", "--force"],
                                env={"DATABASE_URL": scratch_url})
    assert result.exit_code == 0, result.output
    assert "已删除：表 progress_reports（1 行）" in result.output
    assert schema.current_revision(scratch_url) == "0002_accounts_and_rls"
    with psycopg.connect(scratch_url) as conn:
        details = conn.execute("SELECT details FROM audit_log WHERE action = 'db.downgrade'").fetchone()[0]
    assert details["dropped"] == [{"table": "progress_reports", "rows": 1, "column": None}]
