"""Loading district and town boundaries (DESIGN §3 "Boundaries"; `eqreg boundaries load`).

Every boundary file is generated in the test from shapely geometries, so each fixture is a few
readable lines: a GBK land-survey Shapefile in CGCS2000 Gauss-Krüger, a GeoPackage, GeoJSON.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from pyproj import Geod
from shapely.geometry import Polygon, box
from sqlalchemy import text

from geo.crs import wgs84_to_gcj02
from registry.matching import match_projects
from registry.boundaries import load_boundaries
from registry.errors import InvalidInput
from web.cli import main

GEOD = Geod(ellps="WGS84")
DISTRICT = "370498"  # fictional 样例区; its towns are 0.1° squares side by side


def town_square(west: float, south: float = 35.0, size: float = 0.1) -> Polygon:
    return box(west, south, west + size, south + size)


def write_layer(path: Path, rows: list[dict], *, crs="EPSG:4326", **options) -> Path:
    """Write ``rows`` (attributes plus a WGS84 ``geometry``) to ``path``, reprojected to ``crs``."""
    frame = gpd.GeoDataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows],
                             geometry=[r["geometry"] for r in rows], crs="EPSG:4326")
    pyogrio.write_dataframe(frame.to_crs(crs), path, **options)
    return path


def three_towns(west: float = 117.0) -> list[dict]:
    return [{"code": f"{DISTRICT}00{i + 1}", "name": name, "geometry": town_square(west + 0.1 * i)}
            for i, name in enumerate(["东街道", "西镇", "南乡"])]


def to_gcj02(coords):
    """WGS84 (n, 2) coordinates as AMap/Tencent would show them."""
    lng, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
    return np.column_stack([lng, lat])


def geodesic_km2(polygon) -> float:
    return abs(GEOD.geometry_area_perimeter(polygon)[0]) / 1e6


def stored_town(db, code: str):
    return db.execute(text("""SELECT name, version, valid_to, area_km2, ST_AsBinary(geom) AS wkb FROM towns
                              WHERE code = :code AND valid_to IS NULL"""), {"code": code}).one()


def stored_geometry(db, code: str):
    return shapely.from_wkb(bytes(stored_town(db, code).wkb))


def add_project(db, code: str, wkt: str) -> int:
    return db.execute(text("""
        INSERT INTO projects (district_code, code, name, domain_code, owner, geom, total_investment, stage)
        VALUES (:d, :code, '测试项目', 'municipal', '测试单位', ST_GeomFromText(:wkt, 4326), 100, 'reserve')
        RETURNING id"""), {"d": DISTRICT, "code": code, "wkt": wkt}).scalar_one()


# --- formats and coordinate systems -------------------------------------------------------------

def test_geojson_towns_are_stored_with_geodesic_areas_and_a_new_district(db, tmp_path):
    path = write_layer(tmp_path / "towns.geojson", three_towns(), driver="GeoJSON")
    report = load_boundaries(db, path, parent=DISTRICT)

    assert [(t.code, t.name, t.version) for t in report.loaded] == [
        ("370498001", "东街道", 1), ("370498002", "西镇", 1), ("370498003", "南乡", 1)]
    for town, row in zip(report.loaded, three_towns()):
        assert town.area_km2 == pytest.approx(geodesic_km2(row["geometry"]), rel=1e-4)
    district = db.execute(text("SELECT name, geom_source, area_km2 FROM districts WHERE code = :d"),
                          {"d": DISTRICT}).one()
    assert district.name == DISTRICT  # no parent-name field: named by its code until an outline is loaded
    assert district.geom_source == "towns"
    assert district.area_km2 == pytest.approx(sum(t.area_km2 for t in report.loaded), rel=1e-6)
    levels = dict(db.execute(text("SELECT code, level FROM towns WHERE district_code = :d"), {"d": DISTRICT}).all())
    assert levels == {"370498001": "subdistrict", "370498002": "town", "370498003": "township"}


def test_land_survey_shapefile_in_gauss_kruger_with_gbk_attributes_and_no_cpg(db, tmp_path):
    # 3-degree Gauss-Krüger zone with central meridian 120°E (EPSG:4549), 12-digit XZQDM codes
    rows = [{"XZQDM": f"{DISTRICT}10{i + 1}000", "XZQMC": name, "geometry": town_square(119.0 + 0.1 * i)}
            for i, name in enumerate(["陶庄镇", "邹坞镇"])]
    path = write_layer(tmp_path / "xzq.shp", rows, crs="EPSG:4549", encoding="GBK")
    (tmp_path / "xzq.cpg").unlink()
    assert "陶庄镇".encode("gbk") in (tmp_path / "xzq.dbf").read_bytes()  # the fixture really is GBK

    report = load_boundaries(db, path)

    assert report.encoding == "GB18030"
    assert report.source_crs == "EPSG:4549"
    assert (report.code_field, report.name_field) == ("XZQDM", "XZQMC")
    assert [(t.code, t.name) for t in report.loaded] == [("370498101", "陶庄镇"), ("370498102", "邹坞镇")]
    stored = stored_geometry(db, "370498101")
    assert shapely.hausdorff_distance(stored, rows[0]["geometry"]) < 1e-7  # degrees, about 1 cm


def test_utf8_shapefile_without_cpg_is_read_as_utf8(db, tmp_path):
    path = write_layer(tmp_path / "towns.shp", three_towns(), encoding="UTF-8")
    (tmp_path / "towns.cpg").unlink()
    report = load_boundaries(db, path)
    assert report.encoding == "UTF-8"
    assert [t.name for t in report.loaded] == ["东街道", "西镇", "南乡"]


def test_a_cpg_file_names_the_encoding(db, tmp_path):
    path = write_layer(tmp_path / "towns.shp", three_towns(), encoding="GBK")  # writes towns.cpg = GBK
    report = load_boundaries(db, path)
    assert report.encoding == "GBK"
    assert [t.name for t in report.loaded] == ["东街道", "西镇", "南乡"]


def test_a_wrong_explicit_encoding_is_a_clear_error(db, tmp_path):
    path = write_layer(tmp_path / "towns.shp", three_towns(), encoding="GBK")
    (tmp_path / "towns.cpg").unlink()
    with pytest.raises(InvalidInput, match="不是 UTF-8 编码"):
        load_boundaries(db, path, encoding="UTF-8")
    assert [t.name for t in load_boundaries(db, path, encoding="GBK").loaded] == ["东街道", "西镇", "南乡"]


def test_geopackage_in_cgcs2000_is_loaded(db, tmp_path):
    path = write_layer(tmp_path / "towns.gpkg", three_towns(), crs="EPSG:4490", driver="GPKG")
    report = load_boundaries(db, path)
    assert report.source_crs == "EPSG:4490"
    assert len(report.loaded) == 3
    assert shapely.hausdorff_distance(stored_geometry(db, "370498002"), three_towns()[1]["geometry"]) < 1e-7


def test_a_layer_without_a_crs_is_refused_unless_one_is_given(db, tmp_path):
    path = write_layer(tmp_path / "noprj.shp", three_towns(), crs="EPSG:4549", encoding="UTF-8")
    (tmp_path / "noprj.prj").unlink()
    with pytest.raises(InvalidInput, match="没有坐标系"):
        load_boundaries(db, path)
    report = load_boundaries(db, path, crs="EPSG:4549")
    assert shapely.hausdorff_distance(stored_geometry(db, "370498001"), three_towns()[0]["geometry"]) < 1e-7
    assert report.source_crs == "EPSG:4549"


def test_gcj02_boundaries_are_converted_to_wgs84_within_half_a_metre(db, tmp_path):
    wgs = three_towns()
    gcj = [{**row, "geometry": shapely.transform(row["geometry"], to_gcj02)} for row in wgs]
    path = write_layer(tmp_path / "amap.geojson", gcj, driver="GeoJSON")
    load_boundaries(db, path, crs="GCJ-02")
    stored = stored_geometry(db, "370498001")
    for (lng, lat), (want_lng, want_lat) in zip(stored.geoms[0].exterior.coords, wgs[0]["geometry"].exterior.coords):
        assert GEOD.inv(lng, lat, want_lng, want_lat)[2] < 0.5


def test_projected_coordinates_read_as_degrees_are_refused(db, tmp_path):
    path = write_layer(tmp_path / "wrong.shp", three_towns(), crs="EPSG:4549", encoding="UTF-8")
    with pytest.raises(InvalidInput, match="不在中国范围内"):
        load_boundaries(db, path, crs="WGS84")


def test_swapped_latitude_and_longitude_are_named_as_the_likely_cause(db, tmp_path):
    swapped = [{**row, "geometry": shapely.transform(row["geometry"], lambda c: c[:, ::-1])} for row in three_towns()]
    path = write_layer(tmp_path / "swapped.geojson", swapped, driver="GeoJSON")
    with pytest.raises(InvalidInput, match="经纬度可能颠倒"):
        load_boundaries(db, path)


# --- fields and codes ---------------------------------------------------------------------------

def test_custom_field_names_are_mapped(db, tmp_path):
    rows = [{"DM": r["code"], "MC": r["name"], "geometry": r["geometry"]} for r in three_towns()]
    path = write_layer(tmp_path / "towns.geojson", rows, driver="GeoJSON")
    with pytest.raises(InvalidInput, match="找不到代码字段"):
        load_boundaries(db, path)
    report = load_boundaries(db, path, code_field="DM", name_field="MC")
    assert [t.name for t in report.loaded] == ["东街道", "西镇", "南乡"]


def test_a_code_that_is_not_nine_digits_is_an_error_naming_the_feature(db, tmp_path):
    rows = three_towns()
    rows[1]["code"] = "3704980021"
    path = write_layer(tmp_path / "towns.geojson", rows, driver="GeoJSON")
    with pytest.raises(InvalidInput, match="第 2 个要素（西镇）.*不是 9 位数字"):
        load_boundaries(db, path)
    assert db.execute(text("SELECT count(*) FROM towns")).scalar_one() == 0


def test_a_code_outside_the_parent_is_an_error(db, tmp_path):
    path = write_layer(tmp_path / "towns.geojson", three_towns(), driver="GeoJSON")
    with pytest.raises(InvalidInput, match="370498001 不属于上级 370403"):
        load_boundaries(db, path, parent="370403")


# --- repairs, overlaps and gaps -----------------------------------------------------------------

def test_a_self_intersecting_town_is_repaired_and_reported(db, tmp_path):
    rows = three_towns()
    rows[0]["geometry"] = Polygon([(117.0, 35.0), (117.1, 35.1), (117.1, 35.0), (117.0, 35.1), (117.0, 35.0)])
    path = write_layer(tmp_path / "bowtie.geojson", rows, driver="GeoJSON")
    report = load_boundaries(db, path)

    bowtie = report.loaded[0]
    assert bowtie.repaired and "Self-intersection" in bowtie.repairs[0]
    assert not report.loaded[1].repaired
    stored = stored_geometry(db, "370498001")
    assert stored.is_valid and len(stored.geoms) == 2  # the two triangles of the bow-tie
    assert bowtie.area_km2 == pytest.approx(geodesic_km2(town_square(117.0)) / 2, rel=1e-3)


def test_overlapping_towns_are_reported_with_the_overlap_area(db, tmp_path):
    rows = three_towns()
    rows[0]["geometry"] = box(117.0, 35.0, 117.12, 35.1)  # 0.02° into its eastern neighbour
    path = write_layer(tmp_path / "overlap.geojson", rows, driver="GeoJSON")
    report = load_boundaries(db, path)

    assert [(o["code_a"], o["code_b"]) for o in report.overlaps] == [("370498001", "370498002")]
    assert report.overlaps[0]["area_km2"] == pytest.approx(geodesic_km2(box(117.1, 35.0, 117.12, 35.1)), rel=1e-3)


def test_a_hole_between_towns_is_reported_as_a_gap(db, tmp_path):
    rows = three_towns()
    rows[1]["geometry"] = town_square(117.1).difference(box(117.14, 35.04, 117.16, 35.06))
    path = write_layer(tmp_path / "gap.geojson", rows, driver="GeoJSON")
    report = load_boundaries(db, path)

    assert len(report.gaps) == 1
    gap = report.gaps[0]
    assert gap["area_km2"] == pytest.approx(geodesic_km2(box(117.14, 35.04, 117.16, 35.06)), rel=1e-3)
    assert 117.14 < gap["lng"] < 117.16 and 35.04 < gap["lat"] < 35.06
    assert report.overlaps == []


def test_towns_not_covering_the_loaded_outline_leave_a_gap(db, tmp_path):
    outline = write_layer(tmp_path / "district.geojson", [
        {"code": DISTRICT, "name": "样例区", "geometry": box(117.0, 35.0, 117.3, 35.2)}], driver="GeoJSON")
    load_boundaries(db, outline, level="district")
    report = load_boundaries(db, write_layer(tmp_path / "towns.geojson", three_towns(), driver="GeoJSON"))

    assert sum(g["area_km2"] for g in report.gaps) == pytest.approx(geodesic_km2(box(117.0, 35.1, 117.3, 35.2)), rel=1e-3)
    district = db.execute(text("SELECT name, geom_source, area_km2 FROM districts WHERE code = :d"),
                          {"d": DISTRICT}).one()
    # the outline stays the district's shape: towns do not overwrite it
    assert (district.name, district.geom_source) == ("样例区", "outline")
    assert district.area_km2 == pytest.approx(geodesic_km2(box(117.0, 35.0, 117.3, 35.2)), rel=1e-4)


def test_district_outlines_are_upserted_under_their_parent(db, tmp_path):
    path = write_layer(tmp_path / "districts.geojson", [
        {"code": DISTRICT, "name": "样例区", "geometry": box(117.0, 35.0, 117.3, 35.1)}], driver="GeoJSON")
    load_boundaries(db, path, level="district", parent="370400")
    load_boundaries(db, path, level="district", parent="370400")
    rows = db.execute(text("SELECT name, parent_code, geom_source FROM districts WHERE code = :d"),
                      {"d": DISTRICT}).all()
    assert [tuple(r) for r in rows] == [("样例区", "370400", "outline")]
    with pytest.raises(InvalidInput, match="不属于上级 371500"):
        load_boundaries(db, path, level="district", parent="371500")


def test_a_district_takes_its_city_and_province_from_its_code_unless_given(db, tmp_path):
    path = write_layer(tmp_path / "districts.geojson", [
        {"code": DISTRICT, "name": "样例区", "geometry": box(117.0, 35.0, 117.3, 35.1)}], driver="GeoJSON")
    load_boundaries(db, path, level="district")
    levels = text("SELECT city_code, province_code FROM districts WHERE code = :d")
    assert tuple(db.execute(levels, {"d": DISTRICT}).one()) == (DISTRICT[:4], DISTRICT[:2])
    load_boundaries(db, path, level="district", city="371500", province="37")  # 6-digit forms accepted
    assert tuple(db.execute(levels, {"d": DISTRICT}).one()) == ("3715", "37")
    db.execute(text("INSERT INTO districts (code, name, parent_code) VALUES ('jbsc', '度假区', :d)"), {"d": DISTRICT})
    assert tuple(db.execute(levels, {"d": "jbsc"}).one()) == ("3715", "37")  # a zone: its parent's
    with pytest.raises(InvalidInput, match="市代码应为 4 位数字"):
        load_boundaries(db, path, level="district", city="37")


# --- versions and re-matching -------------------------------------------------------------------

def test_reloading_makes_version_2_keeps_version_1_and_rematches_projects(db, tmp_path):
    load_boundaries(db, write_layer(tmp_path / "v1.geojson", three_towns(), driver="GeoJSON"))
    project = add_project(db, "2024-370498-01-01-000001", "POINT(117.12 35.05)")
    match_projects(db, project_ids=[project])
    assert db.execute(text("SELECT primary_town_code FROM projects WHERE id = :id"),
                      {"id": project}).scalar_one() == "370498002"

    changed = three_towns()  # 区划调整: 东街道 takes the western strip of 西镇
    changed[0]["geometry"] = box(117.0, 35.0, 117.15, 35.1)
    changed[1]["geometry"] = box(117.15, 35.0, 117.2, 35.1)
    report = load_boundaries(db, write_layer(tmp_path / "v2.geojson", changed, driver="GeoJSON"))

    assert {t.version for t in report.loaded} == {2}
    versions = db.execute(text("""SELECT version, valid_to IS NOT NULL AS retired FROM towns
                                  WHERE code = '370498001' ORDER BY version""")).all()
    assert [tuple(v) for v in versions] == [(1, True), (2, False)]
    assert report.rematched_projects == 1
    assert db.execute(text("SELECT primary_town_code FROM projects WHERE id = :id"),
                      {"id": project}).scalar_one() == "370498001"
    share_town = db.execute(text("""SELECT t.version FROM project_towns pt JOIN towns t ON t.id = pt.town_id
                                    WHERE pt.project_id = :id"""), {"id": project}).scalar_one()
    assert share_town == 2


def test_a_town_missing_from_the_new_version_is_retired_and_reported(db, tmp_path):
    load_boundaries(db, write_layer(tmp_path / "v1.geojson", three_towns(), driver="GeoJSON"))
    report = load_boundaries(db, write_layer(tmp_path / "v2.geojson", three_towns()[:2], driver="GeoJSON"))
    assert [t["code"] for t in report.removed] == ["370498003"]
    current = db.execute(text("SELECT count(*) FROM towns WHERE code = '370498003' AND valid_to IS NULL")).scalar_one()
    assert current == 0


def test_a_load_writes_an_audit_entry_with_before_and_after(db, tmp_path):
    path = write_layer(tmp_path / "towns.geojson", three_towns(), driver="GeoJSON")
    load_boundaries(db, path, actor="admin")
    load_boundaries(db, path, actor="admin")
    entry = db.execute(text("""SELECT actor, action, before, after FROM audit_log
                               WHERE entity = 'towns' AND entity_id = :d ORDER BY id DESC LIMIT 1"""),
                       {"d": DISTRICT}).one()
    assert (entry.actor, entry.action) == ("admin", "boundaries.load")
    assert [t["version"] for t in entry.before["towns"]] == [1, 1, 1]
    assert [t["version"] for t in entry.after["towns"]] == [2, 2, 2]


# --- command line -------------------------------------------------------------------------------

def test_cli_prints_a_chinese_summary_with_repairs(committed, tmp_path):
    rows = three_towns()
    rows[0]["geometry"] = Polygon([(117.0, 35.0), (117.1, 35.1), (117.1, 35.0), (117.0, 35.1), (117.0, 35.0)])
    path = write_layer(tmp_path / "towns.geojson", rows, driver="GeoJSON")
    result = CliRunner().invoke(main, ["boundaries", "load", str(path), "--level", "town", "--parent", DISTRICT])
    assert result.exit_code == 0, result.output
    assert "已导入 3 个镇街边界" in result.output
    assert "修复几何：1 个" in result.output
    assert "370498001 东街道 第 1 版" in result.output


def test_cli_exits_1_with_a_chinese_message_on_a_bad_file(committed, tmp_path):
    path = tmp_path / "broken.geojson"
    path.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(main, ["boundaries", "load", str(path)])
    assert result.exit_code == 1
    assert "错误：无法读取边界文件" in result.output
