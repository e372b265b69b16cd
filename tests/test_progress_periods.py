"""Monthly reports (月度调度): one current report per project and month, a second one supersedes
the first (kept, marked, audited — DESIGN §9), a cumulative figure below the previous month's
needs a reason, and every problem of a submission is reported at once."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from registry import periods
from registry.errors import InvalidInput
from registry.models import AuditEntry, Project
from registry.progress import ProgressReport, file_progress, list_reports
from registry.projects import create_project
from registry.scope import Scope

BUREAU = Scope(actor="registrar", role="bureau")
TOWN_A = Scope(actor="jia", role="town", town_codes=frozenset({"370499001"}))


@pytest.fixture
def project_id(db, grid_district) -> int:
    return create_project(db, scope=BUREAU, actor="registrar", values={
        "code": "2025-370499-01-01-310001", "name": "甲街道污水处理设备更新", "domain": "municipal",
        "owner": "测试水务公司", "total_investment": 1000, "stage": "construction",
        "actual_start": "2025-02-01", "geometry": {"type": "Point", "coordinates": [117.05, 35.05]}})["id"]


def test_a_report_defaults_to_the_current_month(db, project_id):
    result = file_progress(db, project_id, scope=BUREAU, actor="r", report={"completed_investment": 10})
    assert result["period"] == periods.current()


def test_a_second_report_for_the_month_supersedes_the_first_and_is_audited(db, project_id):
    first = file_progress(db, project_id, scope=TOWN_A, actor="jia",
                          report={"period": "2025-06", "completed_investment": 300, "note": "初报"})
    second = file_progress(db, project_id, scope=BUREAU, actor="registrar",
                           report={"period": "2025-06", "completed_investment": 280, "note": "更正"})
    assert second["superseded"] == first["id"]
    old, new = db.get(ProgressReport, first["id"]), db.get(ProgressReport, second["id"])
    assert old.superseded_at is not None and old.superseded_by == new.id and new.superseded_at is None
    assert float(db.get(Project, project_id).completed_investment) == 280
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "progress")
                       .order_by(AuditEntry.id.desc())).first()
    assert entry.actor == "registrar" and entry.details["superseded"]["id"] == first["id"]
    assert entry.details["superseded"]["note"] == "初报" and entry.details["superseded"]["superseded_by"] == new.id
    shown = list_reports(db, project_id, scope=BUREAU)
    assert [(r["note"], r["superseded_by"]) for r in shown] == [("初报", new.id), ("更正", None)]


def test_the_database_refuses_two_current_reports_for_one_month(db, project_id):
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"period": "2025-06", "note": "x"})
    with pytest.raises(Exception, match="uq_progress_reports_current_period"):
        with db.begin_nested():
            db.execute(text("INSERT INTO progress_reports (project_id, district_code, period, reported_on, "
                            "note, created_by) SELECT project_id, district_code, period, reported_on, 'y', 'r' "
                            "FROM progress_reports"))


def test_the_app_role_may_mark_a_report_superseded_but_not_change_its_figures(db, project_id):
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"period": "2025-06", "completed_investment": 5})
    file_progress(db, project_id, scope=TOWN_A, actor="jia", report={"period": "2025-06", "completed_investment": 6})
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    with pytest.raises(Exception, match="permission denied"):
        with db.begin_nested():
            db.execute(text("UPDATE progress_reports SET completed_investment = 0"))


def test_a_cumulative_figure_below_last_months_needs_a_reason(db, project_id):
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"period": "2025-05", "completed_investment": 400})
    with pytest.raises(InvalidInput) as caught:
        file_progress(db, project_id, scope=BUREAU, actor="r",
                      report={"period": "2025-06", "completed_investment": 350, "note": "设备到货"})
    [problem] = caught.value.details["problems"]
    assert problem["field"] == "reason" and problem["rule"] == "cumulative_decrease"
    assert "2025年5月" in problem["message"] and "400" in problem["message"]
    file_progress(db, project_id, scope=BUREAU, actor="r",
                  report={"period": "2025-06", "completed_investment": 350, "reason": "审计核减 50 万元"})
    assert float(db.get(Project, project_id).completed_investment) == 350


def test_a_late_report_above_the_next_months_figure_needs_a_reason(db, project_id):
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"period": "2025-06", "completed_investment": 100})
    with pytest.raises(InvalidInput) as caught:
        file_progress(db, project_id, scope=BUREAU, actor="r", report={"period": "2025-05", "completed_investment": 200})
    [problem] = caught.value.details["problems"]
    assert problem["rule"] == "cumulative_decrease" and "2025年6月" in problem["message"]
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"period": "2025-05", "completed_investment": 80})


def test_an_equal_or_higher_cumulative_figure_needs_no_reason(db, project_id):
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"period": "2025-05", "completed_investment": 400})
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"period": "2025-06", "completed_investment": 400})
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"period": "2025-07", "completed_investment": 450})
    assert float(db.get(Project, project_id).completed_investment) == 450


def test_every_problem_of_a_submission_is_reported_at_once(db, project_id):
    with pytest.raises(InvalidInput) as caught:
        file_progress(db, project_id, scope=BUREAU, actor="r", report={
            "period": "2025-13", "completed_investment": "很多", "percent": 120, "stage": "差不多了",
            "actual_end": "去年"})
    fields = [p["field"] for p in caught.value.details["problems"]]
    assert set(fields) == {"period", "completed_investment", "percent", "stage", "actual_end"}
    assert db.scalar(select(ProgressReport.id)) is None


def test_a_report_for_a_future_month_is_refused(db, project_id):
    with pytest.raises(InvalidInput) as caught:
        file_progress(db, project_id, scope=BUREAU, actor="r",
                      report={"period": periods.shift(periods.current(), 1), "note": "x"})
    assert caught.value.details["field"] == "period"


def test_a_late_report_for_an_earlier_month_does_not_override_the_latest_month(db, project_id):
    file_progress(db, project_id, scope=BUREAU, actor="r", report={"period": "2025-07", "completed_investment": 500})
    result = file_progress(db, project_id, scope=BUREAU, actor="r",
                           report={"period": "2025-06", "completed_investment": 450})
    assert not result["applied"] and float(db.get(Project, project_id).completed_investment) == 500


# --- the form and the API -----------------------------------------------------------------------

SMART_FACTORY = "2024-370499-01-01-100001"  # 乙镇, in construction, 1000 万元 (conftest sample)


def test_the_api_lists_every_field_error_of_a_report(client_for, web_data):
    town = client_for("town", towns=["370499002"])
    response = town.post(f"/api/v1/projects/{web_data[SMART_FACTORY]}/progress",
                         json={"period": "2025/13", "completed_investment": -5, "percent": 101})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert {p["field"] for p in error["details"]["problems"]} == {"period", "completed_investment", "percent"}
    assert all("：" in p["message"] for p in error["details"]["problems"])
    assert error["details"]["by_field"]["percent"] == ["形象进度（%）：应在 0–100 之间"]


def test_the_api_supersedes_a_second_report_of_the_month(client_for, web_data):
    town = client_for("town", towns=["370499002"])
    url = f"/api/v1/projects/{web_data[SMART_FACTORY]}/progress"
    first = town.post(url, json={"period": "2025-06", "completed_investment": 500}).get_json()
    second = town.post(url, json={"period": "2025-06", "completed_investment": 520}).get_json()
    assert (second["period"], second["superseded"]) == ("2025-06", first["report_id"])
    items = town.get(url).get_json()["items"]
    assert [(i["completed_investment"], i["superseded_by"]) for i in items] == [
        (500, second["report_id"]), (520, None)]


def test_the_form_shows_all_errors_at_once_and_the_month_field(client_for, web_data):
    bureau = client_for("bureau")
    project_id = web_data[SMART_FACTORY]
    bureau.post(f"/projects/{project_id}/progress", data={"period": "2025-05", "completed_investment": "600"})
    response = bureau.post(f"/projects/{project_id}/progress",
                           data={"period": "2025-06", "completed_investment": "550", "percent": "150"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'name="period"' in html and 'type="month"' in html and "累计完成投资" in html
    assert "形象进度（%）：应在 0–100 之间" in html and "须填写调减原因" in html


def test_the_history_page_names_the_superseded_report(client_for, web_data):
    bureau = client_for("bureau")
    project_id = web_data[SMART_FACTORY]
    bureau.post(f"/api/v1/projects/{project_id}/progress", json={"period": "2025-06", "completed_investment": 500})
    bureau.post(f"/api/v1/projects/{project_id}/progress", json={"period": "2025-06", "completed_investment": 520})
    page = bureau.get(f"/projects/{project_id}/history").get_data(as_text=True)
    assert "替换同月前一期" in page and "累计完成投资 500.0 万元" in page and "2025-06" in page
