"""``eqreg db backup`` / ``restore`` onto a fresh server; ``eqreg db check`` (DESIGN §9 Operations)."""
from __future__ import annotations

import io
import subprocess

import openpyxl
import pyogrio
import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD
from registry import backup, db_check, embedded, exporting
from registry import db as registry_db
from registry.filters import ProjectFilters
from registry.scope import Scope
from spare_cluster import spare_cluster
from web.cli import main


@pytest.fixture(scope="module")
def fresh_server():
    """A new PostgreSQL cluster, as on a new machine: no eqreg_app role, no database."""
    with spare_cluster("restore") as cluster:
        yield cluster


def _exports(url: str) -> dict[str, bytes]:
    engine = registry_db.make_engine(url)
    try:
        with Session(engine) as session:
            out = {}
            for fmt in ("geojson", "csv", "xlsx"):
                buffer = io.BytesIO()
                exporting.export_projects(session, fmt, buffer, scope=Scope.system(), filters=ProjectFilters())
                out[fmt] = buffer.getvalue()
            return out
    finally:
        engine.dispose()


def _features(url: str, path) -> list[dict]:
    """The GeoPackage export's features as (properties, WKB) in file order."""
    engine = registry_db.make_engine(url)
    try:
        with Session(engine) as session:
            exporting.export_projects(session, "gpkg", path, scope=Scope.system(), filters=ProjectFilters())
    finally:
        engine.dispose()
    frame = pyogrio.read_dataframe(path)
    properties = frame.drop(columns="geometry").astype(object)
    rows = properties.where(properties.notna(), None).to_dict("records")  # NaN ≠ NaN; None == None
    return [{**row, "geometry": geometry.wkb} for row, geometry in zip(rows, frame.geometry)]


def _cells(workbook_bytes: bytes) -> list[list[tuple]]:
    book = openpyxl.load_workbook(io.BytesIO(workbook_bytes))
    return [[tuple(cell.value for cell in row) for row in sheet.iter_rows()] for sheet in book.worksheets]


def test_restore_on_fresh_server_keeps_every_export_and_lets_users_sign_in(
        web_data, make_user, committed, fresh_server, tmp_path):
    make_user("town", towns=["370499002"], username="yizhen")
    archive = tmp_path / "registry.dump"
    runner = CliRunner()
    assert runner.invoke(main, ["db", "backup", str(archive)]).exit_code == 0

    target = fresh_server.url("eqreg_restored")
    with psycopg.connect(fresh_server.url("postgres")) as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'eqreg_app'").fetchone()[0] == 0
    result = runner.invoke(main, ["db", "restore", str(archive)], env={"DATABASE_URL": target})
    assert result.exit_code == 0, result.output
    assert "已恢复 6 个项目、1 个用户" in result.output

    before, after = _exports(committed), _exports(target)
    assert after["geojson"] == before["geojson"] and b"370499002" in after["geojson"]
    assert after["csv"] == before["csv"]
    assert _cells(after["xlsx"]) == _cells(before["xlsx"])
    assert _features(target, tmp_path / "after.gpkg") == _features(committed, tmp_path / "before.gpkg")
    assert db_check.unresolved(db_check.check(target, repair=False)) == []

    # The app works against the restored copy: sign in by password, scoped by row-level security.
    from web.app import create_app
    app = create_app({"DATABASE_URL": target, "TESTING": True})
    try:
        client = app.test_client()
        token = client.post("/api/v1/auth/token", json={"username": "yizhen", "password": TEST_PASSWORD})
        assert token.status_code == 201, token.get_json()
        listed = client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token.get_json()['token']}"})
        assert listed.status_code == 200
        codes = sorted(item["code"][-6:] for item in listed.get_json()["items"])
        assert codes == ["100001", "100002", "100003"]  # 乙镇 only: not 甲街道's or 丙镇's own
    finally:
        app.extensions["eqreg.engine"].dispose()


def _restored_copy(source_url: str, server, name: str, tmp_path):
    """Back up ``source_url`` and restore it into a new database ``name`` on ``server``."""
    archive = tmp_path / "registry.dump"
    backup.backup(source_url, archive)
    target = server.url(name)
    backup.restore(target, archive)
    return archive, target


