"""Projects on 测试区 (conftest's three 0.1° towns) for the plan-target tests, and helpers.

Towns: 370499001 甲街道 117.0–117.1, 370499002 乙镇 117.1–117.2, 370499003 丙镇 117.2–117.3 (lat 35.0–35.1).
"""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from conftest import FIXTURES, GRID_DISTRICT, insert_grid_district

PLAN = FIXTURES / "targets" / "plan.yaml"
PLAN_REVISED = FIXTURES / "targets" / "plan-revised.yaml"
BAD_METRIC = FIXTURES / "targets" / "bad-metric.yaml"
TOWN1, TOWN2, TOWN3 = "370499001", "370499002", "370499003"
OTHER_DISTRICT = "370498"
_SERIAL = itertools.count(200001)

# key: (domain, category, stage, wkt, total, equipment, quantity, unit, actual_start, actual_end, deleted)
PROJECTS = {
    "ind-600": ("industry", "技术改造", "construction", "POINT(117.15 35.05)", 600, 300, None, None,
                "2024-03-01", None, False),
    "ind-400": ("industry", "技术改造", "construction", "POINT(117.05 35.05)", 400, 100, None, None,
                "2024-05-01", None, False),
    "ind-800": ("industry", "智能化改造", "completed", "POINT(117.25 35.05)", 800, 500, None, None,
                "2025-02-01", "2025-10-01", False),
    "ind-undated": ("industry", "技术改造", "construction", "POINT(117.25 35.06)", 700, 0, None, None,
                    None, None, False),
    "ind-reserve": ("industry", "技术改造", "reserve", "POINT(117.05 35.06)", 900, 0, None, None,
                    None, None, False),
    "ind-deleted": ("industry", "技术改造", "construction", "POINT(117.15 35.06)", 5000, 0, None, None,
                    "2024-02-01", None, True),
    "gas-line": ("municipal", "燃气管网", "completed", "LINESTRING(117.05 35.05, 117.25 35.05)", 800, 0,
                 None, None, "2024-01-10", "2024-06-30", False),
    "gas-km": ("municipal", "燃气管网", "completed", "POINT(117.05 35.03)", 100, 0, 3, "公里",
               "2024-02-01", "2024-09-01", False),
    "gas-metres": ("municipal", "燃气管网", "completed", "POINT(117.05 35.02)", 50, 0, 500, "米",
                   "2024-02-01", "2024-09-01", False),
    "ct": ("medical", "医学影像", "completed", "POINT(117.15 35.03)", 900, 0, 10, "台",
           "2024-01-15", "2024-04-01", False),
    "ultrasound": ("medical", "检验设备", "completed", "POINT(117.15 35.02)", 200, 0, 4, "套",
                   "2024-01-15", "2024-05-01", False),
    "tractors": ("agriculture", "农机更新", "completed", "POINT(117.25 35.03)", 300, 0, 100, "台",
                 "2023-11-01", "2024-08-01", False),
    "harvesters": ("agriculture", "农机更新", "completed", "POINT(117.05 35.07)", 200, 0, 50, "套",
                   "2023-12-01", "2025-03-01", False),
    "drones": ("agriculture", "农机更新", "completed", "POINT(117.25 35.07)", 100, 0, 7, "部",
               "2023-12-01", "2025-04-01", False),
}


def insert_projects(session: Session, projects: dict | None = None, *, district: str = GRID_DISTRICT
                    ) -> dict[str, int]:
    """Insert projects (key → tuple as in PROJECTS) into a district and match them to towns."""
    from registry.matching import match_projects
    ids = {}
    for key, row in (projects or PROJECTS).items():
        domain, category, stage, wkt, total, equipment, quantity, unit, start, end, deleted = row
        ids[key] = session.execute(text("""
            INSERT INTO projects (district_code, code, name, domain_code, category, owner, geom, total_investment,
                                  equipment_investment, quantity, unit, stage, actual_start, actual_end,
                                  deleted_at, length_km)
            SELECT :d, :code, :name, :domain, :category, '测试单位', g, :total, :equipment, :quantity, :unit,
                   :stage, CAST(:start AS date), CAST(:end AS date), CASE WHEN :deleted THEN now() END,
                   CASE WHEN ST_Dimension(g) = 1 THEN ST_Length(g::geography) / 1000 END
            FROM ST_GeomFromText(:wkt, 4326) g
            RETURNING id"""), {"d": district, "code": f"2024-{district}-01-01-{next(_SERIAL):06d}",
                               "name": f"项目{key}", "domain": domain, "category": category, "stage": stage,
                               "wkt": wkt, "total": total, "equipment": equipment, "quantity": quantity,
                               "unit": unit, "start": start, "end": end, "deleted": deleted}).scalar_one()
    match_projects(session, project_ids=list(ids.values()))
    return ids


def insert_world(session: Session) -> dict[str, int]:
    """测试区 with PROJECTS, plus a neighbouring district whose projects must never count."""
    insert_grid_district(session)
    ids = insert_projects(session)
    session.execute(text("INSERT INTO districts (code, name) VALUES (:c, '邻区')"), {"c": OTHER_DISTRICT})
    insert_projects(session, {"elsewhere": PROJECTS["ind-600"]}, district=OTHER_DISTRICT)
    return ids


def read(path: Path) -> bytes:
    return path.read_bytes()


TARGET_TABLES = "target_entries, targets, target_jurisdictions"


@pytest.fixture
def world_committed(committed, engine):
    """测试区 and its projects committed (the CLI and the app open their own connections);
    the target tables are wiped afterwards (``committed`` wipes the rest)."""
    with Session(engine) as session:
        insert_world(session)
        session.commit()
    yield committed
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TARGET_TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture
def plan_loaded(world_committed, engine):
    """world_committed with PLAN loaded."""
    from registry import targets
    from registry.scope import Scope
    with Session(engine) as session:
        targets.load_file(session, Scope.system("test"), PLAN.read_bytes())
    return world_committed
