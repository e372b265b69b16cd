"""月度调度 pages: the month's not-reported list (本月未上报, by town) and the 调度表 download.

Thin views over ``registry.unreported`` and ``registry.schedule``, with the user's scope: a town
official sees and exports only their towns' projects. Every download is audited.
"""
from __future__ import annotations

import tempfile

from flask import Blueprint, render_template, request, send_file

from registry import browse, periods, permissions, schedule, unreported
from registry.filters import ProjectFilters
from web import auth, database

bp = Blueprint("progress", __name__)


def requested_period() -> str:
    """``?period=YYYY-MM`` (this month when absent); bad text → 400 naming the parameter."""
    return periods.parse(request.args.get("period"))


@bp.get("/progress/missing")
def missing_page():
    scope = auth.current_scope()
    auth.require(permissions.can_view_reports(scope))
    period = requested_period()
    session = database.session()
    filters = ProjectFilters.parse(request.args)
    groups = unreported.not_reported(session, scope, period, filters)
    return render_template("progress_missing.html", period=period, period_label=periods.label(period),
                           groups=groups, total=unreported.count(groups), town=filters.town,
                           town_groups=browse.town_groups(session, scope),
                           can_export=permissions.can_export(scope),
                           can_report=permissions.can_report_progress(scope))


@bp.get("/progress/schedule")
def schedule_download():
    scope = auth.current_scope()
    auth.require(permissions.can_export(scope))
    period = requested_period()
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    schedule.export_schedule(database.session(), spool, scope=scope, period=period, actor=scope.actor,
                             filters=ProjectFilters.parse(request.args))
    spool.seek(0)
    return send_file(spool, mimetype=schedule.XLSX_MIMETYPE, as_attachment=True,
                     download_name=f"schedule-{period}.xlsx")
