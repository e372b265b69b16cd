"""Row-level security for district-limited scopes at province scale (migration 0020).

A province viewer reads projects, shares and progress reports without the list of every visible
project (``eqreg_visible_projects()``) being built: when its districts cover every district the
policies' first arm (``eqreg_sees_every_project()``) holds; otherwise the shares and reports test
the districts' projects (``eqreg_district_projects()``). Plan shapes, not timings: the nodes that
call those functions are counted as executed or not in ``EXPLAIN ANALYZE``.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from conftest import insert_grid_district, insert_other_districts, insert_sample_projects, token_for
from registry.scope import present_secret

TABLES = ("projects", "project_towns", "progress_reports")


@pytest.fixture
def province(db) -> None:
    """测试区, 邻区 (city 3704) and 远区 (city 3715), all of province 37, one report per project."""
    insert_grid_district(db)
    insert_sample_projects(db)
    insert_other_districts(db)
    db.execute(text("INSERT INTO progress_reports (project_id, district_code, reported_on, period, created_by) "
                    "SELECT id, district_code, '2025-06-30', '2025-06', 'test' FROM projects"))


def _add_district_of_province_41(db) -> int:
    db.execute(text("INSERT INTO districts (code, name) VALUES ('410101', '外省区')"))
    project = db.scalar(text("""
        INSERT INTO projects (district_code, code, name, domain_code, owner, geom, total_investment,
                              completed_investment, stage)
        VALUES ('410101', '2024-410101-01-01-300001', '外省工厂', 'municipal', '外省单位',
                ST_GeomFromText('POINT(113.6 34.7)', 4326), 100, 10, 'construction')
        RETURNING id"""))
    db.execute(text("INSERT INTO progress_reports (project_id, district_code, reported_on, period, created_by) "
                    "VALUES (:id, '410101', '2025-06-30', '2025-06', 'test')"), {"id": project})
    return project


def _counts(db, where: str = "TRUE") -> dict[str, int]:
    return {table: db.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}")) for table in TABLES}


def _become(db, secret: str) -> None:
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_secret(db, secret)


def _executed_calls(db, statement: str) -> dict[str, int]:
    """Per scope function, how many times a plan node calling it ran (``EXPLAIN ANALYZE``)."""
    plan = db.scalar(text(f"EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) {statement}"))
    plan = json.loads(plan) if isinstance(plan, str) else plan
    loops = {"eqreg_visible_projects": 0, "eqreg_district_projects": 0}

    def walk(node: dict) -> None:
        for name in loops:
            if any(f"{name}()" in output for output in node.get("Output", [])):
                loops[name] += node["Actual Loops"]
        for child in node.get("Plans", []):
            walk(child)
    walk(plan[0]["Plan"])
    return loops


def test_a_province_viewer_whose_province_is_everything_builds_no_project_list(db, province):
    everything = _counts(db)
    _become(db, token_for(db, "viewer", provinces=["37"]))
    assert db.scalar(text("SELECT eqreg_sees_every_project()")) is True
    assert _counts(db) == everything
    for table in TABLES:
        assert _executed_calls(db, f"SELECT count(*) FROM {table}") == {
            "eqreg_visible_projects": 0, "eqreg_district_projects": 0}, table


def test_a_province_viewer_never_sees_another_province(db, province):
    own = _counts(db, "district_code LIKE '37%'")
    outside = _add_district_of_province_41(db)
    _become(db, token_for(db, "viewer", provinces=["37"]))
    assert db.scalar(text("SELECT eqreg_sees_every_project()")) is False
    assert db.scalar(text("SELECT count(*) FROM projects WHERE id = :id"), {"id": outside}) == 0
    assert db.scalar(text("SELECT count(*) FROM project_towns WHERE project_id = :id"), {"id": outside}) == 0
    assert db.scalar(text("SELECT count(*) FROM progress_reports WHERE project_id = :id"), {"id": outside}) == 0
    assert _counts(db) == own
    # the shares and reports come from the districts' projects, never from every visible project
    for table in TABLES:
        assert _executed_calls(db, f"SELECT count(*) FROM {table}")["eqreg_visible_projects"] == 0, table
    assert _executed_calls(db, "SELECT count(*) FROM project_towns")["eqreg_district_projects"] == 1


def test_a_city_viewer_reads_its_citys_shares_and_reports_only(db, province):
    of_city = "IN (SELECT id FROM projects WHERE district_code IN ('370498', '370499'))"
    city = {table: db.scalar(text(f"SELECT count(*) FROM {table} WHERE {column} {of_city}"))
            for table, column in zip(TABLES, ("id", "project_id", "project_id"))}
    assert 0 < city["projects"] < db.scalar(text("SELECT count(*) FROM projects"))
    _become(db, token_for(db, "viewer", cities=["3704"]))
    assert db.scalar(text("SELECT eqreg_sees_every_project()")) is False
    assert _counts(db) == city


def test_a_town_user_and_an_unlimited_bureau_keep_their_arms(db, province):
    everything = _counts(db)
    town = db.scalar(text("SELECT town_code FROM project_towns WHERE district_code = '370499' LIMIT 1"))
    touching = db.scalar(text("SELECT count(*) FROM project_towns WHERE project_id IN "
                              "(SELECT project_id FROM project_towns WHERE town_code = :t)"), {"t": town})
    _become(db, token_for(db, "bureau"))
    assert db.scalar(text("SELECT eqreg_sees_every_project()")) is True
    assert _counts(db) == everything
    db.execute(text("RESET ROLE"))
    _become(db, token_for(db, "town", towns=[town]))
    assert db.scalar(text("SELECT eqreg_sees_every_project()")) is False
    assert db.scalar(text("SELECT count(*) FROM project_towns")) == touching
    assert _executed_calls(db, "SELECT count(*) FROM project_towns")["eqreg_district_projects"] == 0


def test_the_projects_district_arm_is_a_hashed_set(db, province):
    _become(db, token_for(db, "viewer", cities=["3704"]))
    plan = "\n".join(db.scalars(text("EXPLAIN SELECT count(*) FROM projects")))
    assert "hashed SubPlan" in plan
    assert "= ANY" not in plan
