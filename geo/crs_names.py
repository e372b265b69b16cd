"""The coordinate systems accepted on ingest, by name: ``crs_code`` normalises what people write.

Kept apart from ``geo.crs`` (the conversions) so that naming a CRS — the CLI's option parsing,
the forms' choices — loads no numpy or shapely.
"""
from __future__ import annotations

# Coordinate systems accepted on ingest; CGCS2000 is treated as WGS84 at this precision.
CRS_NAMES: dict[str, str] = {"WGS84": "WGS84", "CGCS2000": "CGCS2000", "GCJ02": "GCJ-02（高德/腾讯）",
                             "BD09": "BD-09（百度）"}


def crs_code(value: str | None) -> str | None:
    """Normalise a coordinate-system name: ``gcj-02``, ``GCJ02``, ``高德`` … → ``GCJ02``."""
    if value is None or not value.strip():
        return None
    key = value.strip().upper().replace("-", "").replace("_", "").replace(" ", "").replace(":", "")
    aliases = {"WGS84": "WGS84", "EPSG4326": "WGS84", "GPS": "WGS84", "CGCS2000": "CGCS2000",
               "EPSG4490": "CGCS2000", "GCJ02": "GCJ02", "高德": "GCJ02", "腾讯": "GCJ02",
               "火星坐标": "GCJ02", "BD09": "BD09", "百度": "BD09", "BD09LL": "BD09"}
    return aliases.get(key)
