"""本月未上报: projects in approval or construction with no current report for the month, by town,
scoped like every list (application clauses and row-level security)."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from conftest import insert_sample_projects, present_scope
from registry.errors import InvalidInput
from registry.progress import file_progress
from registry.scope import Scope
from registry.unreported import count, not_reported

BUREAU = Scope(actor="registrar", role="bureau")
TOWN_A = Scope(actor="jia", role="town", town_codes=frozenset({"370499001"}))
TOWN_C = Scope(actor="bing", role="town", town_codes=frozenset({"370499003"}))
FACTORY = "2024-370499-01-01-100001"  # 乙镇, construction
PIPELINE = "2024-370499-01-01-100002"  # construction; 甲 ¼, 乙 ½ (primary), 丙 ¼
HEATING = "2024-370499-01-01-100005"  # 甲街道, approval


@pytest.fixture
def sample(db, grid_district):
    ids = insert_sample_projects(db)
    file_progress(db, ids[FACTORY], scope=BUREAU, actor="r", report={"period": "2025-06", "note": "正常推进"})
    return ids


def listed(groups) -> dict[str, list[str]]:
    return {g["town_name"]: [p["code"] for p in g["projects"]] for g in groups}


def test_the_bureau_sees_every_project_due_by_primary_town(db, sample):
    groups = not_reported(db, BUREAU, "2025-06")
    assert listed(groups) == {"甲街道": [HEATING], "乙镇": [PIPELINE]}
    assert count(groups) == 2 and groups[0]["town_code"] == "370499001"
    assert groups[1]["projects"][0]["stage_label"] == "在建" and groups[1]["projects"][0]["last_period"] is None


def test_a_month_without_any_report_lists_every_project_due(db, sample):
    assert listed(not_reported(db, BUREAU, "2025-07")) == {"甲街道": [HEATING], "乙镇": [FACTORY, PIPELINE]}
    factory = not_reported(db, BUREAU, "2025-07")[1]["projects"][0]
    assert factory["last_period"] == "2025-06"


def test_a_superseded_report_still_leaves_the_month_reported(db, sample):
    file_progress(db, sample[FACTORY], scope=BUREAU, actor="r", report={"period": "2025-06", "note": "更正"})
    assert FACTORY not in sum(listed(not_reported(db, BUREAU, "2025-06")).values(), [])


def test_a_project_that_started_after_the_month_is_not_due(db, sample):
    db.execute(text("UPDATE projects SET actual_start = '2025-08-01' WHERE code = :c"), {"c": PIPELINE})
    assert PIPELINE not in sum(listed(not_reported(db, BUREAU, "2025-07")).values(), [])


def test_town_officials_see_their_towns_projects_under_their_own_town(db, sample):
    assert listed(not_reported(db, TOWN_C, "2025-06")) == {"丙镇": [PIPELINE]}
    assert listed(not_reported(db, TOWN_A, "2025-06")) == {"甲街道": [PIPELINE, HEATING]}


def test_row_level_security_alone_keeps_other_towns_projects_out(db, sample):
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_scope(db, TOWN_C)
    unlimited = Scope(actor="x", role="bureau")  # the database's wall, not the application's
    assert sum(listed(not_reported(db, unlimited, "2025-06")).values(), []) == [PIPELINE]


# --- pages and API ----------------------------------------------------------------------------

def test_the_missing_page_lists_by_town_with_a_month_picker_and_the_schedule_button(client_for, web_data):
    bureau = client_for("bureau")
    page = bureau.get("/progress/missing?period=2025-06").get_data(as_text=True)
    assert "2025年6月未上报项目" in page and 'type="month"' in page and 'value="2025-06"' in page
    assert "甲街道供热管网" in page and "乙镇智能工厂改造" in page and "共 3 个项目未上报" in page
    assert '/progress/schedule?period=2025-06' in page
    assert 'href="/progress/missing"' in bureau.get("/").get_data(as_text=True)  # in the navigation
    assert "上报进度" in page  # the bureau files progress; a planner (read-only) is not offered it
    planner = client_for("planner").get("/progress/missing?period=2025-06").get_data(as_text=True)
    assert "甲街道供热管网" in planner and "上报进度" not in planner


def test_a_town_official_sees_their_own_list_on_the_dashboard(client_for, web_data):
    import re
    town = client_for("town", towns=["370499003"])
    page = town.get("/").get_data(as_text=True)
    panel = re.search(r'<section class="panel" id="missing">(.*?)</section>', page, re.S)[1]
    assert "东西燃气管网更新" in panel and "甲街道供热管网" not in panel and "乙镇智能工厂改造" not in panel
    listing = town.get("/progress/missing").get_data(as_text=True)
    assert "东西燃气管网更新" in listing and "甲街道供热管网" not in listing


def test_the_api_lists_the_month_and_refuses_a_bad_period(client_for, web_data):
    town = client_for("town", towns=["370499001"])
    body = town.get("/api/v1/progress/missing?period=2025-06").get_json()
    assert body["period"] == "2025-06" and body["total"] == 2
    assert [g["town_code"] for g in body["towns"]] == ["370499001"]
    error = town.get("/api/v1/progress/missing?period=六月").get_json()["error"]
    assert error["details"]["parameter"] == "period" and "YYYY-MM" in error["message"]


def test_anonymous_users_cannot_see_the_list(anonymous_client, web_data):
    assert anonymous_client.get("/api/v1/progress/missing").status_code == 401


def test_periods_parse_people_written_months():
    from registry import periods
    assert [periods.parse(t) for t in ("2025-6", "2025年6月", "2025-06-30", "2025/06")] == ["2025-06"] * 4
    with pytest.raises(InvalidInput):
        periods.parse("2025-13")
    assert periods.shift("2025-01", -1) == "2024-12" and periods.span("2024-11", "2025-01") == [
        "2024-11", "2024-12", "2025-01"]


def test_the_dashboard_counts_per_town_for_the_bureau(db, sample):
    from registry.unreported import counts_by_town
    assert counts_by_town(db, BUREAU, "2025-06") == [
        {"town_code": "370499001", "town_name": "甲街道", "count": 1},
        {"town_code": "370499002", "town_name": "乙镇", "count": 1}]
    assert counts_by_town(db, TOWN_A, "2025-06") == [{"town_code": "370499001", "town_name": "甲街道", "count": 2}]


def test_the_missing_page_filters_by_town_and_the_schedule_follows(client_for, web_data):
    page = client_for("bureau").get("/progress/missing?period=2025-06&town=370499001").get_data(as_text=True)
    assert "甲街道供热管网" in page and "乙镇智能工厂改造" not in page
    assert "/progress/schedule?period=2025-06&amp;town=370499001" in page
