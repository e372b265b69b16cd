"""One record of the import template: what is accepted, what is a warning, what is rejected."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import shapely

from registry.template import map_headers, missing_columns
from registry.validation import credit_code_valid, parse_date, parse_decimal, parse_wkts, validate_record

VALID = {"code": "2024-370499-42-01-00001X", "name": "锅炉节能改造", "domain": "工业", "owner": "甲公司",
         "lng": "117.05", "lat": "35.05", "total_investment": "500", "stage": "谋划储备"}


def check(**changes):
    record = {**VALID, **changes}
    values, problems = validate_record(record, row=7, default_crs=changes.pop("default_crs", "WGS84"))
    return values, {p.kind: p for p in problems}


def test_a_complete_record_gives_typed_values_without_problems():
    values, problems = check(funding="超长期特别国债", planned_start="2024-03", is_key="是")
    assert problems == {}
    assert values["code"] == VALID["code"] and values["domain_code"] == "industry"
    assert values["stage"] == "reserve" and values["total_investment"] == Decimal("500.00")
    assert values["funding"] == ["ultra_long_bonds"] and values["is_key"] is True
    assert values["planned_start"] == dt.date(2024, 3, 1)
    assert values["geom"].equals(shapely.Point(117.05, 35.05)) and values["source_crs"] == "WGS84"


@pytest.mark.parametrize("changes, kind, column", [
    ({"code": None}, "missing_code", "项目代码"),
    ({"code": "2024-370499-42-01-00001x"}, "bad_code", "项目代码"),
    ({"code": "202437049942010001XX"}, "bad_code", "项目代码"),
    ({"name": "  "}, "missing_name", "项目名称"),
    ({"lng": None, "lat": None}, "missing_geometry", "几何WKT"),
    ({"lat": None}, "missing_geometry", "纬度"),
    ({"lng": None, "lat": None, "wkt": "LINESTRING(117.2 34.8, oops)"}, "bad_wkt", "几何WKT"),
    ({"lng": None, "lat": None, "wkt": "GEOMETRYCOLLECTION(POINT(117 35))"}, "bad_wkt", "几何WKT"),
    ({"lng": "35.05", "lat": "117.05"}, "swapped_coords", "纬度"),
    ({"lng": "200", "lat": "100"}, "bad_coordinates", "纬度"),
    ({"total_investment": "约三百万"}, "bad_number", "总投资（万元）"),
    ({"total_investment": "NaN"}, "bad_number", "总投资（万元）"),
    ({"total_investment": "1e15"}, "bad_number", "总投资（万元）"),
    ({"total_investment": "-120.5"}, "negative_investment", "总投资（万元）"),
    ({"equipment_investment": "600"}, "equip_gt_total", "设备投资（万元）"),
    ({"completed_investment": "500.01"}, "completed_gt_total", "已完成投资（万元）"),
    ({"domain": "航天"}, "unknown_domain", "领域"),
    ({"stage": "差不多了"}, "unknown_stage", "项目阶段"),
    ({"planned_start": "2025-09", "planned_end": "2024-02"}, "end_before_start", "计划竣工"),
    ({"actual_start": "2024-05-02", "actual_end": "2024-03-01"}, "end_before_start", "实际竣工"),
    ({"planned_start": "明年春天"}, "bad_date", "计划开工"),
    ({"planned_end": "2024-13-01"}, "bad_date", "计划竣工"),
    ({"crs": "火星"}, "unknown_crs", "坐标系"),
])
def test_each_error_rejects_the_record_with_its_kind_and_column(changes, kind, column):
    values, problems = check(**changes)
    assert values is None
    assert problems[kind].severity == "error" and problems[kind].column == column
    assert problems[kind].row == 7 and problems[kind].message


def test_swapped_coordinates_are_explained_in_chinese():
    _, problems = check(lng="35.05", lat="117.05")
    assert "经纬度可能填反了" in problems["swapped_coords"].message


@pytest.mark.parametrize("changes, kind", [
    ({"credit_code": "91370403628194824A"}, "bad_credit_code"),
    ({"funding": "天使投资"}, "unknown_funding"),
    ({"is_key": "待定"}, "bad_flag"),
])
def test_warnings_keep_the_record(changes, kind):
    values, problems = check(**changes)
    assert values is not None and problems[kind].severity == "warning"


def test_a_negative_total_is_not_also_compared_with_the_parts():
    _, problems = check(total_investment="-1", equipment_investment="5")
    assert set(problems) == {"negative_investment"}


def test_credit_code_checksum_follows_gb32100():
    assert credit_code_valid("91370403628194824F")
    assert not credit_code_valid("91370403628194824A")
    assert not credit_code_valid("9137040362819482I4")  # I is not in the alphabet


def test_numbers_accept_thousands_separators_and_spaces():
    assert parse_decimal("1,234.50") == Decimal("1234.50")
    assert parse_decimal(" 12 345 ") == Decimal("12345")
    assert parse_decimal("约三百万") is None


@pytest.mark.parametrize("text, expected", [
    ("2024-03", (dt.date(2024, 3, 1), True)),
    ("2024-03-15", (dt.date(2024, 3, 15), False)),
    ("2024/3/5", (dt.date(2024, 3, 5), False)),
    ("2024年6月30日", (dt.date(2024, 6, 30), False)),
    ("20240315", (dt.date(2024, 3, 15), False)),
    ("45366", (dt.date(2024, 3, 15), False)),  # an Excel serial day
    ("2024-10-13 00:00:00", (dt.date(2024, 10, 13), False)),
])
def test_dates_in_the_formats_people_write(text, expected):
    assert parse_date(text) == expected


def test_month_only_dates_compare_by_month():
    values, problems = check(planned_start="2025-09-15", planned_end="2025-09")
    assert values is not None and "end_before_start" not in problems


def test_leading_apostrophe_from_formula_guard_is_removed():
    values, _ = check(name="'=SUM(A1)", total_investment="'500")
    assert values["name"] == "=SUM(A1)" and values["total_investment"] == Decimal("500.00")


def test_multi_valued_columns_split_on_chinese_and_latin_separators():
    values, _ = check(funding="超长期特别国债；银行贷款、企业自筹,其他;银行贷款", responsible_units="甲街道、乙镇；丙镇")
    assert values["funding"] == ["ultra_long_bonds", "bank_loan", "self_raised", "other"]
    assert values["responsible_units"] == ["甲街道", "乙镇", "丙镇"]


@pytest.mark.parametrize("text, flag", [("是", True), ("否", False), ("yes", True), ("NO", False),
                                        ("1", True), ("0", False)])
def test_key_project_flag(text, flag):
    assert check(is_key=text)[0]["is_key"] is flag


def test_gcj02_row_is_converted_to_wgs84():
    values, _ = check(lng="117.15591649279114", lat="35.049514258312335", crs="GCJ-02")
    assert values["source_crs"] == "GCJ02"
    assert values["geom"].x == pytest.approx(117.15, abs=1e-7) and values["geom"].y == pytest.approx(35.05, abs=1e-7)


def test_file_default_crs_applies_to_rows_without_one():
    values, _ = validate_record({**VALID, "lng": "117.26223966123081", "lat": "35.055622504968674"},
                                row=2, default_crs="BD09")
    assert values["source_crs"] == "BD09"
    assert values["geom"].x == pytest.approx(117.25, abs=1e-7) and values["geom"].y == pytest.approx(35.05, abs=1e-7)


def test_wkt_is_converted_as_a_whole_and_z_is_dropped():
    values, problems = check(lng=None, lat=None, wkt="LINESTRING Z (117.05 35.05 10, 117.15 35.05 12)")
    assert problems == {} and values["geom"].geom_type == "LineString" and not values["geom"].has_z


def test_a_self_intersecting_polygon_is_repaired_with_a_warning():
    bowtie = "POLYGON ((117.0 35.0, 117.1 35.1, 117.1 35.0, 117.0 35.1, 117.0 35.0))"
    values, problems = check(lng=None, lat=None, wkt=bowtie)
    assert problems["geometry_repaired"].severity == "warning"
    assert values["geom"].is_valid and values["geom"].area == pytest.approx(0.005)


def test_headers_map_chinese_english_and_variants_to_keys():
    keys, problems = map_headers(["\ufeff项目代码", "name", "总投资(万元)", "设备投资", " 已完成投资（万元） ", "Domain",
                                  "备  注", "自定义列", "项目名称"])
    assert keys == ["code", "name", "total_investment", "equipment_investment", "completed_investment",
                    "domain", "remarks", None, None]
    assert [(p.kind, p.severity, p.row) for p in problems] == [("unknown_column", "warning", 1),
                                                                ("duplicate_column", "warning", 1)]


def test_missing_required_columns_are_named():
    keys, _ = map_headers(["项目代码", "项目名称", "领域", "建设单位", "经度", "总投资", "项目阶段"])
    assert missing_columns(keys) == ["经度、纬度 或 几何WKT"]


def test_without_conversion_a_lng_lat_point_comes_back_as_its_pair_and_is_built_in_bulk():
    from registry.import_rows import build_points
    record = {"code": "2024-370403-42-01-00234X", "name": "锅炉", "domain": "工业", "owner": "甲公司",
              "total_investment": "100", "stage": "谋划储备", "lng": "117.25", "lat": "35.05",
              "crs": "GCJ02"}
    values, problems = validate_record(record, row=2, convert=False)
    assert problems == [] and values["geom"] == (117.25, 35.05) and values["source_crs"] == "GCJ02"
    converted, _ = validate_record(record, row=2)  # converted: a WGS84 shapely point
    build_points([values])
    assert values["geom"].equals(shapely.Point(117.25, 35.05))
    assert not converted["geom"].equals(values["geom"])


WKT_CELLS = ["LINESTRING(117 35, 118 36)", "  'SRID=4326;POINT(117 35)  ", "POINT(200 95)", "POINT(35 117)",
             "MULTIPOLYGON(((117 35,117.1 35,117.1 35.1,117 35)))", "POINT Z(117 35 1)", "POINT M (117 35 5)",
             "LINESTRING ZM (117 35 1 5, 118 36 1 6)", "POINT(nan nan)",
             "POLYGON((117 35,117.1 35.1,117.1 35,117 35.1,117 35))", "POINT EMPTY", "LINESTRING(117 35)",
             "GEOMETRYCOLLECTION(POINT(117 35))", "garbage\x00", "POINT(117 35", "CIRCULARSTRING(0 0,1 1,2 0)"]


@pytest.mark.parametrize("cells", [WKT_CELLS, WKT_CELLS[:-1]], ids=["with a curve", "without"])
def test_wkt_cells_parsed_together_validate_as_each_alone(cells):
    parsed = parse_wkts([*cells, None, 7])
    if "CIRCULARSTRING(0 0,1 1,2 0)" not in cells:  # the batch reader refuses curves: all alone then
        # only the cells that pass as they stand; the rest keep their own path (messages, repair)
        assert set(parsed) == {"LINESTRING(117 35, 118 36)", "SRID=4326;POINT(117 35)", "POINT(200 95)",
                               "POINT(35 117)", "MULTIPOLYGON(((117 35,117.1 35,117.1 35.1,117 35)))"}
    for cell in cells:
        record = {**VALID, "lng": None, "lat": None, "wkt": cell}
        alone, alone_problems = validate_record(record, row=5, convert=False)
        together, problems = validate_record(record, row=5, convert=False, wkts=parsed)
        assert [(p.kind, p.message) for p in problems] == [(p.kind, p.message) for p in alone_problems]
        assert (together is None) == (alone is None)
        if together is not None:
            assert shapely.equals_exact(together["geom"], alone["geom"], 0)
            assert not shapely.has_z(together["geom"]) and not shapely.has_m(together["geom"])
