"""Coordinate systems on ingest: WGS84 / CGCS2000 (identical at this precision), GCJ-02 and BD-09.

GCJ-02 ("Mars coordinates", AMap/Tencent) and BD-09 (Baidu) are obfuscations of WGS84 used by
Chinese web maps. The forward formulas are public; their inverses are found by fixed-point
iteration to well under a millimetre. All arrays are (lng, lat) in degrees.
"""
from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs_names import CRS_NAMES, crs_code  # noqa: F401  (public here too)
from geo.errors import GeometryError

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 formula uses
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0


def _outside_china(lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lng < 72.004) | (lng > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lng - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlng = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    dlat = dlat * 180.0 / ((_A * (1 - _EE)) / (magic * np.sqrt(magic)) * np.pi)
    dlng = dlng * 180.0 / (_A / np.sqrt(magic) * np.cos(rad) * np.pi)
    outside = _outside_china(lng, lat)
    return np.where(outside, 0.0, dlng), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lng, lat):
    lng, lat = np.asarray(lng, float), np.asarray(lat, float)
    dlng, dlat = _delta(lng, lat)
    return lng + dlng, lat + dlat


def gcj02_to_bd09(lng, lat):
    lng, lat = np.asarray(lng, float), np.asarray(lat, float)
    z = np.sqrt(lng * lng + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lng) + 0.000003 * np.cos(lng * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_bd09(lng, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))


def _invert(forward, lng, lat, tolerance=1e-10, max_iterations=30):
    """Solve forward(w) = (lng, lat) for w by fixed-point iteration (the offsets vary slowly).

    Each point stops iterating once its own step is below ``tolerance``, so a point's result does
    not depend on which other points are converted with it (a re-import stays byte-identical).
    """
    target_lng = np.array(lng, float, ndmin=1)
    target_lat = np.array(lat, float, ndmin=1)
    w_lng, w_lat = target_lng.copy(), target_lat.copy()
    active = np.arange(target_lng.size)
    for _ in range(max_iterations):
        f_lng, f_lat = forward(w_lng[active], w_lat[active])
        err_lng, err_lat = f_lng - target_lng[active], f_lat - target_lat[active]
        w_lng[active] -= err_lng
        w_lat[active] -= err_lat
        active = active[(np.abs(err_lng) >= tolerance) | (np.abs(err_lat) >= tolerance)]
        if not active.size:
            break
    shape = np.shape(lng)
    return w_lng.reshape(shape), w_lat.reshape(shape)


def gcj02_to_wgs84(lng, lat):
    return _invert(wgs84_to_gcj02, lng, lat)


def bd09_to_wgs84(lng, lat):
    return _invert(wgs84_to_bd09, lng, lat)


_TO_WGS84 = {"WGS84": None, "CGCS2000": None, "GCJ02": gcj02_to_wgs84, "BD09": bd09_to_wgs84}


def to_wgs84(geometry: BaseGeometry, crs: str) -> BaseGeometry:
    """Bring a geometry in ``crs`` (WGS84, CGCS2000, GCJ02 or BD09, any spelling) to WGS84.

    The one ingest function for project coordinates: every geometry entering the registry
    passes through it (or ``many_to_wgs84``) with an explicit CRS. Unknown names raise
    ``GeometryError``.
    """
    return many_to_wgs84(geometry, crs)


def to_gcj02(geometry):
    """Shift a WGS84 geometry (or an array of them) to GCJ-02, to be drawn over AMap tiles."""
    def shift(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(wgs84_to_gcj02(coords[:, 0], coords[:, 1]))
    return shapely.transform(geometry, shift)


def many_to_wgs84(geometries, crs: str):
    """Bring one geometry or an array of geometries, all in ``crs``, to WGS84 in one call.

    Parameters
    ----------
    geometries
        A shapely geometry or an array-like of them (``None`` entries stay ``None``).
    crs
        WGS84, CGCS2000, GCJ02 or BD09, any spelling accepted by ``crs_code``.

    Returns the same shape as given. The conversion runs once over all coordinates of all
    geometries (numpy), which is what makes converting a whole import file cheap.
    """
    code = crs_code(crs)
    if code is None:
        raise GeometryError(f"不支持的坐标系：{crs}（可用 WGS84、CGCS2000、GCJ02、BD09）")
    convert = _TO_WGS84[code]
    if convert is None:
        return geometries

    def transform(coords: np.ndarray) -> np.ndarray:
        lng, lat = convert(coords[:, 0], coords[:, 1])
        return np.column_stack([lng, lat])

    return shapely.transform(geometries, transform)
