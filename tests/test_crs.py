"""GCJ-02 / BD-09 conversions against published reference points (DESIGN §3: error under 0.5 m).

The reference pairs are independent of geo.crs: they are the test vectors that well-known
open-source converters ship, hard-coded here with their source.
"""
from __future__ import annotations

import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, Point

from geo import crs
from geo.errors import GeometryError

GEOD = Geod(ellps="WGS84")
TOLERANCE_M = 0.5

# (place, WGS84 (lng, lat), GCJ-02 (lng, lat))
GCJ02_REFERENCE = [
    # googollee/eviltransform, python/test.py (TESTS: wgsLat, wgsLng, gcjLat, gcjLng)
    ("上海", (121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ("深圳", (113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ("北京", (116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    # wandergis/coordtransform, test/app.js (wgs84togcj02(116.404, 39.915))
    ("北京天安门", (116.404, 39.915), (116.41024449916938, 39.91640428150164)),
    # hujiulong/gcoord, test/unit/crs/WGS84.spec.ts (WGS84.to.GCJ02([123, 45]))
    ("吉林", (123.0, 45.0), (123.00607541, 45.00197815)),
]

# (place, WGS84 (lng, lat), BD-09 (lng, lat))
BD09_REFERENCE = [
    # hujiulong/gcoord, test/unit/crs/WGS84.spec.ts (WGS84.to.BD09([123, 45]))
    ("吉林", (123.0, 45.0), (123.0124491, 45.0083293)),
    # hujiulong/gcoord, test/unit/crs/BD09.spec.ts (BD09.to.WGS84([123, 45]))
    ("吉林（反算）", (122.98762210, 44.99171540), (123.0, 45.0)),
]

# wandergis/coordtransform, test/app.js: gcj02tobd09(116.404, 39.915)
GCJ02_TO_BD09_REFERENCE = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))


def metres_between(a, b) -> float:
    """Geodesic distance in metres between two (lng, lat) points on the WGS84 ellipsoid."""
    return GEOD.inv(float(a[0]), float(a[1]), float(b[0]), float(b[1]))[2]


@pytest.mark.parametrize("place,wgs,gcj", GCJ02_REFERENCE, ids=[r[0] for r in GCJ02_REFERENCE])
def test_wgs84_to_gcj02_matches_reference(place, wgs, gcj):
    assert metres_between(crs.wgs84_to_gcj02(*wgs), gcj) < TOLERANCE_M


@pytest.mark.parametrize("place,wgs,gcj", GCJ02_REFERENCE, ids=[r[0] for r in GCJ02_REFERENCE])
def test_gcj02_to_wgs84_recovers_reference(place, wgs, gcj):
    assert metres_between(crs.gcj02_to_wgs84(*gcj), wgs) < TOLERANCE_M


@pytest.mark.parametrize("place,wgs,bd", BD09_REFERENCE, ids=[r[0] for r in BD09_REFERENCE])
def test_wgs84_to_bd09_matches_reference(place, wgs, bd):
    assert metres_between(crs.wgs84_to_bd09(*wgs), bd) < TOLERANCE_M


@pytest.mark.parametrize("place,wgs,bd", BD09_REFERENCE, ids=[r[0] for r in BD09_REFERENCE])
def test_bd09_to_wgs84_recovers_reference(place, wgs, bd):
    assert metres_between(crs.bd09_to_wgs84(*bd), wgs) < TOLERANCE_M


def test_gcj02_to_bd09_matches_reference():
    gcj, bd = GCJ02_TO_BD09_REFERENCE
    assert metres_between(crs.gcj02_to_bd09(*gcj), bd) < TOLERANCE_M


def test_the_offsets_are_large_enough_to_matter():
    # guards the tests above against a converter that does nothing: GCJ-02 moves points by hundreds of metres
    for _, wgs, gcj in GCJ02_REFERENCE:
        assert metres_between(wgs, gcj) > 100


def test_round_trips_stay_under_half_a_metre_across_china():
    # a grid over mainland China, from Xinjiang to Heilongjiang and Hainan
    lng, lat = zip(*[(x, y) for x in range(76, 134, 6) for y in range(19, 53, 4)])
    for forward, inverse in ((crs.wgs84_to_gcj02, crs.gcj02_to_wgs84),
                             (crs.wgs84_to_bd09, crs.bd09_to_wgs84)):
        back_lng, back_lat = inverse(*forward(lng, lat))
        errors = GEOD.inv(lng, lat, back_lng, back_lat)[2]
        assert max(errors) < TOLERANCE_M


@pytest.mark.parametrize("place,point", [("伦敦", (-0.1276, 51.5072)), ("东京", (139.6917, 35.6895)),
                                         ("纽约", (-74.006, 40.7128))])
def test_points_outside_china_are_not_shifted(place, point):
    assert metres_between(crs.wgs84_to_gcj02(*point), point) == pytest.approx(0.0, abs=1e-6)
    assert metres_between(crs.gcj02_to_wgs84(*point), point) == pytest.approx(0.0, abs=1e-6)


def test_to_wgs84_converts_every_vertex_of_a_geometry():
    (_, wgs_a, gcj_a), (_, wgs_b, gcj_b) = GCJ02_REFERENCE[2], GCJ02_REFERENCE[3]
    line = crs.to_wgs84(LineString([gcj_a, gcj_b]), "gcj-02")
    for got, want in zip(line.coords, (wgs_a, wgs_b)):
        assert metres_between(got, want) < TOLERANCE_M


def test_to_wgs84_converts_bd09_by_alias():
    _, wgs, bd = BD09_REFERENCE[0]
    assert metres_between(crs.to_wgs84(Point(bd), "百度").coords[0], wgs) < TOLERANCE_M


@pytest.mark.parametrize("name", ["WGS84", "CGCS2000", "EPSG:4490"])
def test_to_wgs84_leaves_wgs84_and_cgcs2000_unchanged(name):
    geometry = Point(117.5, 34.8)
    assert shapely.equals_exact(crs.to_wgs84(geometry, name), geometry, tolerance=0)


def test_to_wgs84_rejects_an_unknown_crs_in_chinese():
    with pytest.raises(GeometryError, match="不支持的坐标系"):
        crs.to_wgs84(Point(117.5, 34.8), "北京54")


def test_many_to_wgs84_converts_an_array_like_one_geometry_at_a_time():
    gcj_points = [Point(wgs84_to_gcj(lng, lat)) for lng, lat in ((117.1, 34.8), (117.3, 34.9), (116.9, 35.0))]
    line = LineString([gcj_points[0].coords[0], gcj_points[1].coords[0]])
    together = crs.many_to_wgs84([*gcj_points, line], "GCJ02")
    one_by_one = [crs.to_wgs84(geometry, "GCJ02") for geometry in (*gcj_points, line)]
    # each point stops iterating on its own, so batching never changes a coordinate
    assert all(shapely.equals_exact(a, b, tolerance=0) for a, b in zip(together[:3], one_by_one[:3]))
    assert shapely.equals_exact(together[3], one_by_one[3], tolerance=1e-9)
    assert metres_between(together[0].coords[0], (117.1, 34.8)) < TOLERANCE_M


def wgs84_to_gcj(lng: float, lat: float) -> tuple[float, float]:
    converted = crs.wgs84_to_gcj02(lng, lat)
    return float(converted[0]), float(converted[1])
