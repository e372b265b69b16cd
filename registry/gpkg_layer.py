"""One GeoPackage layer (OGC GeoPackage 1.4, EPSG:4326) written with the standard library's sqlite3.

A GeoPackage is an SQLite database with a few fixed tables. The file written here is the one GDAL
writes for the same layer (same tables, field types, geometry blobs and R-tree index with GDAL's
triggers), so GDAL, QGIS and ArcGIS read and edit it as their own. Why not GDAL through pyogrio:
importing pyogrio imports pandas, geopandas, shapely and pyproj (0.6 s of CPU, as long as ogr2ogr
needs to export 20 000 projects), and its writer sets every field of every feature from Python;
sqlite3 inserts whole chunks of plain values in C.

PostGIS builds each geometry blob (``registry.exporting.gpkg_query``: the GeoPackage header, the
envelope, then WKB), so no geometry is parsed in Python; the R-tree is filled afterwards from the
envelopes in the headers, as GDAL does when it creates a layer.
"""
from __future__ import annotations

import sqlite3
import struct
from pathlib import Path
from typing import Iterable

GEOMETRY_FIELD = "geom"
# A geometry blob's header: "GP", version 0, flags, SRS id 4326 (big-endian), then for lines and
# polygons the envelope [minx, maxx, miny, maxy] (flags 0x02); a point has none (flags 0x00) and
# its WKB (little-endian) holds x and y after 5 bytes, as GDAL writes them. registry.exporting
# builds the blobs, the R-tree reads the envelopes here.
BLOB_HEADER = b"GP\x00\x02" + struct.pack(">i", 4326)
POINT_BLOB_HEADER = b"GP\x00\x00" + struct.pack(">i", 4326)
_ENVELOPE = struct.Struct(">4d")
_POINT = struct.Struct("<2d")
# PostgreSQL type OID → field type; everything else is TEXT
_FIELD_TYPES = {16: "BOOLEAN", 20: "INTEGER", 21: "INTEGER", 23: "INTEGER", 700: "REAL", 701: "REAL"}
_WGS84 = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
          'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],'
          'UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],'
          'AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]')

_CORE_TABLES = [statement.strip() for statement in """
CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL,srs_id INTEGER NOT NULL PRIMARY KEY,
  organization TEXT NOT NULL,organization_coordsys_id INTEGER NOT NULL,definition TEXT NOT NULL,description TEXT);
CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY,data_type TEXT NOT NULL,identifier TEXT UNIQUE,
  description TEXT DEFAULT '',last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE,max_x DOUBLE, max_y DOUBLE,srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL,column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL,srs_id INTEGER NOT NULL,z TINYINT NOT NULL,m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE gpkg_extensions (table_name TEXT,column_name TEXT,extension_name TEXT NOT NULL,
  definition TEXT NOT NULL,scope TEXT NOT NULL,CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
""".split(";\n") if statement.strip()]
# The spatial index of the GeoPackage R-tree extension, and the triggers that keep it in step
# when another program edits the layer (GDAL's text; {t} the layer, {r} the index), created after
# the rows: they call ST_* functions that only GDAL's own SQLite connections provide.
_RTREE = """
CREATE VIRTUAL TABLE "{r}" USING rtree(id, minx, maxx, miny, maxy);
INSERT INTO gpkg_extensions VALUES ('{t}', 'geom', 'gpkg_rtree_index',
  'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')
"""
_RTREE_TRIGGERS = """
CREATE TRIGGER "{r}_insert" AFTER INSERT ON "{t}" WHEN (new."geom" NOT NULL AND NOT ST_IsEmpty(NEW."geom"))
BEGIN INSERT OR REPLACE INTO "{r}" VALUES (NEW."fid",ST_MinX(NEW."geom"), ST_MaxX(NEW."geom"),
  ST_MinY(NEW."geom"), ST_MaxY(NEW."geom")); END;
CREATE TRIGGER "{r}_update6" AFTER UPDATE OF "geom" ON "{t}" WHEN OLD."fid" = NEW."fid" AND
  (NEW."geom" NOTNULL AND NOT ST_IsEmpty(NEW."geom")) AND (OLD."geom" NOTNULL AND NOT ST_IsEmpty(OLD."geom"))
BEGIN UPDATE "{r}" SET minx = ST_MinX(NEW."geom"), maxx = ST_MaxX(NEW."geom"),miny = ST_MinY(NEW."geom"),
  maxy = ST_MaxY(NEW."geom") WHERE id = NEW."fid";END;
CREATE TRIGGER "{r}_update7" AFTER UPDATE OF "geom" ON "{t}" WHEN OLD."fid" = NEW."fid" AND
  (NEW."geom" NOTNULL AND NOT ST_IsEmpty(NEW."geom")) AND (OLD."geom" ISNULL OR ST_IsEmpty(OLD."geom"))
BEGIN INSERT INTO "{r}" VALUES (NEW."fid",ST_MinX(NEW."geom"), ST_MaxX(NEW."geom"),ST_MinY(NEW."geom"),
  ST_MaxY(NEW."geom")); END;
CREATE TRIGGER "{r}_update2" AFTER UPDATE OF "geom" ON "{t}" WHEN OLD."fid" = NEW."fid" AND
  (NEW."geom" ISNULL OR ST_IsEmpty(NEW."geom")) BEGIN DELETE FROM "{r}" WHERE id = OLD."fid"; END;
CREATE TRIGGER "{r}_update5" AFTER UPDATE ON "{t}" WHEN OLD."fid" != NEW."fid" AND
  (NEW."geom" NOTNULL AND NOT ST_IsEmpty(NEW."geom"))
BEGIN DELETE FROM "{r}" WHERE id = OLD."fid"; INSERT OR REPLACE INTO "{r}" VALUES (NEW."fid",
  ST_MinX(NEW."geom"), ST_MaxX(NEW."geom"),ST_MinY(NEW."geom"), ST_MaxY(NEW."geom")); END;
CREATE TRIGGER "{r}_update4" AFTER UPDATE ON "{t}" WHEN OLD."fid" != NEW."fid" AND
  (NEW."geom" ISNULL OR ST_IsEmpty(NEW."geom")) BEGIN DELETE FROM "{r}" WHERE id IN (OLD."fid", NEW."fid"); END;
CREATE TRIGGER "{r}_delete" AFTER DELETE ON "{t}" WHEN old."geom" NOT NULL
BEGIN DELETE FROM "{r}" WHERE id = OLD."fid"; END;
"""


