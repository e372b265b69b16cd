"""Read district and town boundary files into clean EPSG:4326 MultiPolygons (DESIGN §3).

Pure: no database. Handles GeoJSON, Shapefile (any CRS from its .prj, GBK attributes with or
without a .cpg) and GeoPackage; maps field names (``code``/``name`` or the land-survey
``XZQDM``/``XZQMC``); normalises 12-digit land-survey codes; repairs invalid geometry and says
what it repaired. Every problem with a feature is a ``GeometryError`` naming that feature.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon

from geo.admin_codes import normalise_code, parent_prefix
from geo.crs import crs_code, to_wgs84
from geo.errors import GeometryError

log = logging.getLogger(__name__)

CODE_LENGTH = {"district": 6, "town": 9}
# Field names tried in order when the caller names none (compared case-insensitively).
CODE_FIELDS = ("code", "xzqdm")
NAME_FIELDS = ("name", "xzqmc")
PARENT_CODE_FIELDS = ("parent_code", "district_code")
PARENT_NAME_FIELDS = ("parent_name", "district_name")
LEVEL_FIELDS = ("level",)
# Mainland China and its islands, generously: anything outside means a wrong CRS or swapped axes.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)


@dataclass(frozen=True)
class BoundaryFeature:
    """One district or town, ready to store. ``geometry`` is a MultiPolygon in EPSG:4326."""
    code: str
    name: str
    geometry: MultiPolygon
    level: str | None = None
    parent_code: str | None = None
    parent_name: str | None = None
    repairs: tuple[str, ...] = ()


@dataclass(frozen=True)
class BoundaryLayer:
    """The features of one file and how they were read."""
    features: list[BoundaryFeature]
    source_crs: str
    encoding: str | None
    code_field: str
    name_field: str
    notes: list[str] = field(default_factory=list)


def read_boundaries(path: str | Path, *, level: str = "town", code_field: str | None = None,
                    name_field: str | None = None, parent: str | None = None, crs: str | None = None,
                    encoding: str | None = None) -> BoundaryLayer:
    """Read a boundary file and return its features as valid MultiPolygons in EPSG:4326.

    Parameters
    ----------
    path
        GeoJSON, Shapefile (.shp with .dbf/.prj, optional .cpg) or GeoPackage (first layer).
    level
        ``"town"`` (9-digit codes) or ``"district"`` (6-digit codes).
    code_field, name_field
        Attribute names; by default ``code``/``name``, else ``XZQDM``/``XZQMC``.
    parent
        When given, every code must lie under it (``370403`` for towns, ``370400`` for districts).
    crs
        Overrides the file's CRS: ``WGS84``, ``CGCS2000``, ``GCJ02``, ``BD09`` or anything pyproj
        understands (``EPSG:4549``). A layer with no CRS of its own is refused without it.
    encoding
        Attribute encoding; by default the .cpg, else UTF-8 with a GB18030 (GBK) fallback.
    """
    if level not in CODE_LENGTH:
        raise GeometryError(f"未知的边界级别：{level}（可用 district、town）")
    path = Path(path)
    frame, used_encoding = _read_frame(path, encoding)
    if frame.empty:
        raise GeometryError(f"边界文件没有要素：{path.name}")
    geometries, source_crs = _geometries_in_wgs84(frame, crs)
    _check_extent(geometries)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    code_column = _pick_field(columns, code_field, CODE_FIELDS, "代码")
    name_column = _pick_field(columns, name_field, NAME_FIELDS, "名称")
    optional = {key: _pick_field(columns, None, names, key, required=False) for key, names in
                (("parent_code", PARENT_CODE_FIELDS), ("parent_name", PARENT_NAME_FIELDS),
                 ("level", LEVEL_FIELDS))}

    features, errors = [], []
    length = CODE_LENGTH[level]
    records = frame.drop(columns=frame.geometry.name).to_dict("records")
    for position, (values, geometry) in enumerate(zip(records, geometries), start=1):
        raw_code, name = values[code_column], _text(values[name_column])
        label = f"第 {position} 个要素（{name or raw_code}）"
        code = normalise_code(raw_code, length)
        if len(code) != length or not code.isdigit():
            errors.append(f"{label}：代码“{_text(raw_code)}”不是 {length} 位数字")
            continue
        if parent and not code.startswith(parent_prefix(parent)):
            errors.append(f"{label}：代码 {code} 不属于上级 {parent}")
            continue
        if not name:
            errors.append(f"{label}：缺少名称")
            continue
        try:
            geometry, repairs = repair_polygonal(geometry)
        except GeometryError as exc:
            errors.append(f"{label}：{exc.message}")
            continue
        extra = {key: _text(values[column]) if column else None for key, column in optional.items()}
        features.append(BoundaryFeature(code=code, name=name, geometry=geometry, repairs=repairs,
                                        level=extra["level"] or infer_level(name, level),
                                        parent_code=extra["parent_code"], parent_name=extra["parent_name"]))
    features, notes = _merge_duplicates(features, errors)
    if errors:
        shown = "；".join(errors[:5]) + ("……" if len(errors) > 5 else "")
        raise GeometryError(f"边界文件有 {len(errors)} 处错误，未导入：{shown}", details={"errors": errors})
    return BoundaryLayer(features=features, source_crs=source_crs, encoding=used_encoding,
                         code_field=code_column, name_field=name_column, notes=notes)


def infer_level(name: str, level: str) -> str | None:
    """A town's kind from its name (街道/镇/乡), for layers that carry no level field."""
    if level != "town":
        return None
    for suffix, kind in (("街道", "subdistrict"), ("镇", "town"), ("乡", "township")):
        if name.endswith(suffix):
            return kind
    return None


