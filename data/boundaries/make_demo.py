"""Make the demo district's town boundaries: 薛城区 (370403), APPROXIMATE, not official.

演示数据：近似边界，非官方 (approximate, not official).

The town names and codes are the real ones (statistical division codes). The shapes are not:
each town is the Voronoi cell of its seat (an approximate location of the town/sub-district
government, from general geographic knowledge) clipped to a hand-drawn outline of the district
of 23 vertices. Good enough to demonstrate maps, matching and figures; useless for anything else.

Run from the repository root:  .venv/bin/python data/boundaries/make_demo.py
Writes data/boundaries/xuecheng-demo-towns.geojson (EPSG:4326, longitude/latitude).
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


def town_cells() -> list[tuple[str, str, Polygon]]:
    """Each seat's Voronoi cell clipped to the outline, as (code, name, polygon)."""
    outline = Polygon(OUTLINE)
    seats = [Point(lng, lat) for _, _, lng, lat in SEATS]
    if not all(outline.contains(seat) for seat in seats):
        raise SystemExit("a town seat lies outside the outline")
    cells = shapely.voronoi_polygons(MultiPoint(seats), extend_to=outline).geoms
    out = []
    for (code, name, _, _), seat in zip(SEATS, seats):
        cell = next(c for c in cells if c.contains(seat))
        out.append((code, name, shapely.set_precision(cell.intersection(outline), 10 ** -DECIMALS)))
    return out


def feature_collection() -> dict:
    features = [{
        "type": "Feature",
        "properties": {"code": code, "name": name, "level": "镇" if name.endswith("镇") else "街道",
                       "district_code": DISTRICT[0], "district_name": DISTRICT[1], "note": LABEL},
        "geometry": mapping(cell),
    } for code, name, cell in town_cells()]
    return {"type": "FeatureCollection", "name": "xuecheng-demo-towns", "description": LABEL,
            "features": features}


def main() -> None:
    collection = feature_collection()
    text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
    OUTPUT.write_text(text.replace('{"type":"Feature",', '\n{"type":"Feature",') + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