def write_layer(path: Path, layer: str, names: list[str], types: list[int],
                chunks: Iterable[list[tuple]]) -> None:
    """Write ``chunks`` (lists of tuples in the order of ``names``, PostgreSQL type OIDs ``types``;
    the geometry blob in the column ``geom``) as the only layer ``layer`` of a new GeoPackage at
    ``path``. An empty ``chunks`` still gives a valid, empty layer with the same fields."""
    path.unlink(missing_ok=True)
    columns = ", ".join(f'"{name}" {"GEOMETRY" if name == GEOMETRY_FIELD else _FIELD_TYPES.get(oid, "TEXT")}'
                        for name, oid in zip(names, types))
    geometry = names.index(GEOMETRY_FIELD)
    index = f"rtree_{layer}_{GEOMETRY_FIELD}"
    quoted = ", ".join(f'"{name}"' for name in names)
    # fid left to SQLite: in a new AUTOINCREMENT table the rows get 1, 2, 3 … in order
    insert = f'INSERT INTO "{layer}" ({quoted}) VALUES ({", ".join("?" * len(names))})'
    database = sqlite3.connect(path, isolation_level=None)  # transactions as below, no implicit ones
    try:
        database.execute("PRAGMA journal_mode = OFF")  # a new file: nothing to roll back to
        database.execute("PRAGMA synchronous = OFF")
        database.execute("PRAGMA application_id = 1196444487")  # "GPKG"
        database.execute("PRAGMA user_version = 10400")  # GeoPackage 1.4
        database.execute("BEGIN")
        _create_layer(database, layer, columns, index)
        fid = 0
        extent = None  # min x, max x, min y, max y (the R-tree keeps them as float32: not exact)
        for rows in chunks:
            database.executemany(insert, rows)
            envelopes = [(fid + i, *_envelope(row[geometry]))
                         for i, row in enumerate(rows, start=1) if row[geometry] is not None]
            database.executemany(f'INSERT INTO "{index}" VALUES (?, ?, ?, ?, ?)', envelopes)
            if envelopes:
                _fids, min_x, max_x, min_y, max_y = zip(*envelopes)
                chunk_extent = (min(min_x), max(max_x), min(min_y), max(max_y))
                extent = chunk_extent if extent is None else (
                    min(extent[0], chunk_extent[0]), max(extent[1], chunk_extent[1]),
                    min(extent[2], chunk_extent[2]), max(extent[3], chunk_extent[3]))
            fid += len(rows)
        for statement in _statements(_RTREE_TRIGGERS, layer, index):
            database.execute(statement)
        if database.execute(f'SELECT max(fid) FROM "{layer}"').fetchone()[0] != (fid or None):
            raise RuntimeError("GeoPackage feature ids out of step with the spatial index")
        if extent:
            database.execute("UPDATE gpkg_contents SET (min_x, max_x, min_y, max_y) = (?, ?, ?, ?)", extent)
        database.execute("COMMIT")
    finally:
        database.close()


def _create_layer(database: sqlite3.Connection, layer: str, columns: str, index: str) -> None:
    """The GeoPackage's own tables, the empty feature table ``layer`` and its empty R-tree ``index``."""
    for statement in _CORE_TABLES:
        database.execute(statement)
    database.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", [
        ("Undefined Cartesian SRS", -1, "NONE", -1, "undefined", "undefined Cartesian coordinate reference system"),
        ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
        ("WGS 84 geodetic", 4326, "EPSG", 4326, _WGS84,
         "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid")])
    database.execute(f'CREATE TABLE "{layer}" ("fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, {columns})')
    database.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                     "VALUES (?, 'features', ?, 4326)", (layer, layer))
    database.execute("INSERT INTO gpkg_geometry_columns VALUES (?, ?, 'GEOMETRY', 4326, 0, 0)",
                     (layer, GEOMETRY_FIELD))
    for statement in _statements(_RTREE, layer, index):
        database.execute(statement)


def _envelope(blob: bytes) -> tuple[float, float, float, float]:
    """min x, max x, min y, max y of a geometry blob (see ``BLOB_HEADER``)."""
    if blob[3] == 0x02:
        return _ENVELOPE.unpack_from(blob, 8)
    x, y = _POINT.unpack_from(blob, 13)
    return x, x, y, y


def _statements(script: str, layer: str, index: str) -> list[str]:
    """The statements of ``script`` for this layer; each ends with ";" at a line end (END; included)."""
    text = script.format(t=layer, r=index).strip()
    return [part.strip() + (";" if part.strip().endswith("END") else "")
            for part in text.split(";\n") if part.strip()]
