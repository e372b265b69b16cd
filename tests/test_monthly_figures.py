"""Monthly figures (月度调度): cumulative completed investment per reporting month, this month's
increase (= cumulative − last month's), by domain and by town, scoped; and the API's
``group_by=month``. Expected values are worked out by hand from the reports filed here."""
from __future__ import annotations

import pytest

from conftest import insert_sample_projects
from registry import figures
from registry.errors import InvalidInput
from registry.progress import file_progress
from registry.scope import Scope

BUREAU = Scope(actor="registrar", role="bureau")
TOWN_C = Scope(actor="bing", role="town", town_codes=frozenset({"370499003"}))
FACTORY = "2024-370499-01-01-100001"  # 乙镇 point, industry
PIPELINE = "2024-370499-01-01-100002"  # gas line: 甲 ¼, 乙 ½, 丙 ¼ (same latitude, 0.05/0.1/0.05°)


@pytest.fixture
def reported(db, grid_district):
    ids = insert_sample_projects(db)
    for project, period, value in ((FACTORY, "2025-05", 400), (FACTORY, "2025-06", 500),
                                   (FACTORY, "2025-06", 450),  # supersedes the 500
                                   (PIPELINE, "2025-06", 300)):
        file_progress(db, ids[project], scope=BUREAU, actor="r",
                      report={"period": period, "completed_investment": value})
    return ids


def by_key(rows):
    return {r["key"]: r for r in rows}


def test_cumulative_and_increase_per_month(db, reported):
    rows = by_key(figures.monthly_figures(db, BUREAU, "2025-05", "2025-07"))
    assert list(rows) == ["2025-05", "2025-06", "2025-07"]
    assert [(r["completed_investment"], r["increase"], r["reported_count"]) for r in rows.values()] == [
        (400, 400, 1), (750, 350, 2), (750, 0, 0)]
    assert rows["2025-06"]["label"] == "2025年6月" and rows["2025-07"]["project_count"] == 2


def test_a_month_before_any_report_is_zero_and_the_first_report_counts_from_zero(db, reported):
    rows = by_key(figures.monthly_figures(db, BUREAU, "2025-04", "2025-05"))
    assert (rows["2025-04"]["completed_investment"], rows["2025-04"]["increase"]) == (0, 0)
    assert rows["2025-05"]["increase"] == 400


def test_monthly_figures_by_domain_and_by_town(db, reported):
    june = by_key(figures.monthly_figures(db, BUREAU, "2025-06", "2025-06"))["2025-06"]
    assert june["by_domain"] == {"industry": {"completed_investment": 450, "increase": 50},
                                 "municipal": {"completed_investment": 300, "increase": 300}}
    towns = {code: (v["completed_investment"], v["increase"]) for code, v in june["by_town"].items()}
    assert towns == {"370499001": (75, 75), "370499002": (600, 200), "370499003": (75, 75)}


def test_a_town_official_sees_only_their_towns_share(db, reported):
    june = by_key(figures.monthly_figures(db, TOWN_C, "2025-06", "2025-06"))["2025-06"]
    assert (june["completed_investment"], june["increase"], june["reported_count"]) == (75, 75, 1)
    assert list(june["by_town"]) == ["370499003"]


def test_by_domain_and_by_town_add_up_to_the_month_in_every_month_and_scope(db, reported):
    """By domain and by town come from one month series (one statement): each adds up to the month."""
    for scope in (BUREAU, TOWN_C):
        for row in figures.monthly_figures(db, scope, "2025-04", "2025-07"):
            for key in ("completed_investment", "increase"):
                assert sum(v[key] for v in row["by_domain"].values()) == pytest.approx(row[key])
                assert sum(v[key] for v in row["by_town"].values()) == pytest.approx(row[key])
    june = by_key(figures.monthly_figures(db, TOWN_C, "2025-06", "2025-06"))["2025-06"]
    assert june["by_domain"] == {"municipal": {"completed_investment": 75, "increase": 75}}


def test_filters_apply_to_monthly_figures(db, reported):
    from registry.filters import ProjectFilters
    rows = figures.monthly_figures(db, BUREAU, "2025-06", "2025-06",
                                   filters=ProjectFilters.parse({"domain": "municipal"}))
    assert (rows[0]["completed_investment"], rows[0]["increase"]) == (300, 300)


