"""Make the demo district's town boundaries: 薛城区 (370403), APPROXIMATE, not official.

演示数据：近似边界，非官方 (approximate, not official).

The town names and codes are the real ones (statistical division codes). The shapes are not:
each town is the Voronoi cell of its seat (an approximate location of the town/sub-district
government, from general geographic knowledge) clipped to a hand-drawn outline of the district
of 23 vertices. Good enough to demonstrate maps, matching and figures; useless for anything else.

Run from the repository root:  .venv/bin/python data/boundaries/make_demo.py
Writes data/boundaries/xuecheng-demo-towns.geojson (EPSG:4326, longitude/latitude), and the same
kind of file for the roll-up demo's two other districts (``MORE_DISTRICTS``).
"""
from __future__ import annotations

import json
from pathlib import Path

import shapely
from shapely.geometry import MultiPoint, Point, Polygon, mapping

LABEL = "演示数据：近似边界，非官方 (approximate, not official)"
DISTRICT = ("370403", "薛城区")

# (code, name, approximate seat longitude, latitude) — EPSG:4326
SEATS = [
    ("370403001", "临城街道", 117.265, 34.800),
    ("370403002", "兴仁街道", 117.300, 34.762),
    ("370403003", "兴城街道", 117.245, 34.765),
    ("370403004", "张范街道", 117.215, 34.842),
    ("370403005", "常庄街道", 117.200, 34.785),
    ("370403006", "新城街道", 117.332, 34.810),
    ("370403101", "沙沟镇", 117.238, 34.672),
    ("370403102", "周营镇", 117.158, 34.728),
    ("370403103", "邹坞镇", 117.282, 34.882),
    ("370403104", "陶庄镇", 117.362, 34.868),
]

# A rough outline of the district, clockwise from the north (EPSG:4326).
OUTLINE = [
    (117.250, 34.930), (117.310, 34.925), (117.370, 34.915), (117.410, 34.890), (117.420, 34.850),
    (117.390, 34.820), (117.370, 34.790), (117.360, 34.750), (117.330, 34.720), (117.300, 34.690),
    (117.280, 34.650), (117.250, 34.625), (117.210, 34.630), (117.190, 34.660), (117.150, 34.680),
    (117.120, 34.710), (117.110, 34.750), (117.140, 34.780), (117.160, 34.800), (117.170, 34.830),
    (117.180, 34.870), (117.200, 34.900), (117.220, 34.920),
]

OUTPUT = Path(__file__).with_name("xuecheng-demo-towns.geojson")
DECIMALS = 6

# Two more districts for the roll-up demo (``eqreg demo --districts``), in two other cities:
# 安丘市 (潍坊) and 东昌府区 (聊城): six of each one's towns with their real names and statistical
# codes (the others are left out, so the towns cover the whole district only roughly); seats and
# outlines are rough guesses. district code → (name, file, seats, outline).
MORE_DISTRICTS = {
    "370784": ("安丘市", "anqiu-demo-towns.geojson", [
        ("370784001", "兴安街道", 119.245, 36.455),
        ("370784003", "新安街道", 119.205, 36.470),
        ("370784004", "凌河街道", 119.080, 36.540),
        ("370784100", "景芝镇", 119.390, 36.330),
        ("370784104", "官庄镇", 119.290, 36.600),
        ("370784111", "石埠子镇", 119.050, 36.320),
    ], [
        (119.100, 36.680), (119.250, 36.690), (119.380, 36.640), (119.470, 36.520), (119.480, 36.380),
        (119.420, 36.250), (119.280, 36.200), (119.120, 36.210), (118.990, 36.280), (118.960, 36.420),
        (119.000, 36.560),
    ]),
    "371502": ("东昌府区", "dongchangfu-demo-towns.geojson", [
        ("371502001", "古楼街道", 115.990, 36.455),
        ("371502002", "柳园街道", 115.960, 36.480),
        ("371502004", "湖西街道", 115.945, 36.440),
        ("371502100", "侯营镇", 115.900, 36.590),
        ("371502101", "沙镇镇", 116.050, 36.330),
        ("371502102", "堂邑镇", 115.830, 36.470),
    ], [
        (115.880, 36.650), (116.020, 36.640), (116.120, 36.560), (116.150, 36.430), (116.100, 36.300),
        (115.980, 36.260), (115.850, 36.300), (115.770, 36.400), (115.780, 36.540),
    ]),
}


def town_cells(seat_list=SEATS, outline_points=OUTLINE) -> list[tuple[str, str, Polygon]]:
    """Each seat's Voronoi cell clipped to the outline, as (code, name, polygon)."""
    outline = Polygon(outline_points)
    seats = [Point(lng, lat) for _, _, lng, lat in seat_list]
    if not all(outline.contains(seat) for seat in seats):
        raise SystemExit("a town seat lies outside the outline")
    cells = shapely.voronoi_polygons(MultiPoint(seats), extend_to=outline).geoms
    out = []
    for (code, name, _, _), seat in zip(seat_list, seats):
        cell = next(c for c in cells if c.contains(seat))
        out.append((code, name, shapely.set_precision(cell.intersection(outline), 10 ** -DECIMALS)))
    return out


def feature_collection(district: str = DISTRICT[0]) -> dict:
    if district == DISTRICT[0]:
        name, output, seats, outline = DISTRICT[1], OUTPUT.name, SEATS, OUTLINE
    else:
        name, output, seats, outline = MORE_DISTRICTS[district]
    features = [{
        "type": "Feature",
        "properties": {"code": code, "name": town, "level": "镇" if town.endswith("镇") else "街道",
                       "district_code": district, "district_name": name, "note": LABEL},
        "geometry": mapping(cell),
    } for code, town, cell in town_cells(seats, outline)]
    return {"type": "FeatureCollection", "name": output.removesuffix(".geojson"), "description": LABEL,
            "features": features}


def main() -> None:
    for district in (DISTRICT[0], *MORE_DISTRICTS):
        collection = feature_collection(district)
        text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
        path = OUTPUT.with_name(collection["name"] + ".geojson")
        path.write_text(text.replace('{"type":"Feature",', '\n{"type":"Feature",') + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
