"""Progress reports (registry.progress): who may file, how the latest report updates the project,
the stage rules on the way, row-level security of the reports table, and the project history."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from conftest import present_scope
from registry.errors import Forbidden, InvalidInput, NotFound
from registry.models import AuditEntry, Project
from registry.progress import ProgressReport, file_progress, history, list_reports
from registry.projects import create_project, delete_project, restore_project, update_project
from registry.scope import Scope

BUREAU = Scope(actor="registrar", role="bureau")
TOWN_A = Scope(actor="jia", role="town", town_codes=frozenset({"370499001"}))
TOWN_C = Scope(actor="bing", role="town", town_codes=frozenset({"370499003"}))


@pytest.fixture
def project_id(db, grid_district) -> int:
    """A 甲街道 project in construction, 1000 万元, 100 done."""
    return create_project(db, scope=BUREAU, actor="registrar", values={
        "code": "2025-370499-01-01-300001", "name": "甲街道供水设施更新", "domain": "municipal",
        "owner": "测试水务公司", "total_investment": 1000, "completed_investment": 100,
        "stage": "construction", "actual_start": "2025-02-01",
        "geometry": {"type": "Point", "coordinates": [117.05, 35.05]}})["id"]


def test_the_bureau_files_a_report_and_the_project_shows_its_figure(db, project_id):
    result = file_progress(db, project_id, scope=BUREAU, actor="registrar",
                           report={"reported_on": "2025-06-30", "completed_investment": "450.5",
                                   "percent": 40, "note": "主体设备已到货"})
    project = db.get(Project, project_id)
    assert float(project.completed_investment) == 450.5 and result["version"] == project.version == 2
    assert result["applied"] and result["changed"] == ["completed_investment"]
    [report] = list_reports(db, project_id, scope=BUREAU)
    assert (report["reported_on"], report["percent"], report["note"], report["created_by"]) == (
        "2025-06-30", 40.0, "主体设备已到货", "registrar")
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "progress")).one()
    assert (entry.before, entry.after) == ({"completed_investment": 100.0}, {"completed_investment": 450.5})
    assert entry.details["report"]["note"] == "主体设备已到货"


def test_a_town_official_files_for_a_project_in_their_town(db, project_id):
    file_progress(db, project_id, scope=TOWN_A, actor="jia", report={"completed_investment": 200})
    assert float(db.get(Project, project_id).completed_investment) == 200


def test_officials_of_another_town_do_not_see_the_project(db, project_id):
    with pytest.raises(NotFound):
        file_progress(db, project_id, scope=TOWN_C, actor="bing", report={"completed_investment": 200})


def test_planners_may_not_file(db, project_id):
    with pytest.raises(Forbidden):
        file_progress(db, project_id, scope=Scope(actor="p", role="planner"), actor="p",
                      report={"completed_investment": 200})


def test_a_backdated_report_is_kept_but_does_not_override_the_latest(db, project_id):
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"reported_on": "2025-06-30",
                                                                    "completed_investment": 500})
    result = file_progress(db, project_id, scope=BUREAU, actor="r",
                           report={"reported_on": "2025-03-31", "completed_investment": 300})
    assert not result["applied"] and float(db.get(Project, project_id).completed_investment) == 500
    assert [r["completed_investment"] for r in list_reports(db, project_id, scope=BUREAU)] == [300, 500]


def test_completing_by_report_needs_the_end_date_and_keeps_the_highest_figure(db, project_id):
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"reported_on": "2025-06-30",
                                                                    "completed_investment": 800})
    with pytest.raises(InvalidInput) as caught:
        file_progress(db, project_id, scope=BUREAU, actor="r", report={"stage": "竣工投产"})
    assert caught.value.details["field"] == "actual_end" and "实际竣工" in caught.value.message
    file_progress(db, project_id, scope=BUREAU, actor="r",
                  report={"stage": "completed", "actual_end": "2025-07-15", "completed_investment": 700,
                          "reason": "审计核减"})
    project = db.get(Project, project_id)
    assert (project.stage, project.actual_end, float(project.completed_investment)) == (
        "completed", dt.date(2025, 7, 15), 800)


def test_a_backward_move_by_report_takes_its_reason_from_the_note(db, project_id):
    with pytest.raises(InvalidInput):
        file_progress(db, project_id, scope=BUREAU, actor="r", report={"stage": "approval"})
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"stage": "approval", "note": "环评需补充"})
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "progress")).one()
    assert entry.details["reason"] == "环评需补充" and entry.after["stage"] == "approval"


@pytest.mark.parametrize("report, field", [
    ({"percent": 120}, "percent"), ({"percent": "很多"}, "percent"),
    ({"completed_investment": -1}, "completed_investment"),
    ({"completed_investment": 5000}, "completed_investment"),
    ({"completed_investment": "abc"}, "completed_investment"),
    ({"reported_on": "2099-01-01", "note": "x"}, "reported_on"),
    ({"reported_on": "去年", "note": "x"}, "reported_on"),
    ({"stage": "差不多了"}, "stage"),
    ({}, "completed_investment"),
    ({"note": "x", "budget": 1}, "fields"),
])
def test_bad_reports_are_refused_naming_the_field(db, project_id, report, field):
    with pytest.raises(InvalidInput) as caught:
        file_progress(db, project_id, scope=BUREAU, actor="r", report=report)
    assert caught.value.details.get("field") == field or field in caught.value.details
    assert db.scalar(select(func.count()).select_from(ProgressReport)) == 0


def test_reports_are_visible_to_the_app_role_only_within_scope(db, project_id):
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"note": "开工"})
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_scope(db, TOWN_C)
    assert db.scalar(text("SELECT count(*) FROM progress_reports")) == 0
    present_scope(db, TOWN_A)
    assert db.scalar(text("SELECT count(*) FROM progress_reports")) == 1
    with pytest.raises(Exception, match="permission denied"):
        db.execute(text("DELETE FROM progress_reports"))


def test_history_lists_every_change_newest_first_with_before_and_after(db, project_id):
    update_project(db, project_id, scope=BUREAU, changes={"name": "新名称"}, expected_version=1, actor="editor")
    file_progress(db, project_id, scope=TOWN_A, actor="jia", report={"completed_investment": 300})
    delete_project(db, project_id, scope=BUREAU, expected_version=3, actor="editor")
    restore_project(db, project_id, scope=BUREAU, actor="boss")
    entries = history(db, project_id, scope=BUREAU)
    assert [e["action"] for e in entries] == ["restore", "delete", "progress", "update", "create"]
    assert [e["actor"] for e in entries] == ["boss", "editor", "jia", "editor", "registrar"]
    update = entries[3]
    assert update["action_label"] == "修改"
    assert update["changes"] == [{"field": "name", "label": "项目名称", "before": "甲街道供水设施更新",
                                  "after": "新名称"}]
    assert entries[2]["changes"][0]["label"] == "已完成投资（万元）"
    assert entries[0]["at"] >= entries[-1]["at"]


def test_history_is_scoped(db, project_id):
    assert history(db, project_id, scope=TOWN_A)
    with pytest.raises(NotFound):
        history(db, project_id, scope=TOWN_C)


def test_history_of_an_imported_project_names_the_import(db, grid_district):
    import io
    from registry.importing import import_projects
    csv = ("项目代码,项目名称,领域,建设单位,经度,纬度,总投资,项目阶段\n"
           "2025-370499-01-01-300009,导入的项目,工业,某公司,117.15,35.05,100,谋划储备\n")
    import_projects(db, io.BytesIO(csv.encode()), filename="batch.csv", actor="importer")
    project_id = db.scalar(select(Project.id).where(Project.code == "2025-370499-01-01-300009"))
    [entry] = history(db, project_id, scope=BUREAU)
    assert (entry["action"], entry["actor"], entry["details"]["filename"]) == ("import", "importer", "batch.csv")
