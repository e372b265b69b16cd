"""Pages that change projects: the new/edit form (with a map to draw on), the conflict page of a
stale save, delete/restore, progress reports and the history page. Thin views over
``registry.projects`` and ``registry.progress``; CSRF is checked for every POST by ``web.guard``.
"""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from registry import browse, periods, permissions, progress, projects
from registry.errors import Conflict, InvalidInput, StaleVersion
from registry.template import COLUMNS
from registry.vocab import CRS_NAMES, DOMAINS, FUNDING_SOURCES, STAGES, choices
from web import auth, database
from web.i18n import current_language

bp = Blueprint("editing", __name__)
# The form's fields in the template's order; lng/lat/wkt/crs live in the location section.
LOCATION_KEYS = ("lng", "lat", "wkt", "crs")
FORM_COLUMNS = [c for c in COLUMNS if c.key not in LOCATION_KEYS]


def _form_choices() -> dict:
    language = current_language()
    return {
        "domains": choices(DOMAINS, language),
        "categories": sorted({c for _, (_, _, cats) in DOMAINS.items() for c in cats}),
        "stages": choices(STAGES, language),
        "funding": choices(FUNDING_SOURCES, language),
        "crs_names": CRS_NAMES,
        "town_groups": browse.town_groups(database.session(), auth.current_scope()),
    }


def form_values(form) -> tuple[dict, str | None]:
    """Posted form → (template-key values for the services, reason)."""
    values: dict = {}
    for column in FORM_COLUMNS:
        if column.key == "funding":
            values["funding"] = form.getlist("funding")
        elif column.key == "is_key":
            values["is_key"] = "1" if form.get("is_key") else "0"
        else:
            values[column.key] = form.get(column.key, "").strip() or None
    typed = {k: form.get(k, "").strip() for k in ("lng", "lat", "wkt")}
    if any(typed.values()):
        values.update({k: v or None for k, v in typed.items()})
        values["crs"] = form.get("crs") or "WGS84"
    elif form.get("geometry_dirty") == "1" or request.endpoint == "editing.new_project":
        geometry = form.get("geometry", "").strip()
        values["geometry"] = _json(geometry) if geometry else None
        values["crs"] = "WGS84"  # drawn on the map: already WGS84
    return values, (form.get("reason") or "").strip() or None


def _json(text: str):
    import json
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidInput("地图上的几何无法读取，请重新绘制", {"field": "geometry"}) from None


def field_errors(exc: InvalidInput | Conflict) -> dict[str, list[str]]:
    """Messages per form field from a refused save (``details.problems`` or ``details.field``)."""
    details = exc.details if isinstance(exc.details, dict) else {}
    errors: dict[str, list[str]] = {}
    for problem in details.get("problems") or [{"field": details.get("field") or "_form", "message": exc.message}]:
        field = problem.get("field") or "_form"
        if field in ("geometry", "wkt", "lng", "lat", "crs"):
            field = "location"
        errors.setdefault(field, []).append(problem["message"])
    for field in details.get("fields") or ():
        errors.setdefault("_form", []).append(f"无法识别的字段：{field}")
    return errors


def _render_form(values: dict, *, project=None, errors=None, status=200, version=None, geometry=None):
    return render_template("project_form.html", values=values, project=project, errors=errors or {},
                           version=version, geometry=geometry, columns=FORM_COLUMNS, **_form_choices()), status


@bp.route("/projects/new", methods=["GET", "POST"])
def new_project():
    scope = auth.current_scope()
    auth.require(permissions.can_create_project(scope))
    if request.method == "GET":
        return _render_form({"stage": "reserve", "crs": "WGS84"})
    values, _reason = form_values(request.form)
    try:
        result = projects.create_project(database.session(), scope=scope, values=values, actor=scope.actor)
    except (InvalidInput, Conflict) as exc:
        return _render_form(_redisplay(request.form), errors=field_errors(exc), status=400,
                            geometry=values.get("geometry"))
    return redirect(url_for("pages.project", project_id=result["id"]))


def _redisplay(form) -> dict:
    shown = {k: form.get(k) for k in form}
    shown["funding"] = form.getlist("funding")
    return shown


def stored_values(project_id: int) -> tuple[dict, dict]:
    """The form's values for a stored project, and the project record (GeoJSON geometry)."""
    record = browse.get_project(database.session(), auth.current_scope(), project_id)
    values = {c.key: record.get({"domain": "domain_code", "town": "declared_town"}.get(c.key, c.key))
              for c in FORM_COLUMNS}
    values["is_key"] = "1" if record["is_key"] else ""
    values["crs"] = "WGS84"
    for key in ("total_investment", "equipment_investment", "completed_investment", "quantity"):
        if values[key] is not None:
            values[key] = f"{values[key]:g}" if isinstance(values[key], float) else values[key]
    values["responsible_units"] = "；".join(record["responsible_units"] or [])
    return values, record


