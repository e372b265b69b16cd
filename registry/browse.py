"""Reading projects: the scoped, filtered, sorted, paginated list and one project's record.

Used by the JSON API and the pages; writes live elsewhere. Money is in 万元, geometry EPSG:4326.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from functools import partial

from sqlalchemy import Numeric, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, aliased

from registry import cache, fields
from registry.errors import InvalidInput, NotFound
from registry.filters import ProjectFilters
from registry.models import District, Project, ProjectTown, Town
from registry.scope import Scope, project_clause, town_clause
from registry.vocab import DOMAINS, STAGES, label

SORTABLE = {
    "id": Project.id, "code": Project.code, "name": Project.name, "domain": Project.domain_code,
    "stage": Project.stage, "town": Project.primary_town_code,
    "total_investment": Project.total_investment,
    "completed_investment": Project.completed_investment,
    "equipment_investment": Project.equipment_investment,
    "planned_start": Project.planned_start, "planned_end": Project.planned_end,
    "updated_at": Project.updated_at,
}
DEFAULT_SORT = "-updated_at"
MAX_PER_PAGE = 200
MAX_PAGE = 10_000_000  # the offset stays far below bigint
DEFAULT_PER_PAGE = 50

# The API's project record: the list's fields, and the detail's (registry.fields).
LIST_FIELDS = fields.LIST_FIELDS
DETAIL_FIELDS = fields.DETAIL_FIELDS


def parse_sort(value: str | None) -> tuple[str, bool]:
    """``field`` or ``-field`` (descending) among ``SORTABLE``; bad values raise InvalidInput."""
    value = (value or DEFAULT_SORT).strip()
    field, descending = (value[1:], True) if value.startswith("-") else (value, False)
    if field not in SORTABLE:
        raise InvalidInput(f"无法按“{field}”排序（可选：{'、'.join(SORTABLE)}）",
                           {"parameter": "sort", "value": value, "allowed": list(SORTABLE)})
    return field, descending


def parse_paging(args) -> tuple[int, int]:
    """``page`` (from 1) and ``per_page`` (1–200) from a mapping of strings."""
    out = []
    for name, default, upper in (("page", 1, MAX_PAGE), ("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)):
        raw = args.get(name) or str(default)
        try:
            number = int(raw)
        except (TypeError, ValueError):
            number = 0
        if number < 1 or (upper and number > upper):
            limit = f"1–{upper} 之间的整数"
            raise InvalidInput(f"参数 {name} 应为{limit}：{raw}", {"parameter": name, "value": raw})
        out.append(number)
    return out[0], out[1]


def list_projects(session: Session, scope: Scope, *, filters: ProjectFilters | None = None,
                  sort: str | None = None, page: int = 1, per_page: int = DEFAULT_PER_PAGE) -> dict:
    """One page of the visible projects: ``items, total, page, per_page, pages, sort``."""
    field, descending = parse_sort(sort)
    filters = filters or ProjectFilters()
    where = [project_clause(scope), *filters.clauses()]
    column = SORTABLE[field]
    order = [column.desc().nulls_last() if descending else column.asc().nulls_last(), Project.id]
    # Only the listed columns (never the geometry). The default sort walks an index (migration
    # 0005); the total, which needs every visible row, is counted once per change stamp.
    columns = [getattr(Project, name) for name in LIST_FIELDS]
    rows = session.execute(_with_town_name(select(*columns)).where(*where).order_by(*order)
                           .limit(per_page).offset((page - 1) * per_page)).mappings().all()
    total = cache.cached(session, ("project_count", cache.scope_key(scope), filters),
                         lambda: session.scalar(select(func.count()).select_from(Project).where(*where)))
    return {"items": [project_dict(row, row["town_name"], LIST_FIELDS) for row in rows],
            "total": total, "page": page, "per_page": per_page,
            "pages": (total + per_page - 1) // per_page,
            "sort": ("-" if descending else "") + field}


def get_project(session: Session, scope: Scope, project_id: int) -> dict:
    """A visible project with its geometry (GeoJSON) and town shares; NotFound otherwise.

    Out-of-scope projects are reported as missing so their existence does not leak.
    """
    columns = [getattr(Project, name) for name in DETAIL_FIELDS]
    row = session.execute(_with_town_name(select(*columns, func.ST_AsGeoJSON(Project.geom, 7).label("geometry"),
                                                 _shares_json().label("shares")))
                          .where(Project.id == project_id, Project.deleted_at.is_(None),
                                 project_clause(scope))).mappings().first()
    if row is None:
        raise NotFound(f"项目 {project_id} 不存在或无权查看", {"id": project_id})
    record = project_dict(row, row["town_name"], DETAIL_FIELDS)
    record["geometry"] = json.loads(row["geometry"])
    total, completed = float(row["total_investment"]), float(row["completed_investment"] or 0)
    record["towns"] = [{**share, "total_investment": round(total * share["share"], 2),
                        "completed_investment": round(completed * share["share"], 2)}
                       for share in row["shares"]]
    return record


def _shares_json():
    """Correlated subquery: the project's towns, largest share first (money is added in Python)."""
    town = aliased(Town)  # the outer query joins Town for the primary town's name
    item = func.json_build_object(literal_column("'code'"), ProjectTown.town_code,
                                  literal_column("'name'"), town.name,
                                  literal_column("'share'"), func.round(cast(ProjectTown.share, Numeric), 6),
                                  literal_column("'length_km'"), ProjectTown.length_km,
                                  literal_column("'area_km2'"), ProjectTown.area_km2)
    ordered = aggregate_order_by(item, ProjectTown.share.desc(), ProjectTown.town_code)
    return (select(func.coalesce(func.json_agg(ordered), literal_column("'[]'::json")))
            .select_from(ProjectTown).join(town, town.id == ProjectTown.town_id)
            .where(ProjectTown.project_id == Project.id).scalar_subquery())


