"""Plan-target pages: ``/targets`` (one row per target), ``/targets/<id>`` (per-town table, a small
choropleth of each town's contribution, the projects that count, the data-quality lists) and the
dashboard's targets panel. Figures come from ``registry.target_report`` with the user's scope.

Bureau and admin enter the values of ``reported`` targets and the baselines of growth targets
here too (CSRF-protected forms, audited like the CLI).
"""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from registry import target_levels, target_measures, target_report, targets
from registry.errors import InvalidInput
from registry.map_view import collection_bounds, town_collection
from registry.vocab import TARGET_LEVELS, TARGET_METRICS, TARGET_STATUSES, TARGET_SUM_REASONS, TARGET_WINDOWS
from web import auth, database
from web.api.targets import district_param
from web.i18n import vocabulary_labels

bp = Blueprint("targets_pages", __name__)
PANEL_SIZE = 6

@bp.app_context_processor
def target_helpers() -> dict:
    return {"targets_panel": _panel, "target_status_label": lambda s: vocabulary_labels(TARGET_STATUSES)[s]}


def _panel() -> list[target_report.TargetResult]:
    """The dashboard's targets: behind and overdue first, a few of them."""
    result = target_report.report(database.session(), auth.current_scope())
    order = target_measures.STATUS_ORDER
    return sorted(result.targets, key=lambda t: order.index(t.status))[:PANEL_SIZE]


@bp.get("/targets")
def targets_page():
    as_of = target_report.parse_as_of(request.args.get("as_of"))
    district = district_param(request.args.get("district"))
    result = target_report.report(database.session(), auth.current_scope(), as_of=as_of, district=district)
    years = sorted({y for t in result.targets for y in (t.years or {})})
    return render_template("targets.html", report=result, years=years, district=district,
                           has_levels=any(t.level for t in result.targets),
                           as_of_arg=request.args.get("as_of") or "", **_labels())


@bp.get("/targets/<target_id>")
def target_page(target_id: str):
    return _render_target(target_id)


@bp.post("/targets/<target_id>/value")
def enter_value(target_id: str):
    return _enter(target_id, "value")


@bp.post("/targets/<target_id>/baseline")
def enter_baseline(target_id: str):
    return _enter(target_id, "baseline")


def _enter(target_id: str, kind: str):
    scope = auth.current_scope()
    session = database.session()
    auth.require(targets.can_enter_values(scope))
    target_report.report(session, scope, target_id=target_id)  # 404 for an unknown target
    try:
        if kind == "value":
            as_of = target_report.parse_as_of(request.form.get("as_of"))
            targets.set_value(session, scope, target_id, request.form.get("value"), as_of=as_of)
        else:
            targets.set_baseline(session, scope, target_id, request.form.get("value"))
    except InvalidInput as exc:
        session.rollback()
        return _render_target(target_id, form_error=exc.message), 400
    return redirect(url_for("targets_pages.target_page", target_id=target_id))


def _render_target(target_id: str, *, form_error: str | None = None):
    session, scope = database.session(), auth.current_scope()
    as_of = target_report.parse_as_of(request.args.get("as_of"))
    result = target_report.report(session, scope, as_of=as_of, target_id=target_id)
    target = result.targets[0]
    towns = None  # a city's or province's target: a table by district instead of the town map
    if target.level is None:
        district = (target.jurisdiction if target.jurisdiction.isdigit()
                    else targets.parent_code(session, target.jurisdiction))
        towns = town_collection(session, scope, district_code=district, figures=[])
        for feature in towns["features"]:
            feature["properties"]["value"] = target.by_town.get(feature["properties"]["code"])
    can_enter = targets.can_enter_values(scope) and (target.level is None or target_levels.can_write_levels(scope))
    return render_template("target.html", report=result, target=target, towns=towns,
                           bounds=collection_bounds(towns) if towns else None, form_error=form_error,
                           can_enter=can_enter, **_labels())


def _labels() -> dict:
    return {"status_labels": vocabulary_labels(TARGET_STATUSES), "metric_labels": vocabulary_labels(TARGET_METRICS),
            "window_labels": vocabulary_labels(TARGET_WINDOWS), "level_labels": vocabulary_labels(TARGET_LEVELS),
            "reason_labels": vocabulary_labels(TARGET_SUM_REASONS)}