def repair_polygonal(geometry) -> tuple[MultiPolygon, tuple[str, ...]]:
    """Return ``geometry`` (EPSG:4326) as a valid 2D MultiPolygon and what had to be repaired.

    Invalid rings (bow-ties, self-touching rings, spikes) are fixed with GEOS ``make_valid``
    (``structure`` method: keeps the area the rings enclose); non-areal leftovers are dropped.
    """
    if geometry is None or geometry.is_empty:
        raise GeometryError("没有几何")
    if shapely.get_dimensions(geometry) != 2:
        raise GeometryError(f"几何类型是 {geometry.geom_type}，边界必须是面")
    geometry = shapely.force_2d(geometry)
    repairs: tuple[str, ...] = ()
    if not geometry.is_valid:
        repairs = (f"已修复无效几何：{shapely.is_valid_reason(geometry)}",)
        geometry = shapely.make_valid(geometry, method="structure", keep_collapsed=False)
    polygons = [part for part in shapely.get_parts(geometry) if isinstance(part, Polygon) and not part.is_empty]
    if not polygons:
        raise GeometryError("修复后几何为空")
    return MultiPolygon(polygons), repairs


def read_outline(path: str | Path, *, crs: str | None = None, encoding: str | None = None) -> MultiPolygon:
    """Every polygon of a boundary file dissolved into one valid MultiPolygon in EPSG:4326 — the
    outline of an area without a statutory code (a zone such as a 度假区). ``crs`` and
    ``encoding`` as for ``read_boundaries``."""
    frame, _encoding = _read_frame(Path(path), encoding)
    geometries = [g for g in _geometries_in_wgs84(frame, crs)[0] if g is not None and not g.is_empty]
    if not geometries:
        raise GeometryError(f"边界文件没有要素：{Path(path).name}")
    _check_extent(geometries)
    outline, _repairs = repair_polygonal(shapely.union_all([repair_polygonal(g)[0] for g in geometries]))
    return outline


def _read_frame(path: Path, encoding: str | None) -> tuple[gpd.GeoDataFrame, str | None]:
    if not path.exists():
        raise GeometryError(f"找不到边界文件：{path}")
    try:
        info = pyogrio.read_info(path)
        if encoding:
            return pyogrio.read_dataframe(path, encoding=encoding), encoding
        if info["driver"] != "ESRI Shapefile":
            return pyogrio.read_dataframe(path), info.get("encoding")
        codepage = _codepage(path)
        if codepage:  # GDAL honours the .cpg itself
            return pyogrio.read_dataframe(path), codepage
        # No .cpg: GDAL would guess ISO-8859-1 and garble Chinese. Bureau files are UTF-8 or GBK.
        try:
            return pyogrio.read_dataframe(path, encoding="UTF-8"), "UTF-8"
        except UnicodeDecodeError:
            log.info("%s is not UTF-8; reading its attributes as GB18030 (GBK)", path.name)
            return pyogrio.read_dataframe(path, encoding="GB18030"), "GB18030"
    except UnicodeDecodeError as exc:
        tried = encoding or "UTF-8/GBK"
        raise GeometryError(f"属性表不是 {tried} 编码：{path.name}（可用 --encoding 指定）") from exc
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, LookupError) as exc:
        raise GeometryError(f"无法读取边界文件 {path.name}：{exc}") from exc


