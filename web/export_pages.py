"""The export page: pick a format and filters, download the visible projects.

Same service as ``eqreg projects export`` (registry.exporting), with the user's scope: a town
official's export holds only projects with a share in their towns. ``province``, ``city`` or
``district`` limits it further to one level's districts (``registry.rollup.narrowed_scope``; the
roll-up pages link here). Every download is audited.
"""
from __future__ import annotations

import tempfile
from urllib.parse import quote

from flask import Blueprint, Response, render_template, request, send_file, stream_with_context

from registry import audit, browse, exporting, permissions, rollup
from registry.errors import InvalidInput
from registry.filters import ProjectFilters
from registry.vocab import DOMAINS, STAGES
from web import auth, database

bp = Blueprint("export", __name__)

MIMETYPES = {
    "geojson": "application/geo+json",
    "csv": "text/csv",  # Flask adds "; charset=utf-8" to text types
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "gpkg": "application/geopackage+sqlite3",
}


@bp.get("/export")
def export_form():
    scope = auth.current_scope()
    auth.require(permissions.can_export(scope))
    filters = ProjectFilters.parse(request.args)
    session = database.session()
    level = rollup.export_jurisdiction(request.args)
    scope = rollup.narrowed_scope(session, scope, level)
    count = exporting.count_projects(session, scope=scope, filters=filters)
    kept = {k: v for k, v in request.args.items() if v and k not in ("lang", "format")}
    return render_template("export.html", count=count, args=kept, formats=exporting.FORMATS, level=level,
                           town_groups=browse.town_groups(session, scope), domains=DOMAINS, stages=STAGES)


@bp.get("/export/download")
@database.on_primary  # audited: it writes
def download():
    scope = auth.current_scope()
    auth.require(permissions.can_export(scope))
    fmt = (request.args.get("format") or "").lower()
    if fmt not in exporting.FORMATS:
        raise InvalidInput(f"不支持的导出格式：{fmt or '（未选择）'}（可用 {'、'.join(exporting.FORMATS)}）",
                           {"format": fmt})
    filters = ProjectFilters.parse(request.args)
    session = database.session()
    # ?province=37, ?city=3704 or ?district=370403: the scope's districts of that level only
    level = rollup.export_jurisdiction(request.args)
    scope = rollup.narrowed_scope(session, scope, level)
    count = exporting.count_projects(session, scope=scope, filters=filters)
    audit.record(session, actor=scope.actor, action="export", entity="projects",
                 details={"format": fmt, "count": count,
                          "filters": {k: v for k, v in request.args.items() if k != "format"}})
    session.commit()
    # named after the level too: 项目_山东省-37_….geojson, projects_province-37_….geojson in ASCII
    name = exporting.export_filename(session, filters, fmt,
                                     place=rollup.place_title(session, level) if level else None)
    ascii_name = exporting.ascii_export_filename(fmt, level=level and level.level, code=level and level.code)
    disposition = {"Content-Disposition": attachment(name, ascii_name)}
    if fmt == "geojson":  # streamed straight from PostGIS: flat memory for any size
        chunks = exporting.iter_geojson(session, scope=scope, filters=filters)
        return Response(stream_with_context(chunks), mimetype=MIMETYPES[fmt], headers=disposition)
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    exporting.export_projects(session, fmt, spool, scope=scope, filters=filters)
    spool.seek(0)
    response = send_file(spool, mimetype=MIMETYPES[fmt])
    response.headers.update(disposition)
    return response


def attachment(filename: str, fallback: str) -> str:
    """``Content-Disposition`` for a download named ``filename`` (RFC 6266, RFC 5987): the UTF-8
    name in ``filename*`` for every current browser, the ASCII ``fallback`` in ``filename`` for
    the rest."""
    if not fallback.isascii() or any(c in fallback for c in '"\\\r\n;'):
        raise ValueError(f"not a safe ASCII file name: {fallback!r}")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
