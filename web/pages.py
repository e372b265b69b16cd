"""HTML pages: dashboard, project list, project detail. Thin views over registry functions.

Every view reads with the request's session and the current user's scope, like the API.
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from registry import browse, figures, permissions
from registry.filters import ProjectFilters
from registry.vocab import DOMAINS, STAGES
from web import auth, database, i18n

bp = Blueprint("pages", __name__)
PAGE_SIZE = 20

def _signed_in(scope) -> bool:
    return scope.role in permissions.SIGNED_IN


# Main navigation: (path, message id, who may use it). An item shows once some blueprint serves
# its path and the signed-in user's role may use the page (no menu item that leads to a 403).
NAVIGATION = [("/", "Home", _signed_in), ("/map", "Map", _signed_in),
              ("/projects", "Projects", _signed_in), ("/imports", "Import", permissions.can_import),
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


@bp.get("/")
def dashboard():
    session, scope = database.session(), auth.current_scope()
    groups = {group: figures.stats(session, scope, group) for group in figures.GROUPINGS}
    return render_template("dashboard.html", totals=figures.totals(session, scope), groups=groups,
                           charts={group: _chart(group, rows) for group, rows in groups.items()})


def _chart(group: str, rows: list[dict]) -> dict:
    """Labels (in the UI language) and series for one dashboard chart."""
    label = {"domain": i18n.domain_label, "stage": i18n.stage_label}.get(group)
    return {"labels": [label(r["key"]) if label else str(r["label"]) for r in rows],
            "counts": [r["project_count"] for r in rows],
            "investment": [r["total_investment"] for r in rows]}


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
                           towns=browse.visible_towns(session, scope), domains=DOMAINS, stages=STAGES,
                           sortable=list(browse.SORTABLE),
                           page_url=lambda n: url_for("pages.projects", **kept, page=n))


@bp.get("/projects/<int:project_id>")
def project(project_id: int):
    record = browse.get_project(database.session(), auth.current_scope(), project_id)
    return render_template("project.html", project=record)
