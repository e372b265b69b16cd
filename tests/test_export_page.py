"""The export page: downloads in every format, limited to the user's scope, audited."""
from __future__ import annotations

import io
import json

import pyogrio
from sqlalchemy import text

from conftest import SAMPLE_PROJECTS

OWN_TOWN = "370499001"  # 甲街道
LIVE = {code for code, *_, deleted in SAMPLE_PROJECTS if not deleted}


def touching_own_town(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text(
            "SELECT p.code FROM projects p JOIN project_towns pt ON pt.project_id = p.id "
            "WHERE pt.town_code = :t AND p.deleted_at IS NULL"), {"t": OWN_TOWN}).scalars())


def test_the_page_counts_what_the_user_can_export(web_data, client_for):
    page = client_for("planner").get("/export")
    assert page.status_code == 200
    assert f"共 {len(LIVE)} 个" in page.get_data(as_text=True)


def test_a_town_official_downloads_only_projects_touching_their_town(web_data, client_for, engine):
    response = client_for("town", towns=[OWN_TOWN]).get("/export/download?format=geojson")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    codes = {f["properties"]["code"] for f in json.loads(response.get_data())["features"]}
    assert codes == touching_own_town(engine)
    assert codes and codes < LIVE


def test_csv_download_opens_in_excel_and_filters_apply(web_data, client_for):
    response = client_for("planner").get("/export/download?format=csv&domain=municipal")
    body = response.get_data()
    assert body.startswith("\ufeff".encode()) and response.headers["Content-Type"] == "text/csv; charset=utf-8"
    municipal = {code for code, _, domain, *rest in SAMPLE_PROJECTS if domain == "municipal" and not rest[-1]}
    assert {line.split(",")[0] for line in body.decode("utf-8-sig").splitlines()[1:]} == municipal


def test_geopackage_download_is_a_readable_layer(web_data, client_for, tmp_path):
    response = client_for("bureau").get("/export/download?format=gpkg")
    path = tmp_path / "out.gpkg"
    path.write_bytes(response.get_data())
    frame = pyogrio.read_dataframe(path)
    assert set(frame["code"]) == LIVE
    assert frame.crs.to_epsg() == 4326


def test_xlsx_download_has_the_template_header(web_data, client_for):
    from openpyxl import load_workbook
    response = client_for("planner").get("/export/download?format=xlsx")
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).worksheets[0]
    header = next(sheet.iter_rows(values_only=True))
    assert header[:2] == ("项目代码", "项目名称")


def test_an_unknown_format_is_a_clear_400(web_data, client_for):
    response = client_for("planner").get("/export/download?format=shp", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert "不支持的导出格式" in response.get_json()["error"]["message"]


def test_every_download_is_audited_with_who_and_what(web_data, client_for, engine):
    client_for("planner", username="planner-audit").get("/export/download?format=geojson&stage=construction")
    with engine.connect() as conn:
        actor, details = conn.execute(text(
            "SELECT actor, details FROM audit_log WHERE action = 'export' ORDER BY id DESC LIMIT 1")).one()
    assert actor == "planner-audit"
    assert details["format"] == "geojson" and details["filters"] == {"stage": "construction"}
    assert details["count"] == sum(1 for p in SAMPLE_PROJECTS if p[4] == "construction" and not p[-1])


def test_the_file_is_named_by_what_it_holds(web_data, client_for):
    import datetime as dt
    from urllib.parse import quote
    response = client_for("planner").get("/export/download?format=geojson&town=370499002&domain=municipal")
    name = f"项目_乙镇_市政基础设施_{dt.date.today().isoformat()}.geojson"
    disposition = response.headers["Content-Disposition"]
    assert disposition == (f'attachment; filename="projects_{dt.date.today().isoformat()}.geojson"; '
                           f"filename*=UTF-8''{quote(name, safe='')}")
    xlsx = client_for("bureau").get("/export/download?format=xlsx&stage=在建")
    assert quote(f"项目_在建_{dt.date.today().isoformat()}.xlsx", safe="") in xlsx.headers["Content-Disposition"]
