"""Editing services (registry.projects): create, update, soft delete, restore — checks, matching, audit."""
from __future__ import annotations

import pytest
from shapely.geometry import Point
from sqlalchemy import func, select

from geo.crs import wgs84_to_gcj02
from registry import browse
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound, StaleVersion
from registry.models import AuditEntry, Project, ProjectTown
from registry.projects import create_project, delete_project, restore_project, update_project
from registry.scope import Scope

BUREAU = Scope(actor="registrar", role="bureau")
CODE = "2025-370499-01-01-200001"


def new_project(**overrides) -> dict:
    values = {"code": CODE, "name": "甲街道锅炉节能改造", "domain": "工业", "category": "节能降碳",
              "owner": "测试热力公司", "total_investment": 500, "equipment_investment": "300",
              "stage": "谋划储备", "funding": ["超长期特别国债", "企业自筹"], "is_key": True,
              "geometry": {"type": "Point", "coordinates": [117.05, 35.05]}}
    values.update(overrides)
    return values


def create(db, **overrides) -> dict:
    return create_project(db, scope=BUREAU, values=new_project(**overrides), actor="registrar")


def audit_entries(db, project_id: int) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.entity == "project",
                                                   AuditEntry.entity_id == str(project_id))
                           .order_by(AuditEntry.id)))


def shares(db, project_id: int) -> dict[str, float]:
    return {s.town_code: s.share for s in db.scalars(select(ProjectTown).where(ProjectTown.project_id == project_id))}


def test_create_stores_typed_values_matches_the_town_and_audits(db, grid_district):
    result = create(db)
    project = db.get(Project, result["id"])
    assert (result["version"], project.version) == (1, 1)
    assert (project.domain_code, project.stage, project.is_key) == ("industry", "reserve", True)
    assert project.funding == ["ultra_long_bonds", "self_raised"]
    assert float(project.equipment_investment) == 300
    assert project.primary_town_code == "370499001" and shares(db, project.id) == {"370499001": 1.0}
    [entry] = audit_entries(db, project.id)
    assert (entry.action, entry.actor, entry.after["code"], entry.after["primary_town_code"]) == (
        "create", "registrar", CODE, "370499001")
    assert entry.after["geometry"].startswith("POINT")


def test_create_converts_gcj02_coordinates_to_wgs84(db, grid_district):
    gcj_lng, gcj_lat = wgs84_to_gcj02(117.25, 35.05)
    result = create(db, geometry={"type": "Point", "coordinates": [float(gcj_lng), float(gcj_lat)]}, crs="GCJ-02")
    record = browse.get_project(db, BUREAU, result["id"])
    lng, lat = record["geometry"]["coordinates"]
    assert Point(lng, lat).distance(Point(117.25, 35.05)) < 1e-6
    assert (record["source_crs"], record["primary_town_code"]) == ("GCJ02", "370499003")


def test_a_line_gets_length_and_shares_by_length(db, grid_district):
    line = {"type": "LineString", "coordinates": [[117.05, 35.05], [117.15, 35.05]]}
    project = db.get(Project, create(db, geometry=line, stage="reserve")["id"])
    assert project.length_km == pytest.approx(9.12, abs=0.05)
    assert shares(db, project.id) == pytest.approx({"370499001": 0.5, "370499002": 0.5}, abs=1e-3)


@pytest.mark.parametrize("overrides, field, words", [
    ({"total_investment": -5}, "total_investment", "总投资"),
    ({"domain": "航天"}, "domain", "领域"),
    ({"code": "2025-3704"}, "code", "项目代码"),
    ({"name": None}, "name", "项目名称"),
    ({"equipment_investment": 900}, "equipment_investment", "设备投资"),
    ({"planned_start": "2026-05", "planned_end": "2025-01"}, "planned_end", "计划"),
    ({"geometry": {"type": "Point", "coordinates": [35.05, 117.05]}}, "geometry", "填反"),
    ({"geometry": {"type": "Point", "coordinates": [116.0, 35.05]}}, "geometry", "行政区"),
    ({"geometry": {"type": "Polygon", "coordinates": "oops"}}, "geometry", "GeoJSON"),
    ({"geometry": None}, "wkt", "位置"),
    ({"stage": "在建"}, "actual_start", "实际开工"),
    ({"crs": "火星"}, "crs", "坐标系"),
    ({"colour": "red"}, "fields", "colour"),
])
def test_bad_input_is_refused_with_a_chinese_message_naming_the_field(db, grid_district, overrides, field, words):
    with pytest.raises(InvalidInput) as caught:
        create(db, **overrides)
    assert words in caught.value.message
    details = caught.value.details
    assert details.get("field") == field or field in details


