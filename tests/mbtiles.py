"""Tiny raster MBTiles files for the basemap tests (solid-colour PNG tiles, written with zlib)."""
from __future__ import annotations

import sqlite3
import struct
import zlib
from contextlib import closing
from pathlib import Path

RED, BLUE = (220, 30, 30), (30, 30, 220)


def solid_png(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_mbtiles(path: Path, *, fmt: str = "png", red_xyz: tuple[int, int, int] = (1, 1, 0)) -> Path:
    """Zoom levels 0–1 of the whole world: the XYZ tile ``red_xyz`` (117°E 35°N at zoom 1) red,
    every other tile blue. Rows are stored the MBTiles (TMS) way, counted from the south."""
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript("CREATE TABLE metadata (name text, value text);"
                           "CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob);")
        conn.executemany("INSERT INTO metadata VALUES (?, ?)", [
            ("name", "测试底图"), ("format", fmt), ("minzoom", "0"), ("maxzoom", "1"),
            ("bounds", "-180,-85,180,85"), ("attribution", "测试")])
        for z in (0, 1):
            for x in range(2 ** z):
                for y in range(2 ** z):
                    colour = RED if (z, x, y) == red_xyz else BLUE
                    conn.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, 2 ** z - 1 - y, solid_png(colour)))
        conn.commit()
    return path
