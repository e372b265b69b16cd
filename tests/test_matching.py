"""Town matching and apportioning in PostGIS (DESIGN §3)."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from registry.matching import match_projects


def add_project(db, district, code, wkt):
    return db.execute(text("""
        INSERT INTO projects (district_code, code, name, domain_code, owner, geom, total_investment, stage)
        VALUES (:d, :code, '测试项目', 'municipal', '测试单位', ST_GeomFromText(:wkt, 4326), 100, 'reserve')
        RETURNING id"""), {"d": district, "code": code, "wkt": wkt}).scalar_one()


def shares(db, project_id):
    rows = db.execute(text("SELECT town_code, share FROM project_towns WHERE project_id = :id"),
                      {"id": project_id}).all()
    return dict(rows)


def primary(db, project_id):
    return db.execute(text("SELECT primary_town_code FROM projects WHERE id = :id"),
                      {"id": project_id}).scalar_one()


def test_point_goes_to_the_containing_town(db, grid_district):
    pid = add_project(db, grid_district, "2024-370499-01-01-000001", "POINT(117.15 35.05)")
    match_projects(db, project_ids=[pid])
    assert shares(db, pid) == {"370499002": 1.0}
    assert primary(db, pid) == "370499002"


def test_point_on_a_shared_edge_goes_to_one_town(db, grid_district):
    pid = add_project(db, grid_district, "2024-370499-01-01-000002", "POINT(117.1 35.05)")
    match_projects(db, project_ids=[pid])
    assert shares(db, pid) == {"370499001": 1.0}


def test_line_is_apportioned_by_geodesic_length(db, grid_district):
    # 117.05→117.25 along one parallel: 0.05° in town 1, 0.1° in town 2, 0.05° in town 3
    pid = add_project(db, grid_district, "2024-370499-01-01-000003", "LINESTRING(117.05 35.05, 117.25 35.05)")
    match_projects(db, project_ids=[pid])
    got = shares(db, pid)
    assert got.keys() == {"370499001", "370499002", "370499003"}
    assert got["370499001"] == pytest.approx(0.25, abs=1e-3)
    assert got["370499002"] == pytest.approx(0.50, abs=1e-3)
    assert got["370499003"] == pytest.approx(0.25, abs=1e-3)
    assert primary(db, pid) == "370499002"


def test_polygon_is_apportioned_by_geodesic_area(db, grid_district):
    pid = add_project(db, grid_district, "2024-370499-01-01-000004",
                      "POLYGON((117.07 35.02, 117.11 35.02, 117.11 35.04, 117.07 35.04, 117.07 35.02))")
    match_projects(db, project_ids=[pid])
    got = shares(db, pid)
    assert got["370499001"] == pytest.approx(0.75, abs=1e-3)
    assert got["370499002"] == pytest.approx(0.25, abs=1e-3)
    assert sum(got.values()) == pytest.approx(1.0)
    assert primary(db, pid) == "370499001"


def test_shares_sum_to_one_when_a_line_leaves_the_district(db, grid_district):
    pid = add_project(db, grid_district, "2024-370499-01-01-000005", "LINESTRING(116.95 35.05, 117.05 35.05)")
    match_projects(db, project_ids=[pid])
    assert shares(db, pid) == {"370499001": 1.0}


def test_rematching_a_district_replaces_old_shares(db, grid_district):
    pid = add_project(db, grid_district, "2024-370499-01-01-000006", "POINT(117.15 35.05)")
    match_projects(db, project_ids=[pid])
    db.execute(text("UPDATE projects SET geom = ST_GeomFromText('POINT(117.25 35.05)', 4326) WHERE id = :id"),
               {"id": pid})
    match_projects(db, district_code=grid_district)
    assert shares(db, pid) == {"370499003": 1.0}
    assert primary(db, pid) == "370499003"
