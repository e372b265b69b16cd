"""HTML pages: dashboard, project list, project detail. Thin views over registry functions.

Every view reads with the request's session and the current user's scope, like the API.
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from registry import browse, figures, periods, permissions, town_changes, unreported
from registry.filters import ProjectFilters
from registry.vocab import DOMAINS, STAGES
from web import auth, database, i18n

bp = Blueprint("pages", __name__)
PAGE_SIZE = 20

def _signed_in(scope) -> bool:
    return scope.role in permissions.SIGNED_IN


# Main navigation: (path, message id, who may use it). An item shows once some blueprint serves
# its path and the signed-in user's role may use the page (no menu item that leads to a 403).
NAVIGATION = [("/", "Home", _signed_in), ("/rollup", "Roll-up", permissions.can_view_rollup),
              ("/map", "Map", _signed_in),
              ("/projects", "Projects", _signed_in), ("/targets", "Targets", _signed_in),
              ("/progress/missing", "Monthly reporting", permissions.can_view_reports),
              ("/imports", "Import", permissions.can_import),
              ("/export", "Export", permissions.can_export)]
# Column and field labels shared by the list and the detail page.
FIELD_LABELS = {
    "id": _l("ID"), "code": _l("Project code"), "name": _l("Project name"), "domain": _l("Domain"),
    "stage": _l("Stage"), "town": _l("Town"), "owner": _l("Owner"), "address": _l("Address"),
    "total_investment": _l("Total investment (10k yuan)"),
    "equipment_investment": _l("Equipment investment (10k yuan)"),
    "completed_investment": _l("Completed investment (10k yuan)"),
    "planned_start": _l("Planned start"), "planned_end": _l("Planned end"),
    "updated_at": _l("Last updated"),
}


@bp.app_context_processor
def navigation() -> dict:
    adapter = current_app.url_map.bind("localhost")
    scope, items = auth.current_scope(), []
    for path, label, allowed in NAVIGATION:
        if not allowed(scope):
            continue
        try:
            adapter.match(path, method="GET")
        except RequestRedirect:  # e.g. /map → /map/: the page exists
            pass
        except HTTPException:
            continue
        items.append({"path": path, "label": _(label),
                      "active": path == request.path or (path != "/" and request.path.startswith(path))})
    return {"nav_items": items, "field_labels": FIELD_LABELS}


GROUP_FILTER = {"domain": "domain", "stage": "stage", "town": "town", "year": "year"}
YEAR_OF_TITLES = {"planned_start": _l("By year of planned start"), "actual_start": _l("By year of actual start"),
                  "actual_end": _l("By year of completion")}


@bp.get("/")
def dashboard():
    session, scope = database.session(), auth.current_scope()
    year_filters = ProjectFilters.parse({"year_of": request.args.get("year_of")})
    groups = {group: figures.stats(session, scope, group, year_filters if group == "year" else None)
              for group in GROUP_FILTER}
    charts = {group: _chart(group, rows, year_filters.year_of) for group, rows in groups.items()}
    months = figures.stats(session, scope, "month", months=figures.month_range())
    charts["month"] = _month_chart(months)
    period = periods.current()
    # Town officials see their own list; the bureau a count per town (a province has many).
    missing = (unreported.not_reported(session, scope, period) if scope.limited
               else unreported.counts_by_town(session, scope, period))
    return render_template("dashboard.html", totals=figures.totals(session, scope), groups=groups,
                           charts=charts, months=months, year_of=year_filters.year_of,
                           year_of_titles=YEAR_OF_TITLES, period=period, period_label=periods.label(period),
                           missing=missing, own_towns_only=scope.limited,
                           missing_total=sum(len(g["projects"]) if scope.limited else g["count"] for g in missing),
                           link=_group_link, notices=town_changes.recent_notices(session, scope))


def _group_link(group: str, key, year_of: str = "planned_start") -> str:
    """The project list filtered to one row of a dashboard grouping."""
    if key is None:
        return url_for("pages.projects")
    args = {GROUP_FILTER[group]: key}
    if group == "year" and year_of != "planned_start":
        args["year_of"] = year_of
    return url_for("pages.projects", **args)


def _chart(group: str, rows: list[dict], year_of: str) -> dict:
    """Labels (in the UI language), series and each bar's link for one dashboard chart."""
    label = {"domain": i18n.domain_label, "stage": i18n.stage_label}.get(group)
    return {"labels": [label(r["key"]) if label else str(r["label"]) for r in rows],
            "counts": [r["project_count"] for r in rows],
            "investment": [r["total_investment"] for r in rows],
            "links": [_group_link(group, r["key"], year_of) for r in rows]}


def _month_chart(rows: list[dict]) -> dict:
    """Monthly completed investment: the month's increase by domain (stacked bars) and the
    cumulative figure (a line)."""
    codes = [code for code in DOMAINS if any(code in r["by_domain"] for r in rows)]
    return {"labels": [r["key"] for r in rows], "increase": [r["increase"] for r in rows],
            "by_domain": [{"label": i18n.domain_label(code),
                           "data": [r["by_domain"].get(code, {}).get("increase", 0) for r in rows]}
                          for code in codes],
            "cumulative": [r["completed_investment"] for r in rows],
            "links": [url_for("progress.missing_page", period=r["key"]) for r in rows]}


@bp.get("/projects")
def projects():
    filters = ProjectFilters.parse(request.args)
    page, _per_page = browse.parse_paging({"page": request.args.get("page")})
    sort = request.args.get("sort") or browse.DEFAULT_SORT
    session, scope = database.session(), auth.current_scope()
    result = browse.list_projects(session, scope, filters=filters, sort=sort, page=page,
                                  per_page=PAGE_SIZE)
    kept = {k: v for k, v in request.args.items() if v and k not in ("page", "lang")}
    return render_template("projects.html", result=result, args=kept,
                           town_groups=browse.town_groups(session, scope), domains=DOMAINS, stages=STAGES,
                           sortable=list(browse.SORTABLE),
                           page_url=lambda n: url_for("pages.projects", **kept, page=n))


@bp.get("/projects/<int:project_id>")
def project(project_id: int):
    record = browse.get_project(database.session(), auth.current_scope(), project_id)
    return render_template("project.html", project=record)
