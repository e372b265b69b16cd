"""Targets summed in PostgreSQL (registry.target_sums) give exactly the figures of the per-project
path (registry.target_measures applied one project at a time) on the fixtures: every metric,
window, scope, as-of date, zones, units with alternatives and the data-quality lists."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from registry import target_report, targets
from registry.scope import Scope
from target_data import PLAN, PROJECTS, TOWN1, TOWN2, TOWN3, insert_projects, insert_world, read

SYSTEM = Scope.system("test")
SCOPES = [SYSTEM, Scope("t1", "town", frozenset({TOWN1})), Scope("t2", "town", frozenset({TOWN2})),
          Scope("t13", "town", frozenset({TOWN1, TOWN3}))]
AS_OF = [dt.date(2023, 12, 31), dt.date(2024, 6, 30), dt.date(2024, 12, 31), dt.date(2025, 6, 30),
         dt.date(2026, 1, 1), dt.date(2028, 3, 1)]

MORE_PLAN = """
jurisdictions:
  - code: "370499"
    name: 测试区
    targets:
      - {id: x-total, text: 总投资, metric: sum_total_investment, threshold: 2000, deadline: 2027-12-31,
         window: per_year}
      - {id: x-completed, text: 已完成投资, metric: sum_completed_investment, filter: {stages: [在建, 竣工投产]},
         threshold: 100, deadline: 2026-12-31}
      - {id: x-any-unit, text: 数量不限单位, metric: sum_quantity, filter: {domain: [医疗卫生, 农业]},
         threshold: 10, deadline: 2027-12-31}
      - {id: x-km-yearly, text: 每年管网, metric: sum_length_km, filter: {category: 燃气管网}, threshold: 1,
         unit: 公里, deadline: 2026-12-31, window: per_year}
      - {id: x-tv, text: 电视, metric: count, filter: {category: 直播v, stages: [竣工投产]}, threshold: 1,
         deadline: 2027-12-31}
      - {id: x-count-yearly, text: 每年项目数, metric: count, threshold: 3, deadline: 2027-12-31, window: per_year}
  - code: tzone
    name: 测试度假区
    parent: "370499"
    targets:
      - {id: z-count, text: 度假区项目, metric: count, threshold: 2, deadline: 2027-12-31}
      - {id: z-money, text: 度假区投资, metric: sum_total_investment, threshold: 100, deadline: 2027-12-31}
"""

EXTRA = {
    # units with alternatives and odd spacing, a category with spaces, a project with no town share
    "sets": ("medical", " 医学影像 ", "completed", "POINT(117.15 35.04)", 120, 0, 3, " 台/套 ",
             "2024-02-01", "2024-03-01", False),
    "kits": ("agriculture", "农机更新", "completed", "POINT(117.15 35.045)", 80, 0, 5, "台(套)",
             "2024-02-01", "2025-02-01", False),
    "no-unit": ("agriculture", "农机更新", "completed", "POINT(117.05 35.045)", 80, 0, 5, None,
                "2024-02-01", "2025-02-01", False),
    "no-qty": ("medical", "医学影像", "completed", "POINT(117.25 35.045)", 90, 0, None, "台",
               "2024-02-01", "2024-03-01", False),
    "gas-line2": ("municipal", "燃气管网", "construction", "LINESTRING(117.15 35.08, 117.28 35.08)", 300, 10,
                  None, None, "2025-03-01", None, False),
    "gas-km2": ("municipal", "燃气管网", "completed", "POINT(117.25 35.01)", 70, 5, 2.5, " km",
                "2026-02-01", "2026-05-01", False),
    "tv": ("culture_tourism", "直播v", "completed", "POINT(117.05 35.055)", 30, 0, 1, "台", "2024-02-01", "2024-03-01",
           False),  # a category ending in "v": trimming must strip whitespace only
    "outside": ("industry", "技术改造", "completed", "POINT(118.5 36.5)", 650, 200, None, None,
                "2024-04-01", "2024-09-01", False),
}


@pytest.fixture
def world(db):
    ids = insert_world(db)
    ids.update(insert_projects(db, EXTRA))
    db.execute(text("UPDATE projects SET completed_investment = total_investment * 0.3 WHERE id % 3 = 0"))
    db.execute(text("UPDATE target_jurisdictions SET geom = ST_Multi(ST_MakeEnvelope(117.1, 35.0, 117.2, 35.06, 4326)) "
                    "WHERE code = 'tzone'"))
    targets.load_file(db, SYSTEM, read(PLAN))
    targets.load_file(db, SYSTEM, MORE_PLAN)
    db.execute(text("UPDATE target_jurisdictions SET geom = ST_Multi(ST_MakeEnvelope(117.1, 35.0, 117.2, 35.06, 4326)) "
                    "WHERE code = 'tzone'"))
    targets.set_baseline(db, SYSTEM, "t-growth", 400)
    return ids


def _figures(result: target_report.TargetResult) -> dict:
    return {**result.as_json(), "pace": result.pace, "baseline": result.baseline,
            "undated": result.undated, "unit_mismatch": result.unit_mismatch, "unmeasured": result.unmeasured}


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.actor)
def test_sql_sums_equal_the_per_project_rules(db, world, scope):
    compared = 0
    for as_of in AS_OF:
        summed = target_report.report(db, scope, as_of=as_of, with_projects=False)
        one_by_one = target_report.report(db, scope, as_of=as_of, with_projects=True)
        assert [t.id for t in summed.targets] == [t.id for t in one_by_one.targets]
        for fast, slow in zip(summed.targets, one_by_one.targets):
            assert _figures(fast) == _figures(slow), (fast.id, as_of)
            assert fast.counted == []
            compared += fast.value is not None
    assert compared > 20  # most targets had figures to compare


def test_fixtures_exercise_every_kind_of_figure(db, world):
    """Guard for the comparison above: the fixtures really hold problems, units and zones."""
    result = {t.id: t for t in target_report.report(db, SYSTEM, as_of=dt.date(2025, 6, 30)).targets}
    assert [p["id"] for p in result["t-imaging"].unit_mismatch] == [world["ultrasound"]]
    assert [p["id"] for p in result["t-imaging"].unmeasured] == [world["no-qty"]]
    assert world["no-unit"] in [p["id"] for p in result["t-farm"].unit_mismatch]
    assert result["t-farm"].years["2025"] == PROJECTS["harvesters"][6] + EXTRA["kits"][6]
    assert result["z-count"].value >= 1 and result["x-any-unit"].value > 0
    assert [p["id"] for p in result["t-count"].undated] == [world["ind-undated"]]
    assert result["x-tv"].value == 1
    assert result["x-total"].years["2024"] > 0 and "2025" in result["x-total"].years
