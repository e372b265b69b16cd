"""Exports (DESIGN §4–5): GeoJSON contract, filters, scope, CSV/XLSX/GPKG files, CLI."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import text

from registry.matching import match_projects
from registry.exporting import export_projects, iter_geojson
from registry.filters import ProjectFilters
from registry.scope import Scope

SYSTEM = Scope.system()
TOWN1_ONLY = Scope(actor="t", role="town", town_codes=frozenset({"370499001"}))


def add_project(db, code, wkt, *, name="测试项目", domain="municipal", stage="reserve", total=100,
                owner="测试单位", category=None, planned_start=None, **extra):
    columns = {"district_code": "370499", "code": code, "name": name, "domain_code": domain,
               "owner": owner, "total_investment": total, "stage": stage, "category": category,
               "planned_start": planned_start, **extra}
    names = ", ".join(columns)
    values = ", ".join(f":{key}" for key in columns)
    pid = db.execute(text(f"INSERT INTO projects ({names}, geom) VALUES ({values}, "
                          f"ST_GeomFromText(:wkt, 4326)) RETURNING id"), {**columns, "wkt": wkt}).scalar_one()
    match_projects(db, project_ids=[pid])
    return pid


@pytest.fixture
def three_projects(db, grid_district):
    """A point in 乙镇, a pipeline across all three towns, a polygon in 甲街道/乙镇."""
    return {
        "point": add_project(db, "2024-370499-01-01-000011", "POINT(117.15 35.05)", name="乙镇CT更新",
                             domain="medical", stage="construction", total=800, category="医学影像",
                             equipment_investment=600, completed_investment=200,
                             actual_start="2024-03-01", funding=["ultra_long_bonds", "self_raised"],
                             responsible_units=["乙镇", "区卫生健康局"]),
        "line": add_project(db, "2023-370499-02-02-000022", "LINESTRING(117.05 35.05, 117.25 35.05)",
                            name="燃气管网改造", category="燃气管网", total=5000, planned_start="2023-05-01"),
        "polygon": add_project(db, "2024-370499-03-03-000033",
                               "POLYGON((117.07 35.02, 117.11 35.02, 117.11 35.04, 117.07 35.04, 117.07 35.02))",
                               name="=HYPERLINK(\"http://x\")园区", domain="industry", owner="-危险单位",
                               category="技术改造", total=300),
    }


def geojson(db, scope=SYSTEM, **filters):
    return json.loads("".join(iter_geojson(db, scope=scope, filters=ProjectFilters(**filters))))


def by_code(collection):
    return {f["properties"]["code"]: f for f in collection["features"]}


def test_geojson_is_a_feature_collection_with_the_property_contract(db, three_projects):
    collection = geojson(db)
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == 3
    point = by_code(collection)["2024-370499-01-01-000011"]
    assert point["type"] == "Feature"
    assert point["geometry"] == {"type": "Point", "coordinates": [117.15, 35.05]}
    props = point["properties"]
    assert props["id"] == three_projects["point"] == point["id"]
    assert props["name"] == "乙镇CT更新"
    assert (props["domain"], props["category"], props["stage"]) == ("medical", "医学影像", "construction")
    assert (props["domain_label"], props["stage_label"]) == ("医疗卫生", "在建")
    assert (props["total_investment"], props["equipment_investment"], props["completed_investment"]) \
        == (800, 600, 200)
    assert (props["town_code"], props["town_name"]) == ("370499002", "乙镇")
    assert props["towns"] == [{"code": "370499002", "name": "乙镇", "share": 1}]
    assert props["actual_start"] == "2024-03-01"
    assert props["funding"] == ["ultra_long_bonds", "self_raised"]
    assert props["funding_label"] == "超长期特别国债；企业自筹"
    assert props["responsible_units"] == ["乙镇", "区卫生健康局"]
    for key in ("owner", "credit_code", "address", "planned_end", "lead_unit", "responsible_units",
                "is_key", "quantity", "unit", "remarks"):
        assert key in props


def test_geojson_line_carries_its_town_shares_largest_first(db, three_projects):
    props = by_code(geojson(db))["2023-370499-02-02-000022"]["properties"]
    assert [t["code"] for t in props["towns"]] == ["370499002", "370499001", "370499003"]
    assert [t["name"] for t in props["towns"]] == ["乙镇", "甲街道", "丙镇"]
    assert props["towns"][0]["share"] == pytest.approx(0.5, abs=1e-3)
    assert sum(t["share"] for t in props["towns"]) == pytest.approx(1, abs=1e-5)
    assert props["town_code"] == "370499002"


def test_geojson_with_no_projects_is_an_empty_collection(db, grid_district):
    assert geojson(db) == {"type": "FeatureCollection", "features": []}


@pytest.mark.parametrize("filters, expected", [
    ({"town": "370499003"}, {"2023-370499-02-02-000022"}),
    ({"town": "370499001"}, {"2023-370499-02-02-000022", "2024-370499-03-03-000033"}),
    ({"domain": "医疗卫生"}, {"2024-370499-01-01-000011"}),
    ({"domain": "industry"}, {"2024-370499-03-03-000033"}),
    ({"stage": "在建"}, {"2024-370499-01-01-000011"}),
    ({"year": 2023}, {"2023-370499-02-02-000022"}),
    ({"q": "管网"}, {"2023-370499-02-02-000022"}),
])
def test_geojson_filters(db, three_projects, filters, expected):
    assert set(by_code(geojson(db, **ProjectFilters.parse(filters).__dict__))) == expected


def test_town_scope_sees_only_projects_with_a_share_in_its_towns(db, three_projects):
    visible = by_code(geojson(db, scope=TOWN1_ONLY))
    assert set(visible) == {"2023-370499-02-02-000022", "2024-370499-03-03-000033"}


def test_soft_deleted_projects_are_not_exported(db, three_projects):
    db.execute(text("UPDATE projects SET deleted_at = now() WHERE id = :id"), {"id": three_projects["line"]})
    assert "2023-370499-02-02-000022" not in by_code(geojson(db))


def test_geojson_export_to_a_stream_counts_projects(db, three_projects):
    out = io.BytesIO()
    n = export_projects(db, "geojson", out, scope=SYSTEM, filters=ProjectFilters(stage="reserve"))
    assert n == 2
    assert len(json.loads(out.getvalue().decode("utf-8"))["features"]) == 2


def test_gpkg_has_one_layer_with_every_project_in_epsg_4326(db, three_projects, tmp_path):
    import pyogrio
    path = tmp_path / "projects.gpkg"
    assert export_projects(db, "gpkg", path, scope=SYSTEM, filters=ProjectFilters()) == 3
    layers = pyogrio.list_layers(path)
    assert [name for name, _ in layers] == ["projects"]
    info = pyogrio.read_info(path, layer="projects")
    assert info["features"] == 3
    assert info["crs"] == "EPSG:4326"
    frame = pyogrio.read_dataframe(path)
    line = frame.set_index("code").loc["2023-370499-02-02-000022"]
    assert line.geometry.geom_type == "LineString"
    assert line["total_investment"] == pytest.approx(5000)
    assert json.loads(line["towns"])[0]["code"] == "370499002"
    assert set(frame.geometry.geom_type) == {"Point", "LineString", "Polygon"}
    point = frame.set_index("code").loc["2024-370499-01-01-000011"]
    assert (point["funding"], point["funding_label"]) == ("ultra_long_bonds；self_raised", "超长期特别国债；企业自筹")


def test_gpkg_is_written_in_chunks_with_the_same_fields(db, three_projects, tmp_path, monkeypatch):
    import pyogrio
    from registry import exporting
    monkeypatch.setattr(exporting, "GPKG_CHUNK_ROWS", 1)
    steps = []
    path = tmp_path / "chunks.gpkg"
    export_projects(db, "gpkg", path, scope=SYSTEM, filters=ProjectFilters(), progress=steps.append)
    assert steps == [1, 1, 1]
    assert pyogrio.read_info(path)["geometry_type"] == "Unknown"
    frame = pyogrio.read_dataframe(path)
    assert sorted(frame["code"]) == sorted(by_code(geojson(db)))
    assert frame["equipment_investment"].dtype.kind == "f"


def test_gpkg_to_a_stream_with_no_match_is_an_empty_layer(db, three_projects, tmp_path):
    import pyogrio
    out = io.BytesIO()
    assert export_projects(db, "gpkg", out, scope=SYSTEM, filters=ProjectFilters(domain="sports")) == 0
    path = tmp_path / "empty.gpkg"
    path.write_bytes(out.getvalue())
    assert pyogrio.read_info(path, layer="projects")["features"] == 0


def read_csv(db, **filters):
    out = io.BytesIO()
    n = export_projects(db, "csv", out, scope=SYSTEM, filters=ProjectFilters(**filters))
    return n, out.getvalue()


def test_csv_has_a_bom_and_the_import_template_headers(db, three_projects):
    import csv
    from registry.template import COLUMNS, map_headers, missing_columns
    n, data = read_csv(db)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [column.header for column in COLUMNS] + ["资金来源代码"]
    keys, problems = map_headers(rows[0])  # the file imports as it is: the codes column is skipped
    assert problems == [] and missing_columns(keys) == []
    assert n == len(rows) - 1 == 3
    point = dict(zip(keys, rows[1]))
    assert point["code"] == "2024-370499-01-01-000011"
    assert (point["domain"], point["stage"]) == ("医疗卫生", "在建")
    assert point["wkt"] == "POINT(117.15 35.05)" and point["crs"] == "WGS84"
    assert (point["total_investment"], point["equipment_investment"]) == ("800", "600")
    assert point["actual_start"] == "2024-03-01"
    assert point["funding"] == "超长期特别国债；企业自筹" and rows[1][-1] == "ultra_long_bonds；self_raised"
    assert point["responsible_units"] == "乙镇；区卫生健康局"
    assert point["is_key"] == "否"


def test_csv_neutralises_formula_injection_but_not_numbers(db, three_projects):
    import csv
    _, data = read_csv(db, domain="industry")
    header, row = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    cells = dict(zip(header, row))
    assert cells["项目名称"] == "'=HYPERLINK(\"http://x\")园区"
    assert cells["建设单位"] == "'-危险单位"
    assert cells["总投资（万元）"] == "300"


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "gpkg", "geojson"])
def test_every_format_keeps_to_the_scope_and_the_filters(db, three_projects, fmt, tmp_path):
    """The statements run by COPY with their parameters (the scope's town list, a text search)."""
    path = tmp_path / f"scoped.{fmt}"
    assert export_projects(db, fmt, path, scope=TOWN1_ONLY, filters=ProjectFilters()) == 2
    assert export_projects(db, fmt, path, scope=TOWN1_ONLY, filters=ProjectFilters(q="管网")) == 1
    assert export_projects(db, fmt, path, scope=TOWN1_ONLY, filters=ProjectFilters(q="100%")) == 0


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+86", "'+86"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("普通文本", "普通文本"), (None, ""), (-5, "-5"),
])
def test_csv_cell(value, expected):
    from registry.exporting import csv_cell
    assert csv_cell(value) == expected


