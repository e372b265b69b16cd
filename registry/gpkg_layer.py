"""One GeoPackage layer written from rows of plain values with pyogrio's array writer.

The statement that produces the rows types every field (``registry.exporting.gpkg_query``: whole
and real numbers, flags, text, ISO dates as text, the geometry as WKB); here each chunk becomes
one NumPy array per field and GDAL writes it. No pandas or geopandas: they cost more than the
writing itself (import time, a DataFrame per chunk, a Shapely geometry per row).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

CHUNK_ROWS = 20000  # each append re-opens the GeoPackage: few, large chunks (memory stays bounded)
GEOMETRY_FIELD = "wkb"
CRS = "EPSG:4326"
# PostgreSQL type OID → NumPy dtype of the field; everything else is text (an object array)
_DTYPES = {20: "int64", 23: "int64", 701: "float64", 16: "bool"}


def write_layer(path: Path, layer: str, names: list[str], types: list[int],
                chunks: Iterable[list[tuple]]) -> None:
    """Write ``chunks`` (lists of tuples in the order of ``names``, PostgreSQL types ``types``)
    as the only layer ``layer`` of a new GeoPackage at ``path`` (EPSG:4326, generic geometry).
    An empty ``chunks`` still gives a valid, empty layer with the same fields."""
    path.unlink(missing_ok=True)
    written = False
    for rows in chunks:
        _write(path, layer, names, types, list(zip(*rows)), append=written)
        written = True
    if not written:
        _write(path, layer, names, types, [() for _ in names], append=False)


def _write(path: Path, layer: str, names, types, columns: list[tuple], *, append: bool) -> None:
    import numpy
    from pyogrio.raw import write

    fields, data, masks = [], [], []
    geometry = None
    for name, type_code, values in zip(names, types, columns):
        if name == GEOMETRY_FIELD:
            geometry = numpy.array(values, dtype=object)
            continue
        dtype = _DTYPES.get(type_code, "object")
        missing = numpy.array([v is None for v in values], dtype=bool)
        if dtype == "object" or not missing.any():
            array, mask = numpy.array(values, dtype=dtype), None
        else:  # NULL numbers and flags: a placeholder value, masked out
            array = numpy.array([0 if v is None else v for v in values], dtype=dtype)
            mask = missing
        fields.append(name)
        data.append(array)
        masks.append(mask)
    if any(mask is not None for mask in masks):
        masks = [numpy.zeros(len(array), dtype=bool) if mask is None else mask
                 for array, mask in zip(data, masks)]
    else:
        masks = None
    logging.getLogger("pyogrio").setLevel(logging.WARNING)  # not "Created 20,000 records" per chunk
    write(path, geometry, data, fields, field_mask=masks, layer=layer, driver="GPKG", geometry_type="Unknown",
          crs=CRS, promote_to_multi=False, append=append)
