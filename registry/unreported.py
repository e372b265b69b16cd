"""本月未上报: projects that should report this month and have not (月度调度).

Projects in approval (前期手续) or construction (在建) — construction ones only from the month
they started — with no current progress report for the period, grouped by town. The town is the
one of the project's towns the scope may see with the largest share (for the bureau: the
primary town), so a project appears once. Scoped like every list (``registry.scope`` + RLS).
"""
from __future__ import annotations

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from registry import cache, periods
from registry.filters import ProjectFilters
from registry.models import Project, ProjectTown, Town
from registry.progress import ProgressReport
from registry.scope import Scope, project_clause, share_clause
from registry.vocab import DOMAINS, STAGES, label

DUE_STAGES = ("approval", "construction")
NO_TOWN = "未匹配镇街"


def _town_of_project(scope: Scope):
    """Correlated subquery: the project's largest visible share's town code."""
    return (select(ProjectTown.town_code)
            .where(ProjectTown.project_id == Project.id, share_clause(scope))
            .order_by(ProjectTown.share.desc(), ProjectTown.town_code).limit(1)
            .correlate(Project).scalar_subquery())


def due_clauses(period: str) -> list:
    """WHERE clauses on ``Project``: expected to report for ``period``."""
    return [Project.stage.in_(DUE_STAGES),
            or_(Project.stage != "construction", Project.actual_start.is_(None),
                Project.actual_start <= periods.last_day(period))]


def reported_clause(period: str):
    """The project has a current report for ``period``."""
    return exists(select(ProgressReport.id).where(
        ProgressReport.project_id == Project.id, ProgressReport.period == period,
        ProgressReport.superseded_at.is_(None)))


def not_reported(session: Session, scope: Scope, period: str,
                 filters: ProjectFilters | None = None) -> list[dict]:
    """The towns with projects due and not reported for ``period``, by town code.

    Each: ``{"town_code", "town_name", "projects": [{"id", "code", "name", "domain", "domain_label",
    "stage", "stage_label", "owner", "total_investment", "last_period"}]}``; projects by code.
    """
    town_code = _town_of_project(scope).label("town_code")
    last = (select(func.max(ProgressReport.period))
            .where(ProgressReport.project_id == Project.id, ProgressReport.superseded_at.is_(None))
            .correlate(Project).scalar_subquery().label("last_period"))
    listed = (select(Project.id, Project.code, Project.name, Project.domain_code, Project.stage,
                     Project.owner, Project.total_investment, town_code, last)
              .where(project_clause(scope), *(filters or ProjectFilters()).clauses(),
                     *due_clauses(period), ~reported_clause(period))
              .subquery())
    rows = session.execute(
        select(listed, Town.name.label("town_name"))
        .outerjoin(Town, (Town.code == listed.c.town_code) & Town.valid_to.is_(None))
        .order_by(listed.c.town_code.nulls_last(), listed.c.code)).mappings()
    groups: dict = {}
    for row in rows:
        group = groups.setdefault(row["town_code"], {
            "town_code": row["town_code"], "town_name": row["town_name"] or NO_TOWN, "projects": []})
        group["projects"].append({
            "id": row["id"], "code": row["code"], "name": row["name"],
            "domain": row["domain_code"], "domain_label": label(DOMAINS, row["domain_code"]),
            "stage": row["stage"], "stage_label": label(STAGES, row["stage"]),
            "owner": row["owner"], "total_investment": float(row["total_investment"]),
            "last_period": row["last_period"]})
    return list(groups.values())


def counts_by_town(session: Session, scope: Scope, period: str) -> list[dict]:
    """``[{"town_code", "town_name", "count"}]``: how many projects each town has not reported
    (the dashboard's summary, counted in SQL; cached per change stamp)."""
    return cache.cached(session, ("unreported_counts", cache.scope_key(scope), period),
                        lambda: _counts_by_town(session, scope, period))


def _counts_by_town(session: Session, scope: Scope, period: str) -> list[dict]:
    due = (select(_town_of_project(scope).label("town_code"))
           .where(project_clause(scope), *ProjectFilters().clauses(), *due_clauses(period),
                  ~reported_clause(period))
           .subquery())
    rows = session.execute(
        select(due.c.town_code, Town.name, func.count().label("n"))
        .outerjoin(Town, (Town.code == due.c.town_code) & Town.valid_to.is_(None))
        .group_by(due.c.town_code, Town.name).order_by(due.c.town_code.nulls_last()))
    return [{"town_code": r.town_code, "town_name": r.name or NO_TOWN, "count": r.n} for r in rows]


def count(groups: list[dict]) -> int:
    """How many projects a ``not_reported`` answer lists."""
    return sum(len(g["projects"]) for g in groups)
