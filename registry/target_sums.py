"""What targets add up to, summed by PostgreSQL (``registry/sql/target_sums.sql``): the rules
of ``registry.target_measures`` without reading every project into Python, one statement for
every jurisdiction of a kind that shares a measure (DESIGN §9
"Performance": targets at a province's million projects). ``registry.target_report`` uses this for
reports and keeps the per-project path (``from_candidates``) for the page that lists every
counted project; the tests hold both to the same figures.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.orm import Session

from registry import sqlfiles
from registry import target_measures as tm
from registry.scope import Scope

PROBLEMS = ("undated", "unit_mismatch", "unmeasured")


@dataclass
class Sums:
    """A target's raw figures: totals per window key, the current window's per-town split and
    the projects that could not be counted (``{"id", "code", "name"[, "unit"]}``, by id)."""
    totals: dict[int, float] = field(default_factory=dict)
    by_town: dict[str, float] = field(default_factory=dict)
    undated: list[dict] = field(default_factory=list)
    unit_mismatch: list[dict] = field(default_factory=list)
    unmeasured: list[dict] = field(default_factory=list)


def window_key(window: tm.Window, per_year: bool) -> int:
    """The key of a window in ``Sums.totals``: its year for per-year targets, else 0."""
    return window.year if per_year else 0


# How the statement picks each jurisdiction's projects, by its kind (``:codes``: the jurisdictions,
# all of that kind), and the code ({jc}) it files each project under: a district's by code, a
# zone's by boundary, a city's or province's as those of its districts (one aggregate over all of
# them, never a loop in Python).
AREAS = {
    "district": ("JOIN districts d ON d.code = ANY (CAST(:codes AS text[])) AND p.district_code = d.code", "d.code"),
    "zone": ("JOIN target_jurisdictions j ON j.code = ANY (CAST(:codes AS text[])) AND j.geom IS NOT NULL "
             "AND ST_Intersects(p.geom, j.geom)", "j.code"),
    "city": ("JOIN districts d ON d.city_code = ANY (CAST(:codes AS text[])) AND p.district_code = d.code",
             "d.city_code"),
    "province": ("JOIN districts d ON d.province_code = ANY (CAST(:codes AS text[])) AND p.district_code = d.code",
                 "d.province_code"),
}


@lru_cache(maxsize=len(AREAS))
def _sql(kind: str):
    area, code = AREAS[kind]
    return text(sqlfiles.source("target_sums").replace("{area}", area).replace("{jc}", code))


def stored_units(session: Session) -> list[str]:
    """Every unit a live project uses (few), to decide unit agreement in Python once per report."""
    return list(session.scalars(text("SELECT DISTINCT unit FROM projects "
                                     "WHERE deleted_at IS NULL AND unit IS NOT NULL")))


def sums_of(session: Session, *, codes: list[str], kind: str, metric: str, unit: str | None, filter_: dict,
            spans: list[tm.Window], per_year: bool, scope: Scope, units: list[str]) -> dict[str, Sums]:
    """One measure (metric, unit, filter, windows) over every jurisdiction of ``codes`` (all of
    ``kind``) in one statement: code → its ``Sums``, as ``sums`` would give each alone."""
    stages = tm.stages_of(metric, filter_)
    wanted = tm.unit_alternatives(unit)
    params = {
        "codes": list(codes), "metric": metric, "stages": list(stages),
        "domains": filter_.get("domain") or None, "categories": filter_.get("category") or None,
        "min_total": filter_.get("min_total_investment"),
        "by_end": set(stages) == set(tm.DELIVERED),
        "lo": spans[0].start if spans else dt.date.max, "hi": spans[-1].end if spans else dt.date.min,
        "per_year": per_year, "current": window_key(spans[-1], per_year) if spans else -1,
        "units_ok": [u for u in units if tm.unit_agrees(unit, u)] if wanted else None,
        "km_units": sorted(tm.KM_UNITS), **scope.sql_params()}
    found = {code: Sums() for code in codes}
    for row in session.execute(_sql(kind), params):
        out = found[row.jc]
        if row.kind == "total":
            out.totals[row.w] = row.amount or 0.0
        elif row.kind == "town":
            out.by_town[row.town] = row.amount or 0.0
        else:
            listed = {"id": row.id, "code": row.code, "name": row.name}
            if row.kind != "undated":
                listed["unit"] = row.unit
            getattr(out, row.kind).append(listed)
    for out in found.values():
        for kind in PROBLEMS:
            getattr(out, kind).sort(key=lambda p: p["id"])
    return found