def test_xlsx_is_readable_by_openpyxl_and_keeps_text_as_text(db, three_projects):
    from openpyxl import load_workbook
    from registry.template import COLUMNS
    out = io.BytesIO()
    assert export_projects(db, "xlsx", out, scope=SYSTEM, filters=ProjectFilters()) == 3
    sheet = load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == [column.header for column in COLUMNS] + ["资金来源代码"]
    by_code_row = {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}
    polygon = by_code_row["2024-370499-03-03-000033"]
    assert polygon["项目名称"] == "=HYPERLINK(\"http://x\")园区"
    assert sheet.cell(row=4, column=2).data_type == "s"
    assert polygon["总投资（万元）"] == 300
    assert polygon["几何WKT"].startswith("POLYGON((117.07 35.02")
    point = by_code_row["2024-370499-01-01-000011"]
    assert (point["资金来源"], point["资金来源代码"]) == ("超长期特别国债；企业自筹", "ultra_long_bonds；self_raised")


@pytest.fixture
def committed_projects(committed, engine):
    """The three projects, really committed, for the CLI (which opens its own connection)."""
    from sqlalchemy.orm import Session
    from conftest import insert_grid_district
    with Session(engine) as session:
        insert_grid_district(session)
        add_project(session, "2024-370499-01-01-000011", "POINT(117.15 35.05)", domain="medical")
        add_project(session, "2023-370499-02-02-000022", "LINESTRING(117.05 35.05, 117.25 35.05)")
        session.commit()
    return committed