def test_restore_refuses_a_registry_that_has_data_unless_forced(web_data, committed, fresh_server, tmp_path):
    archive, target = _restored_copy(committed, fresh_server, "eqreg_occupied", tmp_path)
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("DELETE FROM projects WHERE code LIKE '%100001'")

    refused = CliRunner().invoke(main, ["db", "restore", str(archive)], env={"DATABASE_URL": target})
    assert refused.exit_code == 1
    assert "目标数据库已有 5 个项目" in refused.output and "--force" in refused.output
    assert backup.registry_size(target) == (5, 0)

    epoch = "SELECT epoch FROM registry_changes"
    with psycopg.connect(target) as conn:
        epoch_before = conn.execute(epoch).fetchone()[0]
    forced = CliRunner().invoke(main, ["db", "restore", "--force", str(archive)], env={"DATABASE_URL": target})
    assert forced.exit_code == 0, forced.output
    with psycopg.connect(target) as conn:  # a new epoch: nothing cached before the restore is served after it
        assert conn.execute(epoch).fetchone()[0] != epoch_before
    assert backup.registry_size(target) == (6, 0)
    assert db_check.check(target, repair=False) == []  # grants exactly as backed up, nothing extra
    with psycopg.connect(target) as conn:
        audited = conn.execute("SELECT details FROM audit_log WHERE action = 'db.restore' ORDER BY id DESC").fetchone()
    assert audited[0]["forced"] is True


def test_restore_rejects_a_file_that_is_not_a_backup(fresh_server, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("不是备份")
    result = CliRunner().invoke(main, ["db", "restore", str(junk)],
                                env={"DATABASE_URL": fresh_server.url("eqreg_junk")})
    assert result.exit_code == 1 and "不是 eqreg db backup 生成的备份文件" in result.output


def test_a_forced_restore_that_fails_half_way_leaves_the_database_as_it_was(
        web_data, committed, fresh_server, tmp_path):
    archive, target = _restored_copy(committed, fresh_server, "eqreg_half", tmp_path)
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("UPDATE projects SET name = '恢复前的名字'")
    # An uncompressed archive whose projects data holds bytes that are not UTF-8: the restore
    # fails in the middle of loading the data, after the old tables were dropped.
    plain = tmp_path / "plain.dump"
    subprocess.run([embedded.pg_program("pg_dump"), "--format=custom", "--compress=0", "--file", str(plain),
                    "--dbname", committed], check=True)
    name = "丙镇粮食烘干中心".encode()
    broken = tmp_path / "broken.dump"
    broken.write_bytes(plain.read_bytes().replace(name, b"\xff" * len(name)))

    result = CliRunner().invoke(main, ["db", "restore", "--force", str(broken)], env={"DATABASE_URL": target})
    assert result.exit_code == 1 and "恢复失败（数据库未改动）" in result.output
    with psycopg.connect(target) as conn:
        names = {name for (name,) in conn.execute("SELECT DISTINCT name FROM projects")}
    assert names == {"恢复前的名字"} and backup.registry_size(target) == (6, 0)


def test_a_backup_from_an_older_version_is_migrated_after_the_restore(fresh_server, tmp_path):
    from registry import schema
    older = fresh_server.url("eqreg_older_source")
    embedded.ensure_database(older)
    schema.upgrade(older, "0005_api_indexes_change_stamp")
    with psycopg.connect(older, autocommit=True) as conn:
        conn.execute("INSERT INTO users (username, role) VALUES ('laowang', 'admin')")
    archive = tmp_path / "older.dump"
    backup.backup(older, archive)

    target = fresh_server.url("eqreg_older_target")
    result = CliRunner().invoke(main, ["db", "restore", str(archive)], env={"DATABASE_URL": target})
    assert result.exit_code == 0, result.output
    assert "备份的表结构版本 0005_api_indexes_change_stamp 较旧，已升级到最新" in result.output
    assert schema.current_revision(target) == schema.head_revision()
    assert backup.registry_size(target) == (0, 1)
    assert db_check.check(target, repair=False) == []


def test_an_owner_that_is_not_a_superuser_backs_up_through_its_policies_and_never_a_partial_copy(
        fresh_server, tmp_path):
    from registry import schema
    with psycopg.connect(fresh_server.url("postgres"), autocommit=True) as conn:
        conn.execute("CREATE ROLE eqreg_owner LOGIN CREATEROLE")
        conn.execute("CREATE DATABASE eqreg_owned OWNER eqreg_owner")
    with psycopg.connect(fresh_server.url("eqreg_owned"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    owned = f"postgresql://eqreg_owner@127.0.0.1:{fresh_server.port}/eqreg_owned"
    schema.upgrade(owned)
    with psycopg.connect(owned, autocommit=True) as conn:
        conn.execute("INSERT INTO audit_log (actor, action, entity) VALUES ('cli', 'test', 'database')")

    assert CliRunner().invoke(main, ["db", "backup", str(tmp_path / "ok.dump")],
                              env={"DATABASE_URL": owned}).exit_code == 0
    with psycopg.connect(owned, autocommit=True) as conn:
        conn.execute("DROP POLICY audit_log_owner_all ON audit_log")
    refused = CliRunner().invoke(main, ["db", "backup", str(tmp_path / "partial.dump")], env={"DATABASE_URL": owned})
    assert refused.exit_code == 1 and "行级安全会让备份漏掉这些表中的数据：audit_log" in refused.output
    assert not (tmp_path / "partial.dump").exists()
