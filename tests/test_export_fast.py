"""The unfiltered GeoJSON export by COPY with psycopg alone (registry.geojson_copy) writes exactly
the bytes of the SQLAlchemy path, awkward characters included; the CLI's lean start-up."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from importlib import resources

from sqlalchemy import text
from sqlalchemy.orm import Session

from registry.exporting import export_projects
from registry.filters import ProjectFilters
from registry.geojson_copy import write_all
from registry.scope import Scope
from test_export import add_project, run_cli

AWKWARD = 'back\\slash "quoted"\ttab\nnewline \\n 中文 \u3000 end'


def _committed_world(engine) -> None:
    from conftest import insert_grid_district
    with Session(engine) as session:
        insert_grid_district(session)
        add_project(session, "2024-370499-01-01-000011", "POINT(117.15 35.05)", name=AWKWARD, domain="medical",
                    remarks="C:\\temp\\x", funding=["ultra_long_bonds"], responsible_units=["乙\\镇", "区\"局"])
        add_project(session, "2023-370499-02-02-000022", "LINESTRING(117.05 35.05, 117.25 35.05)",
                    name="燃气管网", quantity=1.5, unit="公里")
        gone = add_project(session, "2024-370499-03-03-000033", "POINT(117.25 35.05)", name="已删除")
        session.execute(text("UPDATE projects SET deleted_at = now() WHERE id = :id"), {"id": gone})
        session.commit()


def test_the_stored_statement_is_the_feature_query_of_the_whole_registry():
    from registry.project_features import whole_registry_sql
    stored = resources.files("registry").joinpath("sql", "features_all.sql").read_text(encoding="utf-8")
    assert stored.strip() == whole_registry_sql().strip(), "regenerate registry/sql/features_all.sql (see registry.project_features)"


def test_copy_export_writes_the_same_bytes_as_the_query_export(committed, engine):
    _committed_world(engine)
    fast = io.BytesIO()
    assert write_all(committed, fast) == 2
    with Session(engine) as session:
        slow = io.BytesIO()
        export_projects(session, "geojson", slow, scope=Scope.system(), filters=ProjectFilters())
    assert fast.getvalue() == slow.getvalue()
    names = [f["properties"]["name"] for f in json.loads(fast.getvalue())["features"]]
    assert names == [AWKWARD, "燃气管网"]


def test_copy_export_of_an_empty_registry_is_an_empty_collection(committed):
    out = io.BytesIO()
    assert write_all(committed, out) == 0
    assert json.loads(out.getvalue()) == {"type": "FeatureCollection", "features": []}


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
                               "import registry.geojson_copy; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert not {"sqlalchemy", "pandas", "geopandas", "shapely", "numpy", "openpyxl"} & set(loaded)
