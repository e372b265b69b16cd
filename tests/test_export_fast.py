"""Exports by COPY with psycopg alone (registry.copy_export): the CLI's whole-registry exports write
exactly what the query exports write, awkward characters included; the CLI's lean start-up."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from importlib import resources

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry.copy_export import write_whole_registry
from registry.exporting import export_projects, iter_geojson
from registry.filters import ProjectFilters
from registry.scope import Scope
from test_export import add_project, run_cli

AWKWARD = 'back\\slash "quoted"\ttab\nnewline \\n 中文 \u3000 end'
MARKUP = '=<b>&amp; "x" \r\x01\x1f A&B <tag>'


def _committed_world(engine) -> None:
    from conftest import insert_grid_district
    with Session(engine) as session:
        insert_grid_district(session)
        add_project(session, "2024-370499-01-01-000011", "POINT(117.15 35.05)", name=AWKWARD, domain="medical",
                    remarks="C:\\temp\\x", funding=["ultra_long_bonds"], responsible_units=["乙\\镇", "区\"局"],
                    owner=MARKUP, address="", equipment_investment=12.5)
        add_project(session, "2023-370499-02-02-000022", "LINESTRING(117.05 35.05, 117.25 35.05)",
                    name="燃气管网", quantity=1.5, unit="公里")
        gone = add_project(session, "2024-370499-03-03-000033", "POINT(117.25 35.05)", name="已删除")
        session.execute(text("UPDATE projects SET deleted_at = now() WHERE id = :id"), {"id": gone})
        session.commit()


def test_the_stored_statement_is_the_feature_query_of_the_whole_registry():
    from registry.project_features import whole_registry_sql
    stored = resources.files("registry").joinpath("sql", "features_all.sql").read_text(encoding="utf-8")
    assert stored.strip() == whole_registry_sql().strip(), "regenerate registry/sql/features_all.sql (see registry.project_features)"


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "gpkg"])
def test_the_stored_statements_are_the_export_queries_of_the_whole_registry(fmt):
    from registry.exporting import whole_registry_sql
    stored = resources.files("registry").joinpath("sql", f"export_{fmt}_all.sql").read_text(encoding="utf-8")
    assert stored.strip() == whole_registry_sql(fmt).strip(), \
        "regenerate registry/sql/export_*_all.sql (see registry.exporting.whole_registry_sql)"


def _both(committed, engine, fmt, tmp_path):
    """The whole-registry export (stored statement) and the query export of the same registry."""
    fast = tmp_path / f"fast.{fmt}"
    assert write_whole_registry(committed, fmt, fast) == 2
    slow = tmp_path / f"slow.{fmt}"
    with Session(engine) as session:
        assert export_projects(session, fmt, slow, scope=Scope.system(), filters=ProjectFilters()) == 2
    return fast, slow


@pytest.mark.parametrize("fmt", ["geojson", "csv"])
def test_copy_export_writes_the_same_bytes_as_the_query_export(committed, engine, tmp_path, fmt):
    _committed_world(engine)
    fast, slow = _both(committed, engine, fmt, tmp_path)
    assert fast.read_bytes() == slow.read_bytes()


def test_geojson_copy_export_writes_the_bytes_the_api_streams(committed, engine, tmp_path):
    _committed_world(engine)
    fast = tmp_path / "all.geojson"
    write_whole_registry(committed, "geojson", fast)
    with Session(engine) as session:
        streamed = "".join(iter_geojson(session, scope=Scope.system(), filters=ProjectFilters()))
    assert fast.read_bytes() == streamed.encode("utf-8")
    names = [f["properties"]["name"] for f in json.loads(fast.read_bytes())["features"]]
    assert names == [AWKWARD, "燃气管网"]


def test_csv_copy_export_is_what_the_csv_module_writes_for_the_cells(committed, engine, tmp_path):
    """Quoting, CRLF row ends, the BOM, the formula guard and empty cells as Python's csv writes them."""
    from registry.cells import csv_row
    from registry.exporting import template_query
    from registry.template import EXPORT_HEADERS
    _committed_world(engine)
    fast = tmp_path / "all.csv"
    write_whole_registry(committed, "csv", fast)
    with Session(engine) as session:
        rows = session.execute(template_query(Scope.system(), ProjectFilters())).all()
    expected = io.StringIO(newline="")
    writer = csv.writer(expected)
    writer.writerow(EXPORT_HEADERS)
    writer.writerows(csv_row(row) for row in rows)
    assert fast.read_bytes() == b"\xef\xbb\xbf" + expected.getvalue().encode("utf-8")
    owner = list(csv.reader(io.StringIO(fast.read_bytes().decode("utf-8-sig"), newline="")))[1][4]
    assert owner == "'" + MARKUP


