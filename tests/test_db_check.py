"""``eqreg db check`` / ``upgrade``: roles, grants, row-level security and the migration head."""
from __future__ import annotations

import subprocess

import psycopg
import pytest
from click.testing import CliRunner

from registry import backup, db_check, embedded
from spare_cluster import spare_cluster
from web.cli import main


@pytest.fixture(scope="module")
def server():
    with spare_cluster("check") as cluster:
        yield cluster


def test_the_expected_grants_and_policies_are_what_the_migrations_make(database_url):
    """When a migration changes eqreg_app's rights, db_check.APP_PRIVILEGES/APP_POLICIES must follow."""
    with psycopg.connect(database_url) as conn:
        granted = {}
        for table, privilege in conn.execute("""
                SELECT c.relname, p.privilege FROM pg_class c
                CROSS JOIN (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE')) p(privilege)
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
                  AND has_table_privilege('eqreg_app', c.oid, p.privilege) ORDER BY 1"""):
            granted.setdefault(table, set()).add(privilege)
        policies = {}
        for table, name in conn.execute("SELECT tablename, policyname FROM pg_policies "
                                        "WHERE 'eqreg_app' = ANY (roles) ORDER BY 1, 2"):
            policies.setdefault(table, []).append(name)
        definers = {signature.replace(" ", ""): public for signature, public in conn.execute(
            "SELECT p.oid::regprocedure::text, has_function_privilege('public', p.oid, 'EXECUTE') FROM pg_proc p "
            "WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef AND p.proname LIKE 'eqreg\\_%' "
            "AND has_function_privilege('eqreg_app', p.oid, 'EXECUTE')")}
    assert granted == {t: set(p) for t, p in db_check.APP_PRIVILEGES.items() if p}
    assert policies == {t: sorted(p) for t, p in db_check.APP_POLICIES.items()}
    assert definers == db_check.APP_DEFINER_FUNCTIONS


def test_check_of_a_migrated_database_finds_nothing(database_url):
    assert db_check.check(database_url, repair=False) == []


def _upgraded(server, name: str) -> str:
    """A new database on ``server`` made by ``eqreg db upgrade``; its URL."""
    url = server.url(name)
    embedded.ensure_database(url)
    assert CliRunner().invoke(main, ["db", "upgrade"], env={"DATABASE_URL": url}).exit_code == 0
    return url


def test_check_repairs_lost_grants_and_row_level_security(server):
    url = _upgraded(server, "eqreg_grants")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("REVOKE ALL ON projects FROM eqreg_app; GRANT DELETE ON users TO eqreg_app;"
                     "ALTER TABLE projects NO FORCE ROW LEVEL SECURITY; DROP POLICY projects_owner_all ON projects")

    found = CliRunner().invoke(main, ["db", "check", "--no-repair"], env={"DATABASE_URL": url})
    assert found.exit_code == 1
    assert "需处理：eqreg_app 缺少表 projects 的权限 SELECT、INSERT、UPDATE、DELETE" in found.output
    assert "需处理：eqreg_app 多出表 users 的权限 DELETE" in found.output
    assert "需处理：表 projects 的行级安全未对所有者强制" in found.output

    repaired = CliRunner().invoke(main, ["db", "check"], env={"DATABASE_URL": url})
    assert repaired.exit_code == 0, repaired.output
    assert "已修复：表 projects 缺少所有者 postgres 的全权策略" in repaired.output
    assert db_check.check(url, repair=False) == []


def test_check_marks_the_bounding_box_overlap_leakproof_again(server):
    """A restore or a PostGIS update loses the flag the maps' spatial index needs under RLS."""
    url = _upgraded(server, "eqreg_leakproof")
    overlaps = "SELECT proleakproof FROM pg_proc WHERE oid = 'geometry_overlaps(geometry,geometry)'::regprocedure"
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute(overlaps).fetchone()[0]
        conn.execute("ALTER FUNCTION geometry_overlaps(geometry, geometry) NOT LEAKPROOF")
    found = CliRunner().invoke(main, ["db", "check", "--no-repair"], env={"DATABASE_URL": url})
    assert found.exit_code == 1 and "LEAKPROOF" in found.output
    assert CliRunner().invoke(main, ["db", "check"], env={"DATABASE_URL": url}).exit_code == 0
    with psycopg.connect(url) as conn:
        assert conn.execute(overlaps).fetchone()[0]


def test_check_repairs_column_grants_users_and_progress_reports(server):
    url = _upgraded(server, "eqreg_user_grants")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON users TO eqreg_app; "
                     "REVOKE UPDATE (superseded_at, superseded_by) ON progress_reports FROM eqreg_app; "
                     "GRANT EXECUTE ON FUNCTION eqreg_verify_password(text, text) TO PUBLIC")
    repaired = CliRunner().invoke(main, ["db", "check"], env={"DATABASE_URL": url})
    assert "已修复：所有人（PUBLIC）都能执行函数 eqreg_verify_password(text,text)" in repaired.output
    assert "已修复：eqreg_app 多出表 users 的权限 SELECT" in repaired.output, repaired.output
    assert "已修复：eqreg_app 缺少表 progress_reports 的列权限 UPDATE（superseded_at、superseded_by）" in repaired.output
    with psycopg.connect(url) as conn:
        readable = dict(conn.execute(
            "SELECT column_name, has_column_privilege('eqreg_app', 'public.users', column_name, 'SELECT') "
            "FROM information_schema.columns WHERE table_name = 'users'").fetchall())
    assert readable.pop("password_hash") is False and readable and all(readable.values())
    assert db_check.check(url, repair=False) == []
    with psycopg.connect(url, autocommit=True) as conn:  # a hash-reading function from an old dump
        conn.execute("CREATE FUNCTION eqreg_password_hash(u text) RETURNS text LANGUAGE sql SECURITY DEFINER "
                     "AS $$ SELECT password_hash FROM users WHERE username = u $$")
    assert [f.problem for f in db_check.check(url, repair=False)] == [
        "多出以所有者权限运行的函数 eqreg_password_hash(text)"]


def test_upgrade_after_a_plain_pg_restore_recreates_the_role_and_names_the_lost_policies(
        web_data, committed, tmp_path):
    """The issue's case: pg_restore by hand on a server without eqreg_app, then eqreg db upgrade."""
    archive = tmp_path / "plain.dump"
    backup.backup(committed, archive)
    with spare_cluster("plain") as fresh:
        url = fresh.url("eqreg_plain")
        embedded.ensure_database(url)
        plain = subprocess.run([embedded.pg_program("pg_restore"), "--dbname", url, str(archive)],
                               capture_output=True, text=True)
        assert plain.returncode == 1 and 'role "eqreg_app" does not exist' in plain.stderr

        upgraded = CliRunner().invoke(main, ["db", "upgrade"], env={"DATABASE_URL": url})
        assert "已修复：缺少数据库角色 eqreg_app" in upgraded.output
        assert "已修复：eqreg_app 缺少表 projects 的权限" in upgraded.output
        assert "需处理：表 projects 缺少行级安全策略 projects_app_scope" in upgraded.output
        assert upgraded.exit_code == 1
