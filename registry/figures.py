"""Figures for dashboards, maps and the API (DESIGN §3 "Figures per town"), aggregated in SQL.

Money is in 万元. Per-town money is apportioned by each project's share of the town; a
town-limited scope sees only its towns and, in every grouping, only its towns' share of the money.
"""
from __future__ import annotations

from sqlalchemy import Engine, Float, String, and_, bindparam, cast, func, literal, or_, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from registry import sqlfiles
from registry import cache, figure_store, periods
from registry.errors import InvalidInput
from registry.filters import ProjectFilters, project_year
from registry.models import Project, ProjectTown, Town
from registry.progress import ProgressReport
from registry.scope import Scope, project_clause, share_clause, town_clause
from registry.vocab import DOMAINS, STAGES, label

GROUPINGS = ("town", "domain", "stage", "year", "month")
MAX_MONTHS = 120


def town_figures(session: Session, scope: Scope, *, district_code: str | None = None,
                 with_geometry: bool = False, share: Engine | None = None) -> list[dict]:
    """Figures of every current town the scope may see, ordered by town code.

    Each dict has ``code, name, district_code, area_km2, project_count, total_investment,
    completed_investment, density`` (万元/km², geodesic area), ``completion_rate`` (apportioned
    completed ÷ apportioned total; ``None`` without investment), ``by_stage`` and ``by_domain``
    (project counts by code) and ``pipeline_km`` (line length inside the town by category). With
    ``with_geometry`` a ``geometry`` key holds the boundary as GeoJSON text (EPSG:4326).
    Cached per change stamp (``registry.cache``), and without geometry shared by the worker
    processes (``registry.figure_store``: read when another process stored them at this stamp;
    computed ones are stored through ``share``, the primary, when given).
    """
    return cache.cached(session, ("town_figures", cache.scope_key(scope), district_code, with_geometry),
                        lambda: _shared_town_figures(session, scope, district_code, with_geometry, share))


def _shared_town_figures(session: Session, scope: Scope, district_code: str | None, with_geometry: bool,
                         share: Engine | None) -> list[dict]:
    stamp = cache.stamp(session)
    if with_geometry or stamp is None:
        return _town_figures(session, scope, district_code, with_geometry)
    stored = figure_store.read(session, scope, district_code, stamp)
    if stored is not None:
        return stored
    computed = _town_figures(session, scope, district_code, with_geometry)
    if share is not None:
        figure_store.store(session, share, stamp, computed)
    return computed


def _town_figures(session: Session, scope: Scope, district_code: str | None,
                  with_geometry: bool) -> list[dict]:
    params = {**scope.sql_params(), "district_code": district_code, "with_geometry": with_geometry}
    rows = session.execute(sqlfiles.load("town_figures"), params).mappings()
    out = []
    for row in rows:
        if row["unlisted_domains"]:  # a domain the statement does not list: never counted silently
            raise RuntimeError(f"town_figures.sql lists no domain of {row['unlisted_domains']} shares in "
                               f"town {row['code']}: add the domains table's new codes to it")
        figures = {
            "code": row["code"], "name": row["name"], "district_code": row["district_code"],
            "area_km2": _round(row["area_km2"], 3),
            "project_count": row["project_count"],
            "total_investment": _round(row["total_investment"], 2),
            "completed_investment": _round(row["completed_investment"], 2),
            "density": _round(row["density"], 2),
            "completion_rate": _round(row["completion_rate"], 4),
            "by_stage": row["by_stage"], "by_domain": row["by_domain"],
            "pipeline_km": {k: float(v) for k, v in row["pipeline_km"].items()},
        }
        if with_geometry:
            figures["geometry"] = row["geometry"]
        out.append(figures)
    return out


