"""Roll-up figures for city and province viewers (issue 14): per district, per city and for the
whole jurisdiction, summed up the levels in SQL (``sql/rollup_figures.sql``, one statement).

A jurisdiction is a ``level`` (``province``: 2 digits, ``city``: 4 digits) and its ``code``. The
figures are those of the districts of that jurisdiction the scope may see: a city viewer sees its
city's districts, a bureau of district A only A; admin (and bureau/planner without districts) all.
Town officials see figures of their towns only, never a district's whole: the roll-up refuses them
(``Forbidden``). A jurisdiction of which the scope sees no district is ``NotFound``, like another
town's page. Money is in 万元, each project's whole investment counted in its own district.
"""
from __future__ import annotations

import dataclasses
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.admin_codes import LEVEL_DIGITS, is_level_code
from registry import cache, sqlfiles
from registry.errors import Forbidden, InvalidInput, NotFound
from registry.filters import ProjectFilters
from registry.level_districts import districts_of
from registry.models import District
from registry.scope import Scope

LEVELS = ("province", "city")  # rolled up above districts; digits: geo.admin_codes.LEVEL_DIGITS
LEVEL_LABELS = {"province": "省", "city": "市", "district": "区县"}
# Outlines drawn at province zoom (a pixel ≈ 0.01°) and city zoom: ~500 m and ~150 m are invisible,
# and 136 districts stay well under a megabyte of page.
TOLERANCE = {"province": 0.005, "city": 0.0015}
FIGURES = ("project_count", "total_investment", "completed_investment", "completion_rate", "density",
           "area_km2")
# Names of the jurisdictions above districts (the registry stores districts only); others are
# shown by code.
NAMES = {"37": "山东省", "3701": "济南市", "3702": "青岛市", "3703": "淄博市", "3704": "枣庄市",
         "3705": "东营市", "3706": "烟台市", "3707": "潍坊市", "3708": "济宁市", "3709": "泰安市",
         "3710": "威海市", "3711": "日照市", "3713": "临沂市", "3714": "德州市", "3715": "聊城市",
         "3716": "滨州市", "3717": "菏泽市"}


@dataclasses.dataclass(frozen=True)
class Jurisdiction:
    level: str  # "province" | "city" | "district"
    code: str

    @property
    def name(self) -> str:
        return jurisdiction_name(self.level, self.code)


def jurisdiction_name(level: str, code: str) -> str:
    """``枣庄市``; a code without a known name as ``市 3704``."""
    return NAMES.get(code) or f"{LEVEL_LABELS.get(level, level)} {code}"


def place_title(session: Session, jurisdiction: Jurisdiction) -> str:
    """How a file of one level's data is named: ``山东省-37``, ``枣庄市-3704``, ``薛城区-370403``
    (a district by its stored name; an unknown one by code alone)."""
    if jurisdiction.level == "district":
        name = session.scalar(select(District.name).where(District.code == jurisdiction.code))
        return f"{name}-{jurisdiction.code}" if name else jurisdiction.code
    name = NAMES.get(jurisdiction.code)
    return f"{name}-{jurisdiction.code}" if name else f"{LEVEL_LABELS[jurisdiction.level]}-{jurisdiction.code}"


def parse_jurisdiction(level: str | None, code: str | None) -> Jurisdiction:
    """``level`` (province, city) and ``code`` checked; bad ones raise ``InvalidInput``."""
    if level not in LEVELS:
        shown = f"无法识别的汇总层级：{level}" if level else "缺少汇总层级 level"
        raise InvalidInput(f"{shown}（可选：province、city）",
                           {"parameter": "level", "value": level, "allowed": list(LEVELS)})
    if not code or not is_level_code(code, level):
        raise InvalidInput(f"{LEVEL_LABELS[level]}代码应为 {LEVEL_DIGITS[level]} 位数字：{code or '（空）'}",
                           {"parameter": "code", "value": code})
    return Jurisdiction(level, code)


def require_districts_scope(scope: Scope) -> None:
    """Town officials see their towns' share only, never a district's or city's whole."""
    if scope.limited:
        raise Forbidden("镇街账号只能查看本镇街的数据，不能查看区县、市、省的汇总",
                        {"role": str(scope.role)})


def landing(session: Session, scope: Scope) -> Jurisdiction | None:
    """The jurisdiction a roll-up starts at for ``scope``: its one city when all the districts it
    sees are in one city, else the (lowest coded) province; None when it sees no district."""
    require_districts_scope(scope)
    query = select(func.count(func.distinct(District.city_code)), func.min(District.city_code),
                   func.min(District.province_code)).where(District.province_code.is_not(None))
    if scope.district_codes is not None:
        query = query.where(District.code.in_(scope.district_codes))
    cities, city, province = session.execute(query).one()
    if not cities:
        return None
    return Jurisdiction("city", city) if cities == 1 else Jurisdiction("province", province)


def provinces(session: Session, scope: Scope) -> list[Jurisdiction]:
    """The provinces of which the scope sees any district, by code (the page's other provinces)."""
    query = select(District.province_code).where(District.province_code.is_not(None)).distinct()
    if scope.district_codes is not None:
        query = query.where(District.code.in_(scope.district_codes))
    return [Jurisdiction("province", code) for code in session.scalars(query.order_by(District.province_code))]