def test_xlsx_copy_export_keeps_every_cell_as_text_or_number(committed, engine, tmp_path):
    from openpyxl import load_workbook
    from registry.template import EXPORT_HEADERS
    _committed_world(engine)
    fast, slow = _both(committed, engine, "xlsx", tmp_path)
    sheets = [list(load_workbook(path).worksheets[0].iter_rows(values_only=True)) for path in (fast, slow)]
    assert sheets[0] == sheets[1]
    header, first, second = sheets[0]
    assert list(header) == EXPORT_HEADERS
    cells = dict(zip(header, first))
    # control characters XML cannot hold are dropped; tab, LF and CR come back as they were
    assert cells["项目名称"] == AWKWARD
    assert cells["建设单位"] == MARKUP.replace("\x01", "").replace("\x1f", "")
    assert cells["详细地址"] is None
    assert cells["设备投资（万元）"] == 12.5
    assert load_workbook(fast).worksheets[0]["E2"].data_type == "s"


def test_gpkg_copy_export_has_the_same_features(committed, engine, tmp_path):
    import pyogrio
    _committed_world(engine)
    fast, slow = _both(committed, engine, "gpkg", tmp_path)
    frames = [pyogrio.read_dataframe(path) for path in (fast, slow)]
    assert frames[0].drop(columns="geometry").equals(frames[1].drop(columns="geometry"))
    assert frames[0].geometry.geom_equals_exact(frames[1].geometry, 0).all()
    assert list(frames[0]["name"]) == [AWKWARD, "燃气管网"]
    assert pyogrio.read_info(fast)["crs"] == "EPSG:4326"


def test_gpkg_is_a_geopackage_whose_spatial_index_gdal_uses_and_keeps(committed, engine, tmp_path):
    """The R-tree answers GDAL's bounding-box reads, and its triggers keep it in step when GDAL
    adds a feature to the file (as QGIS would)."""
    import sqlite3

    import geopandas
    import pyogrio
    from shapely.geometry import Point
    _committed_world(engine)
    path = tmp_path / "all.gpkg"
    write_whole_registry(committed, "gpkg", path)
    with sqlite3.connect(path) as database:
        assert database.execute("PRAGMA application_id").fetchone() == (0x47504B47,)
        assert database.execute("SELECT count(*) FROM rtree_projects_geom").fetchone() == (2,)
    # the line runs from 117.05 to 117.25 along 35.05; the point sits at 117.15 35.05
    assert set(pyogrio.read_dataframe(path, bbox=(117.06, 35.0, 117.07, 35.1))["name"]) == {"燃气管网"}
    assert pyogrio.read_info(path)["total_bounds"] == (117.05, 35.05, 117.25, 35.05)
    added = geopandas.GeoDataFrame({"name": ["新增"]}, geometry=[Point(117.3, 35.3)], crs="EPSG:4326")
    pyogrio.write_dataframe(added, path, layer="projects", append=True)
    assert list(pyogrio.read_dataframe(path, bbox=(117.29, 35.29, 117.31, 35.31))["name"]) == ["新增"]


@pytest.mark.parametrize("fmt", ["geojson", "csv", "xlsx", "gpkg"])
def test_copy_export_of_an_empty_registry_is_valid_and_empty(committed, tmp_path, fmt):
    path = tmp_path / f"empty.{fmt}"
    assert write_whole_registry(committed, fmt, path) == 0
    if fmt == "geojson":
        assert json.loads(path.read_bytes()) == {"type": "FeatureCollection", "features": []}
    elif fmt == "xlsx":
        from openpyxl import load_workbook
        assert len(list(load_workbook(path).worksheets[0].iter_rows())) == 1
    elif fmt == "gpkg":
        import pyogrio
        assert pyogrio.read_info(path, layer="projects")["features"] == 0
    else:
        assert path.read_bytes().count(b"\r\n") == 1


def test_cli_without_filters_uses_the_copy_export(committed, engine, tmp_path):
    _committed_world(engine)
    path = tmp_path / "all.geojson"
    result = run_cli("projects", "export", "--format", "geojson", "-o", str(path))
    assert result.exit_code == 0, result.output
    assert "已导出 2 个项目" in result.output
    assert json.loads(path.read_text(encoding="utf-8"))["features"][0]["properties"]["name"] == AWKWARD


def test_cli_start_up_loads_neither_sqlalchemy_nor_pandas_nor_shapely():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys; from web.cli import main; main.get_command(None, 'projects'); "
                               "import registry.copy_export; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert not {"sqlalchemy", "pandas", "geopandas", "shapely", "numpy", "openpyxl"} & set(loaded)


@pytest.mark.parametrize("fmt", ["geojson", "csv", "xlsx", "gpkg"])
def test_cli_export_without_filters_loads_neither_sqlalchemy_nor_pandas(committed, engine, tmp_path, fmt):
    _committed_world(engine)
    path = tmp_path / f"all.{fmt}"
    program = ("import sys; from web.cli import main\n"
               "try:\n    main(sys.argv[1:])\nexcept SystemExit as done:\n    assert done.code == 0, done.code\n"
               "print('MODULES', ' '.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", program, "projects", "export", "--format", fmt, "-o", str(path)],
                          capture_output=True, text=True, check=True)
    loaded = done.stdout.split("MODULES", 1)[1].split()
    assert path.stat().st_size > 0
    assert not {"sqlalchemy", "pandas", "geopandas", "shapely", "numpy", "openpyxl"} & set(loaded)
