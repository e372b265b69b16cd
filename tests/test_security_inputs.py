"""Input bounds: each cause of an HTTP 500 or a CLI traceback found by the attack pass is now a
clear 4xx in the JSON error shape (or a row / file problem in the import report)."""
from __future__ import annotations

import re

import io

import pytest
import shapely
from openpyxl import Workbook

from registry import importing, validation
from registry.errors import ImportRejected

BIG = "9" * 25  # beyond bigint
HEADER = "项目代码,项目名称,领域,建设单位,总投资（万元）,项目阶段,几何WKT\n"


def _error(response, status=400):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body["error"]) == {"code", "message", "details"} and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("url", [f"/api/v1/projects/{BIG}", f"/api/v1/projects/{BIG}/history"])
def test_integers_beyond_bigint_in_paths_are_not_found(client, web_data, url):
    _error(client.get(url), 404)


def test_integers_beyond_bigint_on_pages_are_not_found(client, web_data):
    assert client.get(f"/projects/{BIG}").status_code == 404


@pytest.mark.parametrize("query", [f"year={BIG}", f"page={BIG}", "year=0", "bbox=-inf,-inf,inf,inf"])
def test_numbers_out_of_range_in_queries_are_refused(client, web_data, query):
    assert _error(client.get(f"/api/v1/projects?{query}"))["code"] == "invalid_input"
    assert client.get(f"/projects?{query}").status_code == 400


@pytest.mark.parametrize("url", ["/api/v1/projects?q=%00", "/api/v1/projects.geojson?q=a%00b",
                                 "/api/v1/map/features?bbox=117,35,118,36&q=%00", "/api/v1/projects?x%00=1"])
def test_a_nul_byte_in_the_query_is_refused_before_any_body_is_sent(client, web_data, url):
    assert "NUL" in _error(client.get(url))["message"]


def test_a_nul_byte_in_a_json_body_is_refused(client, web_data):
    response = client.post("/api/v1/projects/preview", json={"wkt": "POINT(117.1 35.05)", "note": ["a\x00"]})
    assert _error(response)["details"] == {"where": "body"}


def test_a_nul_byte_in_a_form_is_refused(client, web_data):
    response = client.post("/projects/new", data={"name": "x\x00y"}, headers={"Accept": "application/json"})
    assert _error(response)["details"] == {"where": "form"}


def test_stats_by_town_filtered_by_a_town(client, web_data):
    body = client.get("/api/v1/stats?group_by=town&town=370499002").get_json()
    counts = {item["key"]: item["project_count"] for item in body["items"]}
    assert counts["370499002"] >= 1
    assert client.get("/api/v1/stats?group_by=town&town=370403104").status_code == 200  # no such town


@pytest.mark.parametrize("body, field", [({"wkt": 5}, "wkt"), ({"crs": ["x"], "wkt": "POINT(1 2)"}, "crs"),
                                         ({"geometry": "POINT(1 2)"}, "geometry")])
def test_preview_with_values_of_the_wrong_type(client, web_data, body, field):
    assert _error(client.post("/api/v1/projects/preview", json=body))["details"] == {"field": field}


def test_preview_of_a_curved_geometry(client, web_data):
    error = _error(client.post("/api/v1/projects/preview", json={"wkt": "CIRCULARSTRING(117 35, 117.1 35.1, 117.2 35)"}))
    assert "曲线" in error["message"]


def test_an_absurd_amount_is_a_field_error(client, web_data):
    response = client.post("/api/v1/projects", json={
        "code": "2024-370499-01-01-999999", "name": "x", "domain": "industry", "owner": "o", "stage": "reserve",
        "total_investment": 5, "wkt": "POINT(117.1 35.05)", "completed_investment": "1e400000000"})
    assert response.status_code in (400, 422), response.get_data(as_text=True)
    assert "completed_investment" in response.get_data(as_text=True)


def test_absurd_numbers_are_not_numbers():
    assert validation.parse_decimal("1e400000000") is None
    assert validation.parse_decimal("12.5") == validation.Decimal("12.5")


@pytest.mark.parametrize("url", ["/map?foo=bar&zoom=abc", "/towns/370499001?foo=bar&x=%E4%B8%AD"])
def test_unknown_query_parameters_on_map_pages_are_ignored(client, web_data, url):
    assert client.get(url).status_code == 200


def test_405_says_which_methods_are_allowed(client, web_data):
    response = client.put("/api/v1/projects")
    assert _error(response, 405)["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize("method,path", [("get", "/logout"), ("put", "/projects"), ("post", "/map"),
                                         ("patch", "/targets")])
def test_a_page_asked_with_the_wrong_method_is_a_chinese_405(client_for, web_data, method, path):
    browser = client_for("town", towns=["370499002"])
    response = getattr(browser, method)(path, headers={"Accept": "text/html"})
    assert response.status_code == 405 and response.headers["Allow"]
    assert "此地址不支持该请求方法" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["x", "0", "1e400", "[]"])
def test_the_export_page_ignores_an_odd_format_in_its_query(client_for, web_data, value):
    page = client_for("planner").get(f"/export?format={value}")
    links = re.findall(r'href="/export/download\?([^"]*)"', page.get_data(as_text=True))
    assert page.status_code == 200 and len(links) == 4
    assert all(link.count("format=") == 1 for link in links)