def test_a_project_code_is_unique(db, grid_district):
    create(db)
    with pytest.raises(Conflict) as caught:
        create(db, name="另一个项目")
    assert CODE in caught.value.message


@pytest.mark.parametrize("scope", [Scope(actor="p", role="planner"),
                                   Scope(actor="t", role="town", town_codes=frozenset({"370499001"}))])
def test_only_bureau_and_admin_create(db, grid_district, scope):
    with pytest.raises(Forbidden):
        create_project(db, scope=scope, values=new_project(), actor=scope.actor)


def test_update_changes_only_the_given_fields_and_audits_before_and_after(db, grid_district):
    project_id = create(db)["id"]
    result = update_project(db, project_id, scope=BUREAU, changes={"name": "新名称", "remarks": "备注"},
                            expected_version=1, actor="editor")
    project = db.get(Project, project_id)
    assert (result["version"], project.name, project.owner, project.remarks) == (2, "新名称", "测试热力公司", "备注")
    assert sorted(result["changed"]) == ["name", "remarks"]
    entry = audit_entries(db, project_id)[-1]
    assert (entry.action, entry.actor) == ("update", "editor")
    assert entry.before == {"name": "甲街道锅炉节能改造", "remarks": None}
    assert entry.after == {"name": "新名称", "remarks": "备注"}


def test_moving_the_geometry_rematches_towns(db, grid_district):
    project_id = create(db)["id"]
    update_project(db, project_id, scope=BUREAU, expected_version=1, actor="editor",
                   changes={"lng": 117.25, "lat": 35.05})
    assert db.get(Project, project_id).primary_town_code == "370499003"
    assert shares(db, project_id) == {"370499003": 1.0}
    entry = audit_entries(db, project_id)[-1]
    assert entry.before["primary_town_code"] == "370499001" and entry.after["primary_town_code"] == "370499003"
    assert entry.after["geometry"] == "POINT (117.25 35.05)"


def test_an_unchanged_update_writes_no_version_and_no_audit(db, grid_district):
    project_id = create(db)["id"]
    result = update_project(db, project_id, scope=BUREAU, changes={"name": "甲街道锅炉节能改造"},
                            expected_version=1, actor="editor")
    assert (result["version"], result["changed"]) == (1, [])
    assert len(audit_entries(db, project_id)) == 1


def test_a_stale_version_is_refused(db, grid_district):
    project_id = create(db)["id"]
    update_project(db, project_id, scope=BUREAU, changes={"name": "第一次"}, expected_version=1, actor="a")
    with pytest.raises(StaleVersion) as caught:
        update_project(db, project_id, scope=BUREAU, changes={"name": "第二次"}, expected_version=1, actor="b")
    assert caught.value.details == {"current_version": 2, "your_version": 1}
    assert db.get(Project, project_id).name == "第一次"


def test_an_update_must_say_which_version_it_changes(db, grid_district):
    project_id = create(db)["id"]
    with pytest.raises(InvalidInput):
        update_project(db, project_id, scope=BUREAU, changes={"name": "x"}, expected_version=None, actor="a")


def test_a_backward_stage_move_needs_a_reason_which_is_audited(db, grid_district):
    project_id = create(db, stage="approval")["id"]
    with pytest.raises(InvalidInput) as caught:
        update_project(db, project_id, scope=BUREAU, changes={"stage": "reserve"}, expected_version=1, actor="a")
    assert caught.value.details["rule"] == "backward_needs_reason"
    update_project(db, project_id, scope=BUREAU, changes={"stage": "reserve"}, expected_version=1,
                   actor="a", reason="用地手续未批")
    entry = audit_entries(db, project_id)[-1]
    assert (entry.before["stage"], entry.after["stage"], entry.details["reason"]) == ("approval", "reserve", "用地手续未批")


