"""A line or polygon partly outside the district is the warning ``partly_outside`` with the
geodesic length / area outside (DESIGN §4), on import and in the edit form's preview."""
from __future__ import annotations

import io
import re

import pytest

from registry.importing import import_projects

HEADER = "项目代码,项目名称,领域,建设单位,几何WKT,总投资（万元）,项目阶段"
# 测试区 spans 117.0–117.3°E, 35.0–35.1°N
PAST_THE_EDGE = "LINESTRING(117.25 35.05, 117.35 35.05)"  # 0.05° of 0.1° outside: ≈ 4.56 km
HALF_OUT = "POLYGON((117.28 35.02, 117.32 35.02, 117.32 35.04, 117.28 35.04, 117.28 35.02))"
INSIDE = "LINESTRING(117.05 35.05, 117.25 35.05)"


def csv_file(*wkts: str) -> io.BytesIO:
    lines = [f'2024-370499-44-03-{n:06d},项目{n},市政基础设施,公司,"{wkt}",10,谋划储备' for n, wkt in enumerate(wkts, 1)]
    return io.BytesIO((HEADER + "\n" + "\n".join(lines) + "\n").encode())


def test_import_warns_with_the_length_and_area_outside(db, grid_district):
    report = import_projects(db, csv_file(PAST_THE_EDGE, HALF_OUT, INSIDE))
    found = {p.row: p for p in report.problems if p.kind == "partly_outside"}
    assert set(found) == {2, 3} and report.imported == 3
    assert all(p.severity == "warning" and p.column == "几何WKT" for p in found.values())
    length = float(re.search(r"区外长度约 ([\d.]+) 公里", found[2].message)[1])
    area = float(re.search(r"区外面积约 ([\d.]+) 平方公里", found[3].message)[1])
    assert length == pytest.approx(4.56, abs=0.02)
    assert area == pytest.approx(0.02 * 91.1 * 0.02 * 110.95, rel=0.02)


def test_the_edit_preview_shows_the_part_outside(client, web_data):
    outside = client.post("/api/v1/projects/preview", json={"wkt": PAST_THE_EDGE}).get_json()
    assert outside["inside"] and outside["outside_km"] == pytest.approx(4.56, abs=0.02)
    [warning] = outside["warnings"]
    assert warning["kind"] == "partly_outside" and "区外长度约 4.5" in warning["message"]
    inside = client.post("/api/v1/projects/preview", json={"wkt": INSIDE}).get_json()
    assert inside["warnings"] == [] and inside["outside_km"] == 0