@pytest.mark.parametrize("period", ["0000-01-01", "9999-12", "1999-12"])
def test_a_month_outside_the_plans_years_is_a_400(client_for, web_data, period):
    client = client_for("bureau")
    assert client.get(f"/progress/missing?period={period}").status_code == 400
    assert _error(client.get(f"/api/v1/stats?group_by=month&period_to={period}"))["code"] == "invalid_input"


# --- imports (CLI and web share registry.importing) ---

def _import(db, data: bytes, name="p.csv"):
    return importing.import_projects(db, io.BytesIO(data), filename=name, dry_run=True)


def _line(n_vertices: int) -> str:
    return "LINESTRING(" + ",".join(f"{117 + i * 1e-6:.7f} {35.05 + i * 1e-7:.7f}" for i in range(n_vertices)) + ")"


def test_a_long_wkt_field_beyond_131072_characters_imports(db, grid_district):
    wkt = _line(7000)
    assert len(wkt) > 131_072
    report = _import(db, (HEADER + f'2025-370499-01-01-800001,管线,工业,甲,10,谋划储备,"{wkt}"\n').encode())
    assert report.imported == 1 and not report.errors


def test_a_geometry_beyond_the_vertex_limit_is_a_row_error(db, grid_district, monkeypatch):
    monkeypatch.setattr(validation, "MAX_VERTICES", 500)
    report = _import(db, (HEADER + f'2025-370499-01-01-800001,管线,工业,甲,10,谋划储备,"{_line(501)}"\n').encode())
    assert report.rejected == 1 and "顶点过多" in report.errors[0].message


def test_a_curved_wkt_is_a_row_error(db, grid_district):
    report = _import(db, (HEADER + '2025-370499-01-01-800001,管线,工业,甲,10,谋划储备,'
                                   '"CIRCULARSTRING(117 35, 117.1 35.1, 117.2 35)"\n').encode())
    assert report.rejected == 1 and "曲线" in report.errors[0].message


def test_a_nul_byte_in_a_csv_cell_rejects_the_file_clearly(db, grid_district):
    with pytest.raises(ImportRejected, match="NUL"):
        _import(db, (HEADER + "2025-370499-01-01-800001,管\x00线,工业,甲,10,谋划储备,POINT(117.1 35.05)\n").encode())


def _workbook(rows: int) -> bytes:
    """An XLSX of ``rows`` valid projects in the template's columns."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER.strip().split(","))
    for i in range(rows):
        sheet.append([f"2025-370499-01-01-8{i:05d}", f"项目{i}", "工业", "甲", 10, "谋划储备", "POINT(117.1 35.05)"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_an_xlsx_with_one_flipped_byte_is_refused_clearly(db, grid_district):
    data = bytearray(_workbook(200))
    start = data.index(b"xl/worksheets/sheet1.xml") + len(b"xl/worksheets/sheet1.xml") + 40
    data[start] ^= 0xFF  # inside the compressed sheet
    with pytest.raises(ImportRejected, match="XLSX"):
        _import(db, bytes(data), name="p.xlsx")


def test_shapely_reads_no_curves():
    # Why the curved-WKT checks exist: GEOS refuses curves with an exception of its own.
    with pytest.raises(NotImplementedError):
        shapely.from_wkt("CIRCULARSTRING(0 0, 1 1, 2 0)")


def test_a_file_name_and_actor_with_line_breaks_and_sql_are_only_text(db, grid_district):
    """The staging worker composes the file name and the actor into its per-chunk SQL as literals;
    a line break must not end a comment around them and let the rest run as a statement."""
    from sqlalchemy import text
    hostile = "x\n;UPDATE projects SET name = $$pwned$$;--\r\n*/ ';DELETE FROM audit_log;--.csv"
    rows = (HEADER + "2025-370499-01-01-800001,管线,工业,甲,10,谋划储备,POINT(117.05 35.05)\n"
                     "2025-370499-01-01-800002,锅炉,工业,乙,10,谋划储备,POINT(117.15 35.05)\n").encode()
    report = importing.import_projects(db, io.BytesIO(rows), filename=hostile, actor=hostile)
    assert report.imported == 2 and not report.errors
    assert db.execute(text("SELECT count(*) FROM projects WHERE name = 'pwned'")).scalar() == 0
    entries = db.execute(text("SELECT actor, details ->> 'filename' FROM audit_log WHERE entity = 'project' "
                              "AND action = 'import'")).all()
    assert entries == [(hostile, hostile)] * 2


def test_an_xlsx_whose_sheet_is_cut_off_with_valid_checksums_is_refused_clearly(db, grid_district):
    """The zip is sound (its checksums match) but the sheet's XML ends half-way: openpyxl fails only
    while the rows are read, which must still be a clear refusal, not a traceback."""
    import zipfile
    damaged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_workbook(300))) as source, zipfile.ZipFile(damaged, "w") as target:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                content = content[: len(content) * 2 // 3]
            target.writestr(member, content)
    with pytest.raises(ImportRejected, match="无法读取"):
        _import(db, damaged.getvalue(), name="p.xlsx")


def test_a_nul_byte_in_the_file_name_is_dropped_not_a_500(db, grid_district):
    from sqlalchemy import text
    rows = (HEADER + "2025-370499-01-01-800001,管线,工业,甲,10,谋划储备,POINT(117.05 35.05)\n").encode()
    report = importing.import_projects(db, io.BytesIO(rows), filename="a\x00b.csv")
    assert report.imported == 1
    assert db.execute(text("SELECT filename FROM import_batches")).scalars().all() == ["ab.csv"]
