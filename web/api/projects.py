"""``/api/v1/projects``: the scoped list, one project (with ETag), and the GeoJSON stream."""
from __future__ import annotations

from flask import Response, jsonify, request, stream_with_context

from registry import browse, exporting
from registry.filters import ProjectFilters
from web import auth, database
from web.api import bp, response_cache

GEOJSON_MIMETYPE = "application/geo+json"


def project_etag(project_id: int, version: int) -> str:
    """The entity tag of one version of a project (compared against If-Match on writes)."""
    return f"{project_id}-{version}"


@bp.get("/projects")
@response_cache.cached_json
def list_projects():
    filters = ProjectFilters.parse(request.args)
    page, per_page = browse.parse_paging(request.args)
    result = browse.list_projects(database.session(), auth.current_scope(), filters=filters,
                                  sort=request.args.get("sort"), page=page, per_page=per_page)
    return jsonify(result)


def project_response(project_id: int, status: int = 200, **extra):
    """The project as ``GET /projects/{id}`` returns it (with its ETag), plus ``extra`` keys."""
    record = browse.get_project(database.session(), auth.current_scope(), project_id)
    response = jsonify({**record, **extra})
    response.status_code = status
    response.set_etag(project_etag(record["id"], record["version"]))
    return response


@bp.get("/projects/<int:project_id>")
def get_project(project_id: int):
    return project_response(project_id).make_conditional(request)


@bp.get("/projects.geojson")
def projects_geojson():
    filters = ProjectFilters.parse(request.args)
    session = database.session()
    features = exporting.iter_geojson(session, scope=auth.current_scope(), filters=filters)

    def chunks():
        try:
            yield from features
        finally:  # end the read transaction as soon as the last feature is out
            session.close()

    return Response(stream_with_context(chunks()), mimetype=GEOJSON_MIMETYPE)