@pytest.mark.parametrize("first, last", [("2025-07", "2025-05"), ("2025-13", "2025-05"), ("2000-01", "2025-01")])
def test_bad_month_ranges_are_refused(first, last):
    with pytest.raises(InvalidInput):
        figures.month_range(first, last)


def test_stats_by_year_says_which_year_and_offers_actual_dates(db, reported):
    from sqlalchemy import text
    from registry.filters import ProjectFilters
    db.execute(text("UPDATE projects SET actual_start = '2025-03-01' WHERE code = :c"), {"c": FACTORY})
    planned = {r["key"]: r["project_count"] for r in figures.stats(db, BUREAU, "year")}
    assert planned == {2023: 1, 2024: 2, 2025: 1, 2026: 1}  # planned start, else the code's year
    actual = figures.stats(db, BUREAU, "year", ProjectFilters.parse({"year_of": "actual_start"}))
    assert {r["key"]: (r["label"], r["project_count"]) for r in actual} == {2025: ("2025", 1), None: ("（无日期）", 4)}
    from registry.browse import list_projects
    started = list_projects(db, BUREAU, filters=ProjectFilters.parse({"year_of": "actual_start", "year": "2025"}))
    assert [p["code"] for p in started["items"]] == [FACTORY]
    with pytest.raises(InvalidInput):
        ProjectFilters.parse({"year_of": "whenever"})


# --- the API ----------------------------------------------------------------------------------

def test_the_api_groups_by_month(client_for, web_data):
    bureau = client_for("bureau")
    url = f"/api/v1/projects/{web_data[FACTORY]}/progress"
    assert bureau.post(url, json={"period": "2025-05", "completed_investment": 420}).status_code == 201
    assert bureau.post(url, json={"period": "2025-06", "completed_investment": 480}).status_code == 201
    body = bureau.get("/api/v1/stats?group_by=month&period_from=2025-05&period_to=2025-06").get_json()
    assert (body["group_by"], body["period_from"], body["period_to"]) == ("month", "2025-05", "2025-06")
    assert [(i["key"], i["completed_investment"], i["increase"]) for i in body["items"]] == [
        ("2025-05", 420, 420), ("2025-06", 480, 60)]
    assert body["items"][1]["by_town"] == {"370499002": {"completed_investment": 480, "increase": 60}}
    bad = bureau.get("/api/v1/stats?group_by=month&period_to=June")
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["parameter"] == "period_to"


def test_the_api_month_figures_are_scoped(client_for, web_data):
    bureau = client_for("bureau")
    bureau.post(f"/api/v1/projects/{web_data[FACTORY]}/progress", json={"period": "2025-06", "completed_investment": 480})
    other_town = client_for("town", towns=["370499001"])
    body = other_town.get("/api/v1/stats?group_by=month&period_from=2025-06&period_to=2025-06").get_json()
    assert (body["items"][0]["completed_investment"], body["items"][0]["by_town"]) == (0, {})


def test_month_grouping_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    stats = paths["/api/v1/stats"]["get"]
    names = {p["name"] for p in stats["parameters"]}
    assert {"period_from", "period_to", "is_key", "year_of"} <= names
    group_by = next(p for p in stats["parameters"] if p["name"] == "group_by")
    assert "month" in group_by["schema"]["enum"]


def test_the_dashboard_charts_the_months_increase_by_domain(client_for, web_data):
    import json
    import re
    from registry import periods
    bureau = client_for("bureau")
    this_month = periods.current()
    bureau.post(f"/api/v1/projects/{web_data[FACTORY]}/progress", json={"completed_investment": 450})
    bureau.post(f"/api/v1/projects/{web_data[PIPELINE]}/progress", json={"completed_investment": 250})
    page = bureau.get("/").get_data(as_text=True)
    month = json.loads(re.search(r'id="dashboard-data">(.*?)</script>', page, re.S)[1])["groups"]["month"]
    assert month["labels"][-1] == this_month and month["increase"][-1] == 700
    assert {d["label"]: d["data"][-1] for d in month["by_domain"]} == {"工业": 450, "市政基础设施": 250}
    assert month["links"][-1] == f"/progress/missing?period={this_month}"