def run_cli(*args):
    from click.testing import CliRunner
    from web.cli import main
    return CliRunner().invoke(main, list(args))


def test_cli_exports_filtered_geojson(committed_projects, tmp_path):
    path = tmp_path / "out.geojson"
    result = run_cli("projects", "export", "--format", "geojson", "--town", "370499003", "-o", str(path))
    assert result.exit_code == 0, result.output
    assert "已导出 1 个项目" in result.output
    codes = [f["properties"]["code"] for f in json.loads(path.read_text(encoding="utf-8"))["features"]]
    assert codes == ["2023-370499-02-02-000022"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "gpkg"])
def test_cli_exports_every_format(committed_projects, tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    result = run_cli("projects", "export", "--format", fmt, "--domain", "市政基础设施", "-o", str(path))
    assert result.exit_code == 0, result.output
    assert "已导出 1 个项目" in result.output
    assert path.stat().st_size > 0


def test_cli_rejects_an_unknown_domain_in_chinese(committed_projects, tmp_path):
    result = run_cli("projects", "export", "--format", "csv", "--domain", "航天", "-o", str(tmp_path / "x.csv"))
    assert result.exit_code == 1
    assert "无法识别的领域" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_cli_rejects_an_unknown_format(committed_projects, tmp_path):
    result = run_cli("projects", "export", "--format", "shp", "-o", str(tmp_path / "x.shp"))
    assert result.exit_code == 2


ROUND_TRIP_FIELDS = ("code", "name", "domain_code", "category", "owner", "credit_code", "declared_town",
                     "address", "total_investment", "equipment_investment", "completed_investment", "funding",
                     "stage", "planned_start", "planned_end", "actual_start", "actual_end", "lead_unit",
                     "responsible_units", "is_key", "quantity", "unit", "remarks", "primary_town_code")


def registry_snapshot(db):
    """Every project's fields and geometry (shapely, EPSG:4326), by code."""
    from shapely import wkb
    rows = db.execute(text(f"SELECT {', '.join(ROUND_TRIP_FIELDS)}, ST_AsBinary(geom) AS g, "
                           "(SELECT json_object_agg(town_code, round(share::numeric, 6)) FROM project_towns pt "
                           " WHERE pt.project_id = p.id) AS shares FROM projects p ORDER BY code")).mappings()
    return {r["code"]: ({k: r[k] for k in ROUND_TRIP_FIELDS}, r["shares"], wkb.loads(bytes(r["g"])))
            for r in rows}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_reimports_into_an_empty_registry_unchanged(db, fmt):
    from registry.demo import load_demo
    from registry.importing import import_projects
    load_demo(db, count=60)
    # text a spreadsheet would run as a formula, and list fields, survive the trip too
    db.execute(text("""UPDATE projects SET name = '=SUM(A1)改造', owner = '-负号单位', remarks = '@提醒',
                       responsible_units = '{甲,乙}' WHERE id = (SELECT min(id) FROM projects)"""))
    before = registry_snapshot(db)
    out = io.BytesIO()
    assert export_projects(db, fmt, out, scope=SYSTEM, filters=ProjectFilters()) == 60
    db.execute(text("DELETE FROM projects"))
    report = import_projects(db, io.BytesIO(out.getvalue()), filename=f"export.{fmt}", district_code="370403")
    assert report.errors == [] and report.imported == 60
    after = registry_snapshot(db)
    assert after.keys() == before.keys()
    for code, (fields, shares, geometry) in before.items():
        fields_after, shares_after, geometry_after = after[code]
        assert fields_after == fields
        assert shares_after == shares
        assert geometry_after.equals_exact(geometry, tolerance=1e-6)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_exported_sheet_imported_over_its_own_registry_changes_nothing(db, fmt):
    """The bureau's monthly loop: export, hand the sheet round, import it back unchanged. Locations
    first given in GCJ-02 keep that record (the sheet carries them as WGS84)."""
    from registry.demo import load_demo
    from registry.importing import import_projects
    load_demo(db, count=60)
    db.execute(text("UPDATE projects SET source_crs = 'GCJ02' WHERE id IN (SELECT id FROM projects ORDER BY id LIMIT 7)"))
    versions = dict(db.execute(text("SELECT code, version FROM projects")).all())
    crs = dict(db.execute(text("SELECT code, source_crs FROM projects")).all())
    out = io.BytesIO()
    export_projects(db, fmt, out, scope=SYSTEM, filters=ProjectFilters())
    report = import_projects(db, io.BytesIO(out.getvalue()), filename=f"export.{fmt}", district_code="370403")
    assert report.errors == [] and report.updated == 0 and report.imported == 0
    assert report.to_dict()["changes"] == []
    assert dict(db.execute(text("SELECT code, version FROM projects")).all()) == versions
    assert dict(db.execute(text("SELECT code, source_crs FROM projects")).all()) == crs