def test_suspending_and_resuming_through_updates(db, grid_district):
    project_id = create(db, stage="construction", actual_start="2025-03-01")["id"]
    update_project(db, project_id, scope=BUREAU, changes={"stage": "暂缓"}, expected_version=1, actor="a")
    assert db.get(Project, project_id).stage_before_suspension == "construction"
    with pytest.raises(InvalidInput):
        update_project(db, project_id, scope=BUREAU, changes={"stage": "reserve"}, expected_version=2,
                       actor="a", reason="r")
    update_project(db, project_id, scope=BUREAU, changes={"stage": "在建"}, expected_version=2, actor="a")
    project = db.get(Project, project_id)
    assert (project.stage, project.stage_before_suspension, project.version) == ("construction", None, 3)


def test_town_users_cannot_edit(db, grid_district):
    project_id = create(db)["id"]
    town = Scope(actor="t", role="town", town_codes=frozenset({"370499001"}))
    with pytest.raises(Forbidden):
        update_project(db, project_id, scope=town, changes={"name": "x"}, expected_version=1, actor="t")


def test_soft_delete_hides_and_restore_brings_back(db, grid_district):
    project_id = create(db)["id"]
    with pytest.raises(StaleVersion):
        delete_project(db, project_id, scope=BUREAU, expected_version=7, actor="a")
    deleted = delete_project(db, project_id, scope=BUREAU, expected_version=1, actor="a", reason="重复登记")
    assert deleted["version"] == 2 and db.get(Project, project_id).deleted_at is not None
    with pytest.raises(NotFound):
        browse.get_project(db, BUREAU, project_id)
    with pytest.raises(NotFound):
        update_project(db, project_id, scope=BUREAU, changes={"name": "x"}, expected_version=2, actor="a")
    restored = restore_project(db, project_id, scope=BUREAU, actor="b")
    assert restored["version"] == 3 and browse.get_project(db, BUREAU, project_id)["code"] == CODE
    with pytest.raises(Conflict):
        restore_project(db, project_id, scope=BUREAU, actor="b")
    actions = [(e.action, e.before, e.after) for e in audit_entries(db, project_id)]
    assert [a for a, _, _ in actions] == ["create", "delete", "restore"]
    assert actions[1][1] == {"deleted_at": None} and actions[1][2]["deleted_at"] is not None
    assert audit_entries(db, project_id)[1].details == {"reason": "重复登记"}


def test_planners_cannot_delete_or_restore(db, grid_district):
    project_id = create(db)["id"]
    planner = Scope(actor="p", role="planner")
    with pytest.raises(Forbidden):
        delete_project(db, project_id, scope=planner, expected_version=1, actor="p")
    with pytest.raises(Forbidden):
        restore_project(db, project_id, scope=planner, actor="p")


def test_preview_shares_matches_like_saving_without_writing(db, grid_district):
    from shapely.geometry import LineString, Polygon
    from geo.matching import preview_shares
    before = db.scalar(select(func.count()).select_from(ProjectTown))
    line = preview_shares(db, LineString([(117.05, 35.05), (117.15, 35.05)]), district_code=grid_district)
    assert sorted((t["code"], t["name"]) for t in line) == [("370499001", "甲街道"), ("370499002", "乙镇")]
    assert [t["share"] for t in line] == pytest.approx([0.5, 0.5], abs=1e-3)
    assert sum(t["length_km"] for t in line) == pytest.approx(9.12, abs=0.05)
    square = Polygon([(117.18, 35.0), (117.28, 35.0), (117.28, 35.1), (117.18, 35.1)])
    assert [round(t["share"], 2) for t in preview_shares(db, square)] == [0.8, 0.2]
    assert [t["code"] for t in preview_shares(db, Point(117.1, 35.05))] == ["370499001"]  # shared edge: lowest code
    assert preview_shares(db, Point(116.0, 35.0)) == []
    assert db.scalar(select(func.count()).select_from(ProjectTown)) == before
