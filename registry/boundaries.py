"""Load district outlines and versioned town boundaries, then re-match projects (DESIGN §3).

A town load replaces the current boundaries of its district: the old versions stay in ``towns``
with ``valid_to`` set (区划调整 history), the new ones get the next version number.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry import sqlfiles
from geo import boundaries as geo_boundaries
from geo.boundaries import BoundaryFeature, BoundaryLayer, read_boundaries
from registry.matching import match_projects
from registry import audit, town_changes
from geo.admin_codes import LEVEL_DIGITS, is_level_code, level_code
from registry.errors import InvalidInput, geometry_input

log = logging.getLogger(__name__)

# Slivers below this (100 m²) come from digitising precision, not from real gaps or overlaps.
MIN_REPORTED_AREA_KM2 = 1e-4


@dataclass
class LoadedBoundary:
    """One stored district or town version; ``area_km2`` is geodesic."""
    code: str
    name: str
    district_code: str
    version: int
    area_km2: float
    repairs: list[str] = field(default_factory=list)

    @property
    def repaired(self) -> bool:
        return bool(self.repairs)


@dataclass
class BoundaryReport:
    """What a load stored and what it found: repairs, overlaps between towns, gaps."""
    level: str
    source: str
    source_crs: str
    encoding: str | None
    code_field: str
    name_field: str
    loaded: list[LoadedBoundary] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)  # towns of the old version missing from the new
    overlaps: list[dict] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rematched_projects: int = 0
    moved: list[dict] = field(default_factory=list)  # projects whose towns changed (registry.town_changes)

    def to_dict(self) -> dict:
        return asdict(self)


def read_outline(path: str | Path, *, crs: str | None = None, encoding: str | None = None):
    """Every polygon of a boundary file as one MultiPolygon in EPSG:4326 (a zone's outline); see
    ``geo.boundaries.read_outline``. Bad files raise ``InvalidInput``."""
    with geometry_input():
        return geo_boundaries.read_outline(path, crs=crs, encoding=encoding)


def load_boundaries(session: Session, path: str | Path, *, level: str = "town", code_field: str | None = None,
                    name_field: str | None = None, parent: str | None = None, crs: str | None = None,
                    encoding: str | None = None, actor: str = "cli", city: str | None = None,
                    province: str | None = None) -> BoundaryReport:
    """Load a boundary file (see ``geo.boundaries.read_boundaries``) and commit it.

    Towns: creates the district if missing, retires its current towns, inserts the new versions,
    refreshes the district outline (unless one was loaded), re-matches the district's projects.
    Districts: upserts the outlines (``geom_source = 'outline'``). Either way the report lists
    repairs, overlaps and gaps; any error leaves the database untouched. ``city`` and ``province``
    (4 and 2 digits) override the levels a district (or zone) takes from its code or parent.
    """
    levels = _levels(city=city, province=province)
    with geometry_input():
        layer = read_boundaries(path, level=level, code_field=code_field, name_field=name_field,
                                parent=parent, crs=crs, encoding=encoding)
    report = BoundaryReport(level=level, source=Path(path).name, source_crs=layer.source_crs,
                            encoding=layer.encoding, code_field=layer.code_field,
                            name_field=layer.name_field, notes=list(layer.notes))
    try:
        if level == "town":
            for district_code, features in _by_district(layer).items():
                _load_towns(session, report, district_code, features, layer, actor)
        else:
            _load_districts(session, report, layer, parent, actor)
        if levels:
            session.execute(text("UPDATE districts SET city_code = coalesce(:city, city_code), "
                                 "province_code = coalesce(:province, province_code) WHERE code = ANY (:codes)"),
                            {**levels, "codes": sorted({b.district_code for b in report.loaded})})
        session.commit()
    except Exception:
        session.rollback()
        raise
    log.info("loaded %d %s boundaries from %s", len(report.loaded), level, report.source)
    return report


def _levels(*, city: str | None, province: str | None) -> dict:
    """``{"city", "province"}`` checked (None each when not given), or {} when neither is."""
    levels = {"city": city and level_code(city, "city"), "province": province and level_code(province, "province")}
    for level, code in levels.items():
        if code is not None and not is_level_code(code, level):
            raise InvalidInput(f"{'市' if level == 'city' else '省'}代码应为 {LEVEL_DIGITS[level]} 位数字：{code!r}")
    return levels if any(levels.values()) else {}


def _by_district(layer: BoundaryLayer) -> dict[str, list[BoundaryFeature]]:
    groups: dict[str, list[BoundaryFeature]] = {}
    for feature in layer.features:
        groups.setdefault(feature.code[:6], []).append(feature)
    return groups


def _load_towns(session: Session, report: BoundaryReport, district_code: str,
                features: list[BoundaryFeature], layer: BoundaryLayer, actor: str) -> None:
    district_name = next((f.parent_name for f in features if f.parent_name), None) or district_code
    # a district first created under its code gets its real name once a file carries one
    session.execute(text("""
        INSERT INTO districts (code, name, parent_code) VALUES (:code, :name, :parent)
        ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name
        WHERE districts.name = districts.code AND EXCLUDED.name <> EXCLUDED.code"""),
        {"code": district_code, "name": district_name, "parent": district_code[:4] + "00"})
    before = _current_towns(session, district_code)
    shares_before = town_changes.snapshot(session, district_code)
    session.execute(text("UPDATE towns SET valid_to = now() WHERE district_code = :d AND valid_to IS NULL"),
                    {"d": district_code})
    session.execute(sqlfiles.load("insert_town_version"), [
        {"district_code": district_code, "code": f.code, "name": f.name, "level": f.level,
         "wkb": shapely.to_wkb(f.geometry), "source": report.source} for f in features])
    session.execute(sqlfiles.load("district_from_towns"), {"district_code": district_code})
    rematched = match_projects(session, district_code=district_code)

    after = _current_towns(session, district_code)
    report.moved += town_changes.record(
        session, shares_before, town_changes.snapshot(session, district_code), district_code=district_code,
        boundary_version=max(t["version"] for t in after), source=report.source, actor=actor)
    repairs = {f.code: list(f.repairs) for f in features}
    report.loaded += [LoadedBoundary(code=t["code"], name=t["name"], district_code=district_code,
                                     version=t["version"], area_km2=t["area_km2"], repairs=repairs[t["code"]])
                      for t in after]
    new_codes = {t["code"] for t in after}
    report.removed += [{"code": t["code"], "name": t["name"], "district_code": district_code}
                       for t in before if t["code"] not in new_codes]
    overlaps = _rows(session, "town_overlaps", district_code)
    gaps = _rows(session, "town_gaps", district_code)
    report.overlaps += overlaps
    report.gaps += gaps
    report.rematched_projects += rematched
    audit.record(session, actor=actor, action="boundaries.load", entity="towns", entity_id=district_code,
                 district_code=district_code, before={"towns": _brief(before)}, after={"towns": _brief(after)},
                 details={"file": report.source, "crs": report.source_crs, "repairs": {c: r for c, r in repairs.items() if r},
                          "overlaps": len(overlaps), "gaps": len(gaps)})


def _load_districts(session: Session, report: BoundaryReport, layer: BoundaryLayer,
                    parent: str | None, actor: str) -> None:
    for feature in layer.features:
        before = session.execute(text("SELECT name, parent_code, geom_source, area_km2 FROM districts "
                                      "WHERE code = :code"), {"code": feature.code}).mappings().first()
        parent_code = feature.parent_code or parent or feature.code[:4] + "00"
        session.execute(sqlfiles.load("upsert_district_outline"), {
            "code": feature.code, "name": feature.name, "parent_code": parent_code[:6],
            "wkb": shapely.to_wkb(feature.geometry)})
        area = session.execute(text("SELECT area_km2 FROM districts WHERE code = :code"),
                               {"code": feature.code}).scalar_one()
        report.loaded.append(LoadedBoundary(code=feature.code, name=feature.name, district_code=feature.code,
                                            version=1, area_km2=area, repairs=list(feature.repairs)))
        # towns already loaded, measured against the new outline
        gaps = _rows(session, "town_gaps", feature.code) if _current_towns(session, feature.code) else []
        report.gaps += gaps
        audit.record(session, actor=actor, action="boundaries.load", entity="district", entity_id=feature.code,
                     district_code=feature.code, before=dict(before) if before else None,
                     after={"name": feature.name, "parent_code": parent_code, "geom_source": "outline",
                            "area_km2": area},
                     details={"file": report.source, "crs": report.source_crs,
                              "repairs": list(feature.repairs), "gaps": len(gaps)})


def _current_towns(session: Session, district_code: str) -> list[dict]:
    rows = session.execute(text("""SELECT code, name, version, area_km2 FROM towns
                                   WHERE district_code = :d AND valid_to IS NULL ORDER BY code"""),
                           {"d": district_code}).mappings()
    return [dict(r) for r in rows]


def _rows(session: Session, sql_name: str, district_code: str) -> list[dict]:
    rows = session.execute(sqlfiles.load(sql_name),
                           {"district_code": district_code, "min_area_km2": MIN_REPORTED_AREA_KM2}).mappings()
    return [{"district_code": district_code, **r} for r in rows]


def _brief(towns: list[dict]) -> list[dict]:
    return [{"code": t["code"], "name": t["name"], "version": t["version"]} for t in towns]