@bp.route("/projects/<int:project_id>/edit", methods=["GET", "POST"])
def edit_project(project_id: int):
    scope = auth.require_project(project_id, permissions.can_edit_project)
    if request.method == "GET":
        values, record = stored_values(project_id)
        return _render_form(values, project=record, version=record["version"], geometry=record["geometry"])
    values, reason = form_values(request.form)
    version = request.form.get("version", type=int)
    try:
        projects.update_project(database.session(), project_id, scope=scope, changes=values,
                                expected_version=version, actor=scope.actor, reason=reason)
    except StaleVersion:
        return conflict_page(project_id, request.form)
    except (InvalidInput, Conflict) as exc:
        _, record = stored_values(project_id)
        return _render_form(_redisplay(request.form), project=record, errors=field_errors(exc), status=400,
                            version=version, geometry=values.get("geometry") or record["geometry"])
    return redirect(url_for("pages.project", project_id=project_id))


def conflict_page(project_id: int, form):
    """Someone saved first: show their version beside ours, field by field (HTTP 409)."""
    database.session().rollback()
    current, record = stored_values(project_id)
    mine = _redisplay(form)
    rows = []
    for column in FORM_COLUMNS:
        theirs = current.get(column.key)
        ours = "；".join(mine.get("funding") or []) if column.key == "funding" else mine.get(column.key)
        if column.key == "funding":
            theirs = "；".join(theirs or [])
        rows.append({"label": column.header, "key": column.key, "current": theirs, "mine": ours,
                     "differs": (str(theirs or "") != str(ours or ""))})
    latest = next(iter(progress.history(database.session(), project_id, scope=auth.current_scope())), None)
    return render_template("project_conflict.html", project=record, rows=rows, latest=latest, mine=mine,
                           version=record["version"]), 409


@bp.post("/projects/<int:project_id>/delete")
def delete_project(project_id: int):
    scope = auth.require_project(project_id, permissions.can_edit_project)
    projects.delete_project(database.session(), project_id, scope=scope, actor=scope.actor,
                            expected_version=request.form.get("version", type=int),
                            reason=request.form.get("reason") or None)
    return redirect(url_for("editing.history_page", project_id=project_id))


@bp.post("/projects/<int:project_id>/restore")
def restore_project(project_id: int):
    scope = auth.current_scope()
    auth.require(permissions.can_edit_project(scope))
    projects.restore_project(database.session(), project_id, scope=scope, actor=scope.actor)
    return redirect(url_for("pages.project", project_id=project_id))


@bp.get("/projects/<int:project_id>/history")
def history_page(project_id: int):
    scope = auth.current_scope()
    session = database.session()
    entries = progress.history(session, project_id, scope=scope)
    project = browse.project_heading(session, scope, project_id)
    return render_template("project_history.html", entries=entries, project=project,
                           can_restore=permissions.can_edit_project(scope) and project["deleted_at"] is not None)


@bp.route("/projects/<int:project_id>/progress", methods=["GET", "POST"])
def progress_page(project_id: int):
    scope = auth.require_project(project_id)
    session = database.session()
    errors, values, status = {}, {}, 200
    if request.method == "POST":
        auth.require(permissions.can_report_progress(scope))
        values = {k: request.form.get(k) for k in progress.REPORT_KEYS if request.form.get(k)}
        try:
            progress.file_progress(session, project_id, scope=scope, report=values, actor=scope.actor)
            return redirect(url_for("pages.project", project_id=project_id) + "#progress")
        except InvalidInput as exc:
            errors, status = field_errors(exc), 400
    record = browse.get_project(session, scope, project_id)
    return render_template("project_progress_page.html", project=record, errors=errors, values=values,
                           **progress_context(project_id)), status


def progress_context(project_id: int) -> dict:
    """What the progress panel needs: the reports (oldest first), chart series, permissions."""
    session, scope = database.session(), auth.current_scope()
    reports = progress.list_reports(session, project_id, scope=scope)
    current = [r for r in reports if r["superseded_by"] is None]
    return {"reports": reports, "stages": [(code, zh) for code, (zh, _) in STAGES.items()],
            "period": periods.current(),
            "chart": {"labels": [r["period"] for r in current],
                      "completed": [r["completed_investment"] for r in current],
                      "percent": [r["percent"] for r in current]},
            # Shown beside a project the page has already found visible: the role decides.
            "can_report": permissions.can_report_progress(scope),
            "can_edit": permissions.can_edit_project(scope)}


@bp.app_template_global()
def project_progress(project_id: int) -> dict:
    """For the project page's include: ``{% with p = project_progress(project.id) %}``."""
    return progress_context(project_id)


@bp.app_template_global()
def can_edit_projects() -> bool:
    """Whether the current user may register, edit and delete projects (for links on pages)."""
    return permissions.can_edit_project(auth.current_scope())