def stats(session: Session, scope: Scope, group_by: str,
          filters: ProjectFilters | None = None, months: tuple[str, str] | None = None) -> list[dict]:
    """Project count and money grouped by ``town``, ``domain``, ``stage``, ``year`` or ``month``.

    Returns dicts ``key, label, project_count, total_investment, completed_investment,
    completion_rate``. By town, money is apportioned and a project counts in every town it
    touches; otherwise each project counts once with the money of the scope's shares (all of it
    for an unlimited scope). By year, the year is that of ``filters.year_of`` (planned start by
    default). By month, the rows are ``monthly_figures`` over ``months`` (first, last period;
    default the twelve months to this one). Unknown ``group_by`` raises ``InvalidInput``.
    """
    if group_by not in GROUPINGS:
        shown = f"无法识别的分组方式：{group_by}" if group_by else "缺少分组方式 group_by"
        raise InvalidInput(f"{shown}（可选：{'、'.join(GROUPINGS)}）",
                           {"parameter": "group_by", "value": group_by, "allowed": list(GROUPINGS)})
    if group_by == "town":
        return _stats_by_town(session, scope, filters)
    if group_by == "month":
        return monthly_figures(session, scope, *(months or month_range()), filters=filters)
    return cache.cached(session, ("stats", cache.scope_key(scope), group_by, filters),
                        lambda: _stats(session, scope, group_by, filters))


def _stats(session: Session, scope: Scope, group_by: str, filters: ProjectFilters | None) -> list[dict]:
    year_of = (filters or ProjectFilters()).year_of
    key = {"domain": Project.domain_code, "stage": Project.stage, "year": project_year(year_of)}[group_by]
    weight = scope_weight(scope)
    query = (select(key.label("key"), func.count().label("n"),
                    func.sum(cast(Project.total_investment, Float) * weight).label("total"),
                    func.sum(cast(func.coalesce(Project.completed_investment, 0), Float) * weight)
                    .label("completed"))
             .where(project_clause(scope), *(filters or ProjectFilters()).clauses())
             .group_by(key).order_by(key))
    rows = [_stat_row(r.key, _label(group_by, r.key), r.n, r.total, r.completed)
            for r in session.execute(query)]
    if group_by in ("domain", "stage"):  # the vocabulary's order, not alphabetical codes
        order = list(DOMAINS if group_by == "domain" else STAGES)
        rows.sort(key=lambda r: order.index(r["key"]) if r["key"] in order else len(order))
    return rows


def totals(session: Session, scope: Scope, filters: ProjectFilters | None = None) -> dict:
    """Headline figures: ``project_count, town_count, total_investment, equipment_investment,
    completed_investment, completion_rate, key_project_count`` (money: the scope's shares)."""
    return cache.cached(session, ("totals", cache.scope_key(scope), filters),
                        lambda: _totals(session, scope, filters))


def _totals(session: Session, scope: Scope, filters: ProjectFilters | None) -> dict:
    weight = scope_weight(scope)
    row = session.execute(
        select(func.count().label("n"),
               func.sum(cast(Project.total_investment, Float) * weight).label("total"),
               func.sum(cast(func.coalesce(Project.equipment_investment, 0), Float) * weight).label("equipment"),
               func.sum(cast(func.coalesce(Project.completed_investment, 0), Float) * weight).label("completed"),
               func.count().filter(Project.is_key).label("key_n"))
        .where(project_clause(scope), *(filters or ProjectFilters()).clauses())).one()
    town_count = session.scalar(select(func.count()).select_from(Town)
                                .where(Town.valid_to.is_(None), town_clause(scope)))
    return {
        "project_count": row.n, "town_count": town_count,
        "total_investment": _round(row.total or 0, 2),
        "equipment_investment": _round(row.equipment or 0, 2),
        "completed_investment": _round(row.completed or 0, 2),
        "completion_rate": _round(row.completed / row.total, 4) if row.total else None,
        "key_project_count": row.key_n,
    }


def _stats_by_town(session: Session, scope: Scope, filters: ProjectFilters | None) -> list[dict]:
    if filters is None or filters == ProjectFilters():
        return [_stat_row(t["code"], t["name"], t["project_count"], t["total_investment"],
                          t["completed_investment"]) for t in town_figures(session, scope)]
    return cache.cached(session, ("stats_by_town", cache.scope_key(scope), filters),
                        lambda: _stats_by_town_filtered(session, scope, filters))