def project_dict(project, town_name: str | None, fields: tuple[str, ...]) -> dict:
    """JSON-ready fields of a project (a ``Project`` or a row mapping), with Chinese labels."""
    get = project.__getitem__ if hasattr(project, "keys") else partial(getattr, project)
    out = {name: _plain(get(name)) for name in fields}
    out["domain_label"] = label(DOMAINS, out["domain_code"])
    out["stage_label"] = label(STAGES, out["stage"])
    out["town_name"] = town_name
    return out


def _with_town_name(statement):
    """Add the primary town's current name (NULL when unmatched)."""
    return (statement.add_columns(Town.name.label("town_name"))
            .outerjoin(Town, (Town.code == Project.primary_town_code) & Town.valid_to.is_(None)))


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def project_heading(session: Session, scope: Scope, project_id: int) -> dict:
    """``{"id", "name", "deleted_at"}`` of a visible project, deleted ones included (its history
    page); NotFound otherwise."""
    row = session.execute(select(Project.id, Project.name, Project.deleted_at)
                          .where(Project.id == project_id, project_clause(scope))).mappings().first()
    if row is None:
        raise NotFound(f"项目 {project_id} 不存在或无权查看", {"id": project_id})
    return dict(row)


def town_groups(session: Session, scope: Scope) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The towns of ``visible_towns`` by district, for town menus on pages of several districts
    (``<optgroup label="薛城区">``): ``(district code, district name, [(code, name), …])`` in code
    order."""
    groups: dict[str, tuple[str, str, list[tuple[str, str]]]] = {}
    for code, name, district, district_name in session.execute(
            select(Town.code, Town.name, Town.district_code, District.name)
            .join(District, District.code == Town.district_code)
            .where(Town.valid_to.is_(None), town_clause(scope)).order_by(Town.district_code, Town.code)):
        groups.setdefault(district, (district, district_name, []))[2].append((code, name))
    return list(groups.values())


def visible_towns(session: Session, scope: Scope) -> list[tuple[str, str]]:
    """``(code, name)`` of the current towns the scope may see, by code (for filter menus)."""
    return [tuple(r) for r in session.execute(select(Town.code, Town.name)
                                              .where(Town.valid_to.is_(None), town_clause(scope))
                                              .order_by(Town.code))]
