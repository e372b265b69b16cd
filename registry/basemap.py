"""The bureau's own offline basemap: one raster MBTiles file kept under ``var/`` and served by the
app (``/tiles/<z>/<x>/<y>.<ext>``), so an intranet map has roads and villages without internet.

MBTiles (https://github.com/mapbox/mbtiles-spec) is SQLite with ``metadata(name, value)`` and
``tiles(zoom_level, tile_column, tile_row, tile_data)``; rows count from the south (TMS), web
maps from the north (XYZ): ``tile_row = 2**z - 1 - y``. Tiles are in Web Mercator (EPSG:3857)
like every web basemap. Vector MBTiles (``format`` pbf) are refused with a clear message: the
maps draw raster tiles only (DESIGN §9: raster required, vector optional).
"""
from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from registry import embedded
from registry.errors import InvalidInput

FILE_NAME = "basemap.mbtiles"
RASTER_FORMATS = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


@dataclass(frozen=True)
class Basemap:
    """What the maps need to know of the loaded basemap (bounds: west, south, east, north in
    EPSG:4326 degrees, or None when the file does not say)."""
    name: str
    format: str
    min_zoom: int
    max_zoom: int
    bounds: tuple[float, float, float, float] | None
    attribution: str
    tiles: int

    @property
    def media_type(self) -> str:
        return RASTER_FORMATS[self.format]

    def as_dict(self) -> dict:
        return {"name": self.name, "format": self.format, "min_zoom": self.min_zoom, "max_zoom": self.max_zoom,
                "bounds": self.bounds, "attribution": self.attribution, "tiles": self.tiles}


def basemap_path() -> Path:
    return embedded.home() / FILE_NAME


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def read_basemap(path: Path) -> Basemap:
    """Check an MBTiles file and describe it; ``InvalidInput`` (in Chinese) when it cannot serve."""
    if not path.is_file():
        raise InvalidInput(f"找不到文件：{path}", {"path": str(path)})
    try:
        with closing(_connect(path)) as conn:
            metadata = dict(conn.execute("SELECT name, value FROM metadata").fetchall())
            zooms = conn.execute("SELECT min(zoom_level), max(zoom_level), count(*) FROM tiles").fetchone()
            first = conn.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{path.name} 不是有效的 MBTiles 文件（需含 metadata 与 tiles 表）：{exc}",
                           {"path": str(path)}) from exc
    if not zooms or not zooms[2]:
        raise InvalidInput(f"{path.name} 中没有瓦片", {"path": str(path)})
    fmt = (metadata.get("format") or _sniff(first[0])).lower()
    if fmt == "pbf":
        raise InvalidInput("暂不支持矢量 MBTiles（pbf），请向 GIS 部门索取栅格（PNG/JPEG/WebP）MBTiles",
                           {"format": fmt})
    if fmt not in RASTER_FORMATS:
        raise InvalidInput(f"不支持的瓦片格式：{fmt}（可用 PNG、JPEG、WebP）", {"format": fmt})
    return Basemap(name=metadata.get("name") or path.stem, format="jpg" if fmt == "jpeg" else fmt,
                   min_zoom=int(metadata.get("minzoom", zooms[0])), max_zoom=int(metadata.get("maxzoom", zooms[1])),
                   bounds=_bounds(metadata.get("bounds")), attribution=metadata.get("attribution") or "",
                   tiles=int(zooms[2]))


def _sniff(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "pbf"


def _bounds(text: str | None) -> tuple[float, float, float, float] | None:
    try:
        west, south, east, north = (float(v) for v in (text or "").split(","))
    except ValueError:
        return None
    return (west, south, east, north)


def install_basemap(source: Path, *, replace: bool = False) -> Basemap:
    """Copy ``source`` (checked first) to ``var/basemap.mbtiles``. An existing basemap is kept
    unless ``replace``; the new file is written beside it and renamed into place, so a reader
    never sees half a file."""
    basemap = read_basemap(source)
    target = basemap_path()
    if target.exists() and not replace:
        current = read_basemap(target)
        raise InvalidInput(f"已有底图“{current.name}”（{current.tiles} 个瓦片）；替换请加 --replace",
                           {"current": current.as_dict()})
    target.parent.mkdir(parents=True, exist_ok=True)
    draft = target.with_name(f".{FILE_NAME}.{os.getpid()}")
    shutil.copyfile(source, draft)
    os.chmod(draft, 0o644)
    draft.replace(target)
    return basemap


def current_basemap() -> Basemap | None:
    """The loaded basemap, or None."""
    path = basemap_path()
    return read_basemap(path) if path.is_file() else None


def tile(z: int, x: int, y: int) -> bytes | None:
    """The tile at web-map (XYZ) address ``z/x/y``, or None when the basemap has none there."""
    path = basemap_path()
    if not path.is_file() or not (0 <= z <= 30 and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        return None
    with closing(_connect(path)) as conn:
        row = conn.execute("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                           (z, x, 2 ** z - 1 - y)).fetchone()
    return row[0] if row else None