def _stats_by_town_filtered(session: Session, scope: Scope, filters: ProjectFilters) -> list[dict]:
    """The same apportioning as ``town_figures``, over the filtered projects only."""
    query = (select(Town.code, Town.name, func.count(Project.id).label("n"),
                    func.sum(cast(Project.total_investment, Float) * ProjectTown.share).label("total"),
                    func.sum(cast(func.coalesce(Project.completed_investment, 0), Float)
                             * ProjectTown.share).label("completed"))
             .select_from(Town)
             .outerjoin(ProjectTown, (ProjectTown.town_code == Town.code) & share_clause(scope))
             .outerjoin(Project, and_(Project.id == ProjectTown.project_id, *filters.clauses()))
             .where(Town.valid_to.is_(None), town_clause(scope))
             .group_by(Town.code, Town.name).order_by(Town.code))
    return [_stat_row(r.code, r.name, r.n, r.total or 0, r.completed or 0) for r in session.execute(query)]


def scope_weight(scope: Scope):
    """The fraction of each project's money the scope may count: 1, or its towns' total share."""
    if not scope.limited:
        return literal(1.0, Float)
    return (select(func.sum(ProjectTown.share)).where(ProjectTown.project_id == Project.id,
                                                      share_clause(scope))
            .correlate(Project).scalar_subquery())


def _stat_row(key, label, n, total, completed) -> dict:
    total, completed = float(total or 0), float(completed or 0)
    return {"key": key, "label": label, "project_count": n,
            "total_investment": _round(total, 2), "completed_investment": _round(completed, 2),
            "completion_rate": _round(completed / total, 4) if total else None}


def _label(group_by: str, key) -> str:
    if group_by == "domain":
        return label(DOMAINS, key)
    if group_by == "stage":
        return label(STAGES, key)
    return "（无日期）" if key is None else str(key)


def _round(value, digits: int):
    return None if value is None else round(float(value), digits)


# --- Monthly figures (月度调度): cumulative completed investment per reporting month -----------

def month_range(first: str | None = None, last: str | None = None) -> tuple[str, str]:
    """``(first, last)`` periods: ``last`` defaults to this month, ``first`` to eleven months
    before it. Bad or reversed periods, or more than ``MAX_MONTHS``, raise ``InvalidInput``."""
    last = periods.parse(last, field="period_to")
    first = periods.parse(first, default=periods.shift(last, -11), field="period_from")
    if first > last:
        raise InvalidInput(f"起始月份 {first} 晚于截止月份 {last}", {"parameter": "period_from", "value": first})
    if len(periods.span(first, last)) > MAX_MONTHS:
        raise InvalidInput(f"一次最多统计 {MAX_MONTHS} 个月", {"parameter": "period_from", "value": first})
    return first, last


def monthly_figures(session: Session, scope: Scope, first: str, last: str, *,
                    filters: ProjectFilters | None = None) -> list[dict]:
    """Completed investment per reporting month from ``first`` to ``last`` (``YYYY-MM``).

    A project's cumulative figure in a month is that of its latest current (not superseded)
    report up to that month; the month's ``increase`` is that figure minus the previous month's
    (no earlier report counts as 0). Each row: ``key`` (the period), ``label``,
    ``completed_investment`` (cumulative), ``increase``, ``project_count`` (projects with a
    figure), ``reported_count`` (projects with a report for the month), ``by_domain`` and
    ``by_town`` (``{code: {"completed_investment", "increase"}}``; towns apportioned by share,
    only the scope's towns). Money in 万元, the scope's shares only, as in ``stats``.
    """
    filters = filters or ProjectFilters()
    return cache.cached(session, ("monthly", cache.scope_key(scope), first, last, filters),
                        lambda: _monthly_figures(session, scope, first, last, filters))