def _codepage(path: Path) -> str | None:
    """The encoding a Shapefile's .cpg names, if it has one."""
    for candidate in (path.with_suffix(".cpg"), path.with_suffix(".CPG")):
        if candidate.is_file():
            return candidate.read_text(encoding="ascii", errors="replace").strip() or None
    return None


def _geometries_in_wgs84(frame: gpd.GeoDataFrame, crs: str | None) -> tuple[list, str]:
    """The frame's geometries in EPSG:4326 and a description of the CRS they came from."""
    if crs:
        china_code = crs_code(crs)
        if china_code is not None:  # WGS84/CGCS2000 as-is, GCJ-02/BD-09 through the offsets' inverse
            return [None if g is None else to_wgs84(g, china_code) for g in frame.geometry], china_code
        try:
            source = CRS.from_user_input(crs)
        except CRSError as exc:
            raise GeometryError(f"无法识别的坐标系：{crs}（可用 WGS84、CGCS2000、GCJ02、BD09 或 EPSG 代码）") from exc
        frame = frame.set_crs(source, allow_override=True)
    elif frame.crs is None:
        raise GeometryError("边界文件没有坐标系信息（缺少 .prj？），请用 --crs 指定，例如 --crs EPSG:4549")
    source_crs = frame.crs.to_string()
    return list(frame.to_crs(4326).geometry), source_crs


def _check_extent(geometries: list) -> None:
    present = [g for g in geometries if g is not None and not g.is_empty]
    if not present:
        return
    west, south, east, north = shapely.total_bounds(present)
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise GeometryError("坐标无法换算为经纬度：请检查 .prj 或用 --crs 指定坐标系")
    min_lng, min_lat, max_lng, max_lat = CHINA_BOUNDS
    if west < min_lng or east > max_lng or south < min_lat or north > max_lat:
        swapped = min_lat <= west and east <= max_lat and min_lng <= south and north <= max_lng
        hint = "经纬度可能颠倒" if swapped else "坐标系可能有误，请检查 .prj 或用 --crs 指定"
        raise GeometryError(f"边界不在中国范围内（经度 {west:.4f}～{east:.4f}，纬度 {south:.4f}～{north:.4f}）：{hint}")


def _pick_field(columns: list[str], requested: str | None, candidates: tuple[str, ...], what: str,
                *, required: bool = True) -> str | None:
    by_lower = {c.lower(): c for c in columns}
    if requested:
        if requested.lower() not in by_lower:
            raise GeometryError(f"边界文件没有字段 {requested}（现有字段：{'、'.join(columns)}）")
        return by_lower[requested.lower()]
    for candidate in candidates:
        if candidate in by_lower:
            return by_lower[candidate]
    if required:
        raise GeometryError(f"找不到{what}字段（试过 {'、'.join(candidates)}；现有字段：{'、'.join(columns)}），"
                           f"请用 --{'code' if what == '代码' else 'name'}-field 指定")
    return None


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _merge_duplicates(features: list[BoundaryFeature], errors: list[str]) -> tuple[list[BoundaryFeature], list[str]]:
    """Join parts that share a code (land-survey layers split enclaves, 飞地, into features)."""
    groups: dict[str, list[BoundaryFeature]] = {}
    for feature in features:
        groups.setdefault(feature.code, []).append(feature)
    merged, notes = [], []
    for code, parts in groups.items():
        names = sorted({p.name for p in parts})
        if len(names) > 1:
            errors.append(f"代码 {code} 对应多个名称：{'、'.join(names)}")
            continue
        if len(parts) == 1:
            merged.append(parts[0])
            continue
        union, repairs = repair_polygonal(shapely.union_all([p.geometry for p in parts]))
        notes.append(f"{code} {names[0]}：合并了 {len(parts)} 个要素")
        merged.append(BoundaryFeature(code=code, name=names[0], geometry=union, level=parts[0].level,
                                      parent_code=parts[0].parent_code, parent_name=parts[0].parent_name,
                                      repairs=tuple(r for p in parts for r in p.repairs) + repairs))
    return merged, notes
