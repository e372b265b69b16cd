"""Key projects (重点项目): ``is_key`` filters the list page, the API and the exports (CLI
``--key``), and the dashboard's tiles and chart bars link to the filtered project list."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

FACTORY = "2024-370499-01-01-100001"  # 乙镇智能工厂改造
HEATING = "2024-370499-01-01-100005"  # 甲街道供热管网


@pytest.fixture
def keyed(web_data, engine):
    with Session(engine) as session:
        session.execute(text("UPDATE projects SET is_key = true WHERE code IN (:a, :b)"), {"a": FACTORY, "b": HEATING})
        session.commit()
    return web_data


def codes(body) -> set[str]:
    return {p["code"] for p in body["items"]}


def test_the_api_filters_key_projects(keyed, client):
    assert codes(client.get("/api/v1/projects?is_key=true").get_json()) == {FACTORY, HEATING}
    others = codes(client.get("/api/v1/projects?is_key=false").get_json())
    assert len(others) == 3 and not others & {FACTORY, HEATING}
    stats = client.get("/api/v1/stats?group_by=domain&is_key=true").get_json()
    assert stats["totals"]["project_count"] == 2 and stats["totals"]["key_project_count"] == 2


def test_a_bad_is_key_value_is_a_clear_400(keyed, client):
    error = client.get("/api/v1/projects?is_key=maybe").get_json()["error"]
    assert error["details"]["parameter"] == "is_key" and "true" in error["message"]


def test_the_list_page_filters_key_projects(keyed, client):
    page = client.get("/projects?is_key=true").get_data(as_text=True)
    assert "乙镇智能工厂改造" in page and "甲街道供热管网" in page and "东西燃气管网更新" not in page
    assert '<option value="true" selected>' in page


def test_the_dashboard_key_tile_and_bars_link_to_the_filtered_list(keyed, client):
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'<a class="card" id="key-projects" href="/projects\?is_key=true">', page)
    data = json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', page, re.S)[1])
    assert "/projects?domain=industry" in data["groups"]["domain"]["links"]
    assert "/projects?town=370499002" in data["groups"]["town"]["links"]
    assert "/projects?stage=construction" in data["groups"]["stage"]["links"]
    assert "/projects?year=2025" in data["groups"]["year"]["links"]
    assert data["groups"]["month"]["links"][-1].startswith("/progress/missing?period=")


def test_the_dashboard_by_year_says_which_year_and_offers_the_others(keyed, client):
    page = client.get("/").get_data(as_text=True)
    assert "按计划开工年份" in page and "year_of=actual_start" in page and "year_of=actual_end" in page
    actual = client.get("/?year_of=actual_start").get_data(as_text=True)
    assert "<h2>按实际开工年份</h2>" in actual


def test_the_export_page_download_filters_key_projects(keyed, client):
    response = client.get("/export/download?format=csv&is_key=true")
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert {r["项目代码"] for r in rows} == {FACTORY, HEATING} and {r["重点项目"] for r in rows} == {"是"}


def test_the_cli_export_takes_key(keyed, tmp_path):
    from click.testing import CliRunner
    from web.cli import main
    path = tmp_path / "key.geojson"
    result = CliRunner().invoke(main, ["projects", "export", "--format", "geojson", "--key", "-o", str(path)])
    assert result.exit_code == 0 and "已导出 2 个项目" in result.output, result.output
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    assert {f["properties"]["code"] for f in features} == {FACTORY, HEATING}
    result = CliRunner().invoke(main, ["projects", "export", "--format", "csv", "--not-key", "-o", str(tmp_path / "o.csv")])
    assert "已导出 3 个项目" in result.output