def month_cumulative(months: list[str]):
    """Subquery: one row per (period, project) from the first month a project reported a figure,
    with ``cum`` (its cumulative figure then) and ``before`` (the month before's; NULL = none)."""
    report = ProgressReport
    figures = (select(report.project_id, report.period, cast(report.completed_investment, Float).label("cum"),
                      func.lead(report.period).over(partition_by=report.project_id, order_by=report.period)
                      .label("next_period"))
               .where(report.superseded_at.is_(None), report.completed_investment.is_not(None),
                      report.period <= months[-1])
               .cte("reported_figures"))
    month = select(func.unnest(bindparam("months", months, type_=ARRAY(String))).label("period")).cte("months")
    return (select(month.c.period, figures.c.project_id, figures.c.cum,
                   func.lag(figures.c.cum).over(partition_by=figures.c.project_id, order_by=month.c.period)
                   .label("before"))
            .select_from(month)
            .join(figures, and_(figures.c.period <= month.c.period,
                                or_(figures.c.next_period.is_(None), figures.c.next_period > month.c.period)))
            .subquery("month_cumulative"))


def _monthly_figures(session: Session, scope: Scope, first: str, last: str,
                     filters: ProjectFilters) -> list[dict]:
    shown = periods.span(first, last)
    per_project = month_cumulative([periods.shift(first, -1), *shown])
    visible = [project_clause(scope), *filters.clauses()]
    increase = per_project.c.cum - func.coalesce(per_project.c.before, 0)
    weight = scope_weight(scope)
    rows = {p: {"key": p, "label": periods.label(p), "completed_investment": 0.0, "increase": 0.0,
                "project_count": 0, "reported_count": 0, "by_domain": {}, "by_town": {}} for p in shown}
    # the per-project month series once (a CTE PostgreSQL materialises), summed by domain and by town
    series = (select(per_project.c.period, per_project.c.project_id, Project.domain_code,
                     per_project.c.cum, increase.label("increase"), weight.label("weight"))
              .join(Project, Project.id == per_project.c.project_id)
              .where(per_project.c.period >= first, *visible)
              .cte("monthly_series"))
    share = aliased(ProjectTown)  # the scope's clauses query ProjectTown themselves
    by_domain = (select(literal("domain").label("kind"), series.c.period, series.c.domain_code.label("key"),
                        func.count().label("n"), func.sum(series.c.cum * series.c.weight).label("cum"),
                        func.sum(series.c.increase * series.c.weight).label("increase"))
                 .group_by(series.c.period, series.c.domain_code))
    by_town = (select(literal("town").label("kind"), series.c.period, share.town_code.label("key"),
                      literal(0).label("n"), func.sum(series.c.cum * share.share).label("cum"),
                      func.sum(series.c.increase * share.share).label("increase"))
               .join(share, share.project_id == series.c.project_id)
               .where(*([share.town_code.in_(scope.town_codes)] if scope.limited else []))
               .group_by(series.c.period, share.town_code))
    for r in session.execute(union_all(by_domain, by_town)):
        row = rows[r.period]
        figures = {"completed_investment": _round(r.cum, 2), "increase": _round(r.increase, 2)}
        if r.kind == "town":
            row["by_town"][r.key] = figures
            continue
        row["project_count"] += r.n
        row["completed_investment"] += r.cum or 0
        row["increase"] += r.increase or 0
        row["by_domain"][r.key] = figures
    report = ProgressReport
    reported = (select(report.period, func.count(func.distinct(report.project_id)).label("n"))
                .join(Project, Project.id == report.project_id)
                .where(report.superseded_at.is_(None), report.period.in_(shown), *visible)
                .group_by(report.period))
    for r in session.execute(reported):
        rows[r.period]["reported_count"] = r.n
    for row in rows.values():
        row["completed_investment"] = _round(row["completed_investment"], 2)
        row["increase"] = _round(row["increase"], 2)
    return list(rows.values())
