"""Roll-ups for city and province viewers (issue 14 item 2): figures summed up the levels in SQL,
compared here with a direct aggregate; scope (a city viewer sees its city, a bureau its district,
town officials nothing); the pages, the figures download and the exports per level.

The data: 测试区 370499 (city 3704) with SAMPLE_PROJECTS, 邻区 370498 (city 3704) and 远区 371599
(city 3715) with two projects each (``conftest.insert_other_districts``).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from conftest import insert_other_districts
from web.api import response_cache

DIRECT = text("""
    SELECT d.code, d.city_code, count(p.id) AS n, coalesce(sum(p.total_investment), 0)::float8 AS total,
           coalesce(sum(coalesce(p.completed_investment, 0)), 0)::float8 AS completed
    FROM districts d LEFT JOIN projects p ON p.district_code = d.code AND p.deleted_at IS NULL
    WHERE d.province_code = '37'
    GROUP BY d.code, d.city_code ORDER BY d.code""")


@pytest.fixture
def three_districts(web_data, engine) -> dict[str, int]:
    with Session(engine) as session:
        ids = insert_other_districts(session)
        session.commit()
    response_cache.clear()
    return {**web_data, **ids}


def _direct(engine) -> dict[str, dict]:
    with engine.connect() as connection:
        return {r.code: r._asdict() for r in connection.execute(DIRECT)}


def _figures(row: dict) -> tuple:
    return row["project_count"], row["total_investment"], row["completed_investment"]


def test_the_province_figures_are_the_sums_of_its_districts_and_cities(client_for, three_districts, engine):
    body = client_for("admin").get("/api/v1/rollup?level=province&code=37").get_json()
    direct = _direct(engine)
    assert {d["code"] for d in body["districts"]} == set(direct) == {"370499", "370498", "371599"}
    for district in body["districts"]:
        row = direct[district["code"]]
        assert _figures(district) == (row["n"], round(row["total"], 2), round(row["completed"], 2))
        assert district["completion_rate"] == round(row["completed"] / row["total"], 4)
        assert district["density"] > 0 and district["area_km2"] > 0
    cities = {c["code"]: c for c in body["cities"]}
    assert set(cities) == {"3704", "3715"} and cities["3704"]["name"] == "枣庄市"
    for code, city in cities.items():
        rows = [r for r in direct.values() if r["city_code"] == code]
        assert city["district_count"] == len(rows)
        assert _figures(city) == (sum(r["n"] for r in rows), round(sum(r["total"] for r in rows), 2),
                                  round(sum(r["completed"] for r in rows), 2))
    totals = body["totals"]
    assert totals["name"] == "山东省" and totals["district_count"] == 3
    assert _figures(totals) == (sum(r["n"] for r in direct.values()),
                                round(sum(r["total"] for r in direct.values()), 2),
                                round(sum(r["completed"] for r in direct.values()), 2))
    # the live sample of 测试区 (the deleted project is left out): 5 projects, 2800 planned, 1100 done
    assert _figures(next(d for d in body["districts"] if d["code"] == "370499")) == (5, 2800.0, 1100.0)


def test_a_city_rollup_lists_its_districts_only_and_filters_apply(client_for, three_districts):
    client = client_for("planner")
    city = client.get("/api/v1/rollup?level=city&code=3704").get_json()
    assert [d["code"] for d in city["districts"]] == ["370498", "370499"] and city["cities"] == []
    assert city["totals"]["project_count"] == 7
    municipal = client.get("/api/v1/rollup?level=city&code=3704&domain=municipal").get_json()
    assert municipal["totals"]["project_count"] == 4  # 2 in 测试区, 2 in 邻区
    assert municipal["totals"]["total_investment"] == 800 + 200 + 100 + 200
    town = client.get("/api/v1/rollup?level=city&code=3704&town=370499001").get_json()  # an EXISTS clause
    assert town["totals"]["project_count"] == 3  # 东西燃气管网更新, 医院影像楼设备更新, 甲街道供热管网


def test_a_city_viewer_sees_its_city_only(client_for, three_districts):
    client = client_for("viewer", cities=["3704"])
    province = client.get("/api/v1/rollup?level=province&code=37").get_json()
    assert {d["code"] for d in province["districts"]} == {"370499", "370498"}
    assert [c["code"] for c in province["cities"]] == ["3704"]
    assert province["totals"]["project_count"] == 7
    refused = client.get("/api/v1/rollup?level=city&code=3715")
    assert refused.status_code == 404 and "371599" not in refused.get_data(as_text=True)
    assert client.get("/rollup/city/3715").status_code == 404
    page = client.get("/rollup/province/37").get_data(as_text=True)
    assert "邻区" in page and "远区" not in page and "聊城市" not in page
    assert "只统计了其 3 个区县中您有权查看的 2 个" in page  # not mistaken for the province's totals
    city = client.get("/rollup/city/3704").get_data(as_text=True)
    assert "rollup-partial" not in city
    assert client.get("/rollup?code=3715&level=city").status_code == 302  # landing ignores them


def test_answers_are_cached_per_district_scope(client_for, three_districts):
    """Two viewers of different cities share role and (no) towns: the cache must keep them apart."""
    url = "/api/v1/rollup?level=province&code=37"
    zaozhuang = client_for("viewer", cities=["3704"]).get(url).get_json()
    liaocheng = client_for("viewer", cities=["3715"]).get(url).get_json()
    assert {d["code"] for d in zaozhuang["districts"]} == {"370499", "370498"}
    assert {d["code"] for d in liaocheng["districts"]} == {"371599"}
    again = client_for("viewer", cities=["3715"]).get(url)
    assert again.get_json() == liaocheng and again.headers["ETag"]


def test_a_district_bureau_sees_its_district_only(client_for, three_districts):
    a = client_for("bureau", districts=["370499"]).get("/api/v1/rollup?level=province&code=37").get_json()
    assert [d["code"] for d in a["districts"]] == ["370499"] and a["totals"]["project_count"] == 5
    b = client_for("bureau", districts=["370498"])
    city = b.get("/api/v1/rollup?level=city&code=3704").get_json()
    assert [d["code"] for d in city["districts"]] == ["370498"]
    assert "测试区" not in json.dumps(city, ensure_ascii=False)
    assert b.get("/api/v1/rollup?level=city&code=3715").status_code == 404


def test_town_officials_are_refused(client_for, three_districts):
    client = client_for("town", towns=["370499001"])
    for url in ("/api/v1/rollup?level=city&code=3704", "/rollup", "/rollup/city/3704",
                "/rollup/city/3704/figures.csv", "/export?city=3704", "/export/download?format=csv&city=3704"):
        response = client.get(url)
        assert response.status_code == 403, url
    assert client.get("/api/v1/rollup?level=city&code=3704").get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("query, message", [
    ("level=county&code=37", "无法识别的汇总层级"), ("code=37", "缺少汇总层级"),
    ("level=city&code=37", "市代码应为 4 位数字"), ("level=province&code=", "省代码应为 2 位数字"),
    ("level=province&code=37&domain=火箭", "无法识别的领域")])
def test_bad_parameters_are_clear_400s(client_for, three_districts, query, message):
    response = client_for("admin").get(f"/api/v1/rollup?{query}")
    assert response.status_code == 400 and message in response.get_json()["error"]["message"]


def test_the_landing_page_goes_to_the_viewers_level(client_for, three_districts):
    assert client_for("viewer", cities=["3704"]).get("/rollup").headers["Location"].endswith("/rollup/city/3704")
    assert client_for("viewer", provinces=["37"]).get("/rollup").headers["Location"].endswith("/rollup/province/37")
    assert client_for("bureau", districts=["370499"]).get("/rollup").headers["Location"].endswith("/rollup/city/3704")
    empty = client_for("viewer", cities=["3799"]).get("/rollup")
    assert empty.status_code == 200 and "没有可查看" in empty.get_data(as_text=True)


def test_the_province_page_shows_cities_districts_and_a_map(client_for, three_districts):
    response = client_for("viewer", provinces=["37"]).get("/rollup/province/37")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and len(response.get_data()) < 1_000_000
    for name in ("山东省", "枣庄市", "聊城市", "测试区", "邻区", "远区"):
        assert name in page
    assert 'href="/rollup/city/3715"' in page and 'href="/map?district=371599"' in page
    assert 'href="/targets?district=370499"' in page and 'id="rollup-targets"' in page
    assert 'href="/targets?district=37"' in page  # the province's own targets, 区县合计 beside them
    assert "EqregRollup.init" in page and "js/rollup_map.js" in page
    assert "cdn" not in page.lower() and "<script>" not in page  # vendored, every inline script has the nonce
    nonce = response.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert page.count("<script") == page.count(f'nonce="{nonce}"') + page.count("<script src=")


def test_the_figures_download_holds_the_tables_and_is_audited(client_for, three_districts, engine):
    client = client_for("viewer", cities=["3704"])
    response = client.get("/rollup/province/37/figures.csv")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["层级", "代码", "名称"]
    assert [r[1] for r in rows[1:]] == ["370498", "370499", "3704", "37"]
    assert rows[-1][0] == "合计" and rows[-1][4] == "7"
    workbook = load_workbook(io.BytesIO(client.get("/rollup/city/3704/figures.xlsx").get_data()))
    sheet = workbook.active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[-1][0] == "合计" and values[-1][4] == 7 and values[-1][5] == 2800 + 300
    assert client.get("/rollup/city/3704/figures.pdf").status_code == 400
    with engine.connect() as connection:
        audited = connection.execute(text("SELECT details->>'format', details->>'code' FROM audit_log "
                                          "WHERE action = 'export' AND entity = 'rollup' ORDER BY id")).all()
    assert audited == [("csv", "37"), ("xlsx", "3704")]


@pytest.mark.parametrize("fmt", ["geojson", "csv", "xlsx", "gpkg"])
def test_exports_per_level(client_for, three_districts, fmt, tmp_path):
    admin = client_for("admin")
    liaocheng = admin.get(f"/export/download?format={fmt}&city=3715")
    assert liaocheng.status_code == 200
    codes = _exported_codes(liaocheng.get_data(), fmt, tmp_path)
    assert codes == {"2024-371599-01-01-300001", "2024-371599-01-01-300002"}
    province = _exported_codes(admin.get(f"/export/download?format={fmt}&province=37").get_data(), fmt, tmp_path)
    assert len(province) == 5 + 2 + 2
    viewer = client_for("viewer", cities=["3704"])
    assert viewer.get(f"/export/download?format={fmt}&city=3715").status_code == 404
    own = _exported_codes(viewer.get(f"/export/download?format={fmt}&district=370498").get_data(), fmt, tmp_path)
    assert own == {"2024-370498-01-01-300001", "2024-370498-01-01-300002"}


def test_exports_per_level_are_named_after_the_level_and_code(client_for, three_districts):
    from urllib.parse import quote
    today = dt.date.today().isoformat()
    admin = client_for("admin")
    for query, name, ascii_name in (
            ("format=geojson&province=37", f"项目_山东省-37_{today}.geojson", f"projects_province-37_{today}.geojson"),
            ("format=csv&city=3715&stage=在建", f"项目_聊城市-3715_在建_{today}.csv", f"projects_city-3715_{today}.csv"),
            ("format=xlsx&district=370499", f"项目_测试区-370499_{today}.xlsx", f"projects_district-370499_{today}.xlsx"),
            ("format=csv", f"项目_{today}.csv", f"projects_{today}.csv")):
        disposition = admin.get(f"/export/download?{query}").headers["Content-Disposition"]
        assert disposition == f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    figures = client_for("viewer", cities=["3704"]).get("/rollup/city/3704/figures.csv")
    assert figures.headers["Content-Disposition"] == (
        f"attachment; filename=\"rollup_city-3704_{today}.csv\"; "
        f"filename*=UTF-8''{quote(f'枣庄市-3704_汇总_{today}.csv', safe='')}")


def test_the_export_page_keeps_the_level(client_for, three_districts):
    page = client_for("admin").get("/export?province=37").get_data(as_text=True)
    assert 'name="province" value="37"' in page and "province=37" in page and "9" in page
    assert client_for("admin").get("/export?province=37&city=3704").status_code == 400


def _exported_codes(data: bytes, fmt: str, tmp_path) -> set[str]:
    if fmt == "geojson":
        return {f["properties"]["code"] for f in json.loads(data)["features"]}
    if fmt == "csv":
        text_ = data.decode("utf-8-sig")
        return {line.split(",")[0] for line in text_.splitlines()[1:] if line}
    if fmt == "xlsx":
        sheet = load_workbook(io.BytesIO(data)).active
        return {row[0].value for row in list(sheet.iter_rows())[1:] if row[0].value}
    import sqlite3
    path = tmp_path / "export.gpkg"
    path.write_bytes(data)
    with sqlite3.connect(path) as connection:
        table = connection.execute("SELECT table_name FROM gpkg_contents").fetchone()[0]
        return {r[0] for r in connection.execute(f'SELECT code FROM "{table}"')}


def test_the_cli_exports_one_level(three_districts, tmp_path):
    from click.testing import CliRunner
    from web.cli import main
    out = tmp_path / "liaocheng.geojson"
    done = CliRunner().invoke(main, ["projects", "export", "--format", "geojson", "--city", "3715", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert _exported_codes(out.read_bytes(), "geojson", tmp_path) == {"2024-371599-01-01-300001",
                                                                     "2024-371599-01-01-300002"}
    missing = CliRunner().invoke(main, ["projects", "export", "--format", "csv", "--city", "3799", "-o", str(out)])
    assert missing.exit_code != 0 and "未找到市：3799" in missing.output
    # -o a directory: the file is named after the level, as the web download is
    folder = tmp_path / "exports"
    folder.mkdir()
    named = CliRunner().invoke(main, ["projects", "export", "--format", "csv", "--province", "37", "-o", str(folder)])
    assert named.exit_code == 0, named.output
    assert [p.name for p in folder.iterdir()] == [f"项目_山东省-37_{dt.date.today().isoformat()}.csv"]