def rollup(session: Session, scope: Scope, jurisdiction: Jurisdiction,
           filters: ProjectFilters | None = None, *, with_geometry: bool = False) -> dict:
    """The figures of ``jurisdiction`` as the scope sees them.

    Returns ``{"level", "code", "name", "province_code", "totals", "cities", "districts"}``: every
    row (the totals too) has ``code, name, district_count, project_count, total_investment,
    completed_investment, completion_rate`` (None without investment), ``area_km2`` and ``density``
    (万元/km²); districts add ``city_code`` and with ``with_geometry`` a simplified ``geometry``
    (GeoJSON text, EPSG:4326); cities are listed on a province's roll-up only. ``filters`` are the
    project list's (domain, stage, year, …). Cached per change stamp (``registry.cache``).
    """
    require_districts_scope(scope)
    filters = filters or ProjectFilters()
    return cache.cached(session, ("rollup", cache.scope_key(scope), jurisdiction, filters, with_geometry),
                        lambda: _rollup(session, scope, jurisdiction, filters, with_geometry))


def _rollup(session: Session, scope: Scope, jurisdiction: Jurisdiction, filters: ProjectFilters,
            with_geometry: bool) -> dict:
    # the scope's districts limit the ``district`` rows, and the projects to those districts
    statement = sqlfiles.with_condition("rollup_figures", filters.clauses())
    params = {"level": jurisdiction.level, "code": jurisdiction.code,
              "scope_districts": scope.sql_params()["scope_districts"], "with_geometry": with_geometry,
              "tolerance": TOLERANCE[jurisdiction.level]}
    out = {"level": jurisdiction.level, "code": jurisdiction.code, "name": jurisdiction.name,
           "province_code": jurisdiction.code[:2], "totals": None, "cities": [], "districts": []}
    for row in session.execute(statement, params).mappings():
        figures = {"district_count": row["district_count"], "project_count": row["project_count"],
                   "total_investment": _round(row["total_investment"], 2),
                   "completed_investment": _round(row["completed_investment"], 2),
                   "completion_rate": _round(row["completion_rate"], 4),
                   "area_km2": _round(row["area_km2"], 3), "density": _round(row["density"], 2)}
        if row["kind"] == "province":
            out["totals"] = {"code": jurisdiction.code, "name": jurisdiction.name, **figures}
        elif row["kind"] == "city":
            if jurisdiction.level == "province":
                out["cities"].append({"code": row["city_code"],
                                      "name": jurisdiction_name("city", row["city_code"]), **figures})
        else:
            district = {"code": row["code"], "name": row["name"], "city_code": row["city_code"], **figures}
            del district["district_count"]
            if with_geometry:
                district["geometry"] = row["geometry"]
            out["districts"].append(district)
    if out["totals"] is None:  # no district of it is visible: as if it did not exist
        raise NotFound(f"未找到{LEVEL_LABELS[jurisdiction.level]}：{jurisdiction.code}（或无权查看）",
                       {"level": jurisdiction.level, "code": jurisdiction.code})
    return out


def districts_present(session: Session, jurisdiction: Jurisdiction) -> int:
    """How many districts of ``jurisdiction`` the registry holds, seen or not: a roll-up that
    counts fewer (a city viewer on its province's page) says it is partial."""
    return len(districts_of(session, (jurisdiction.level,), code=jurisdiction.code).get(jurisdiction.code, ()))


def narrowed_scope(session: Session, scope: Scope, jurisdiction: Jurisdiction | None) -> Scope:
    """``scope`` limited to the districts of ``jurisdiction`` (a province, city or district) it may
    see, for exports per level; ``NotFound`` when it sees none, ``Forbidden`` for town officials.
    RLS still applies the account's own scope underneath."""
    if jurisdiction is None:
        return scope
    require_districts_scope(scope)
    codes = frozenset(districts_of(session, (jurisdiction.level,), code=jurisdiction.code,
                                   within=scope.district_codes).get(jurisdiction.code, ()))
    if not codes:
        raise NotFound(f"未找到{LEVEL_LABELS[jurisdiction.level]}：{jurisdiction.code}（或无权查看）",
                       {"level": jurisdiction.level, "code": jurisdiction.code})
    return dataclasses.replace(scope, district_codes=codes)


def export_jurisdiction(args) -> Jurisdiction | None:
    """The level an export is limited to: ``province=37``, ``city=3704`` or ``district=370403`` in
    ``args`` (at most one); None when none is given."""
    given = [(level, args.get(level)) for level in ("province", "city", "district") if args.get(level)]
    if not given:
        return None
    if len(given) > 1:
        raise InvalidInput("导出范围只能指定省、市、区县中的一个", {"parameter": [level for level, _ in given]})
    level, code = given[0]
    if level == "district":
        if not re.fullmatch(r"[0-9A-Za-z]{1,6}", code):
            raise InvalidInput(f"区县代码应为 6 位数字：{code}", {"parameter": "district", "value": code})
        return Jurisdiction("district", code)
    return parse_jurisdiction(level, code)


def _round(value, digits: int):
    return None if value is None else round(float(value), digits)
