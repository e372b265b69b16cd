"""Writes under ``/api/v1``: create, patch, delete and restore projects, progress reports,
history, the share preview of a geometry, and spreadsheet imports (DESIGN §5).

Thin views: parse → permission check (``web.auth.require``) → a ``registry`` service → JSON.
PATCH and DELETE need ``If-Match`` with the project's ETag (as ``GET /projects/{id}`` sends it;
a bare version ``W/"3"`` is accepted too): missing → 428, another version → 412.
"""
from __future__ import annotations

import re

from flask import jsonify, request, url_for
from werkzeug.exceptions import PreconditionRequired

from registry import permissions, progress, projects
from registry.errors import InvalidInput, StaleVersion
from registry.importing import import_projects
from registry.vocab import crs_code
from web import auth, database
from web.api import bp, openapi
from web.api.projects import project_response
from web.import_pages import MAX_UPLOAD_BYTES

_ETAG = re.compile(r'^\s*(?:W/)?"?(?:(\d+)-)?(\d+)"?\s*$')


def expected_version(project_id: int) -> int:
    """The version named by ``If-Match`` (428 when absent, 412 when it names another project)."""
    header = request.headers.get("If-Match")
    if not header:
        raise PreconditionRequired(description="缺少 If-Match 请求头：请先 GET 项目，再用其 ETag 作为 If-Match 提交")
    match = _ETAG.match(header.split(",")[0])
    if match is None:
        raise InvalidInput(f"If-Match 请求头格式不对：{header}（应为项目的 ETag）", {"header": "If-Match"})
    if match[1] is not None and int(match[1]) != project_id:
        raise StaleVersion("If-Match 中的 ETag 属于另一个项目", {"header": "If-Match"})
    return int(match[2])


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("请求体应为 JSON 对象（Content-Type: application/json）", {"field": "body"})
    return body


@bp.post("/projects")
def create_project():
    scope = auth.current_scope()
    auth.require(permissions.can_create_project(scope))
    result = projects.create_project(database.session(), scope=scope, values=json_body(), actor=scope.actor)
    response = project_response(result["id"], 201, warnings=result["warnings"])
    response.headers["Location"] = url_for("api.get_project", project_id=result["id"])
    return response


@bp.patch("/projects/<int:project_id>")
def patch_project(project_id: int):
    scope = auth.require_project(project_id, permissions.can_edit_project)
    version = expected_version(project_id)
    changes = json_body()
    reason = changes.pop("reason", None)
    result = projects.update_project(database.session(), project_id, scope=scope, changes=changes,
                                     expected_version=version, actor=scope.actor, reason=reason)
    return project_response(project_id, warnings=result["warnings"], changed=result["changed"])


@bp.delete("/projects/<int:project_id>")
def delete_project(project_id: int):
    scope = auth.require_project(project_id, permissions.can_edit_project)
    body = request.get_json(silent=True) or {}
    reason = request.args.get("reason") or (body.get("reason") if isinstance(body, dict) else None)
    projects.delete_project(database.session(), project_id, scope=scope, actor=scope.actor,
                            expected_version=expected_version(project_id), reason=reason)
    return "", 204


@bp.post("/projects/<int:project_id>/restore")
def restore_project(project_id: int):
    scope = auth.current_scope()
    auth.require(permissions.can_edit_project(scope))
    projects.restore_project(database.session(), project_id, scope=scope, actor=scope.actor)
    return project_response(project_id)


@bp.post("/projects/<int:project_id>/progress")
def file_progress(project_id: int):
    scope = auth.require_project(project_id, permissions.can_report_progress)
    result = progress.file_progress(database.session(), project_id, scope=scope, report=json_body(),
                                    actor=scope.actor)
    return project_response(project_id, 201, report_id=result["id"], period=result["period"],
                            superseded=result["superseded"], applied=result["applied"],
                            changed=result["changed"])


@bp.get("/projects/<int:project_id>/progress")
def list_progress(project_id: int):
    items = progress.list_reports(database.session(), project_id, scope=auth.current_scope())
    return jsonify({"items": items, "total": len(items)})


@bp.get("/projects/<int:project_id>/history")
def project_history(project_id: int):
    items = progress.history(database.session(), project_id, scope=auth.current_scope())
    return jsonify({"items": items, "total": len(items)})


@bp.post("/projects/preview")
def preview_geometry():
    """Towns and shares for a geometry being drawn, before saving (nothing is written)."""
    scope = auth.current_scope()
    auth.require(permissions.can_create_project(scope) or permissions.can_edit_project(scope))
    body = json_body()
    return jsonify(projects.preview_towns(database.session(), geometry=body.get("geometry"),
                                          wkt=body.get("wkt"), crs=body.get("crs") or "WGS84"))


def _flag(name: str) -> bool:
    return (request.form.get(name) or request.args.get(name) or "").strip().lower() in ("1", "true", "yes", "on", "是")


@bp.post("/imports")
def create_import():
    """Multipart upload ``file`` (+ ``district``, ``crs``, ``sheet``, ``dry_run``, ``strict``,
    ``clear_blanks``, ``restore``) → the import report; another import writing the district → 409;
    a district outside the account's → 403."""
    scope = auth.current_scope()
    auth.require(permissions.can_import(scope))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("请上传 CSV 或 XLSX 文件（表单字段 file）", {"field": "file"})
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput("文件过大（上限 50 MB），请分批导入", {"field": "file"})
    if not data:
        raise InvalidInput("上传的文件是空的", {"field": "file"})
    crs_text = request.form.get("crs") or "WGS84"
    if crs_code(crs_text) is None:
        raise InvalidInput(f"不支持的坐标系“{crs_text}”（可用 WGS84、CGCS2000、GCJ02、BD09）", {"field": "crs"})
    import io
    report = import_projects(database.session(), io.BytesIO(data), filename=upload.filename,
                             default_crs=crs_code(crs_text), sheet=request.form.get("sheet") or None,
                             dry_run=_flag("dry_run"), strict=_flag("strict"),
                             clear_blanks=_flag("clear_blanks"), restore=_flag("restore"), actor=scope.actor,
                             district_code=request.form.get("district") or None,
                             allowed_districts=scope.district_codes)
    return jsonify({**report.to_dict(), "summary": report.summary()}), (201 if report.written else 200)


def _path_id() -> dict:
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}


_IF_MATCH = {"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"},
             "description": "GET 返回的 ETag（或 W/\"版本号\"）"}
_ERR = {code: {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for code, text in (("400", "参数错误（中文说明指出字段）"), ("403", "无权限"), ("404", "不存在或无权查看"),
                           ("409", "冲突（如项目代码重复）"), ("412", "版本已过期：项目已被他人修改"),
                           ("422", "文件无法导入"), ("428", "缺少 If-Match"))}
_PROJECT_INPUT = {"type": "object", "description": "导入模板的英文键（code, name, domain, owner, total_investment, "
                  "stage …），geometry 为 GeoJSON，crs 可选（WGS84/CGCS2000/GCJ02/BD09）",
                  "properties": {"geometry": {"type": "object"}, "crs": {"type": "string"},
                                 "reason": {"type": "string", "description": "阶段退回时必填"}},
                  "additionalProperties": True}
_DETAIL = {"description": "项目（同 GET），含 warnings", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/ProjectDetail"}}}}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


openapi.register_paths({
    "/api/v1/projects": {"post": {"summary": "登记项目", "requestBody": _body(_PROJECT_INPUT),
                                  "responses": {"201": _DETAIL, **{c: _ERR[c] for c in ("400", "403", "409")}}}},
    "/api/v1/projects/{id}": {
        "patch": {"summary": "修改项目（只改所给字段）", "parameters": [_path_id(), _IF_MATCH],
                  "requestBody": _body(_PROJECT_INPUT),
                  "responses": {"200": _DETAIL, **{c: _ERR[c] for c in ("400", "403", "404", "409", "412", "428")}}},
        "delete": {"summary": "删除项目（可恢复）", "parameters": [_path_id(), _IF_MATCH,
                   {"name": "reason", "in": "query", "required": False, "schema": {"type": "string"}}],
                   "responses": {"204": {"description": "已删除"},
                                 **{c: _ERR[c] for c in ("403", "404", "412", "428")}}}},
    "/api/v1/projects/{id}/restore": {"post": {
        "summary": "恢复已删除的项目", "parameters": [_path_id()],
        "responses": {"200": _DETAIL, **{c: _ERR[c] for c in ("403", "404", "409")}}}},
    "/api/v1/projects/{id}/progress": {
        "post": {"summary": "上报月度进度（最新月份的一期更新项目的累计完成投资与阶段；同月再报替换前一期）",
                 "parameters": [_path_id()],
                 "requestBody": _body({"type": "object", "properties": {
                     "period": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$",
                                "description": "上报月份 YYYY-MM，默认上报日期所在月（本月）"},
                     "reported_on": {"type": "string", "format": "date"},
                     "completed_investment": {"type": "number", "description": "累计完成投资（万元）"},
                     "stage": {"type": "string"}, "percent": {"type": "number", "minimum": 0, "maximum": 100},
                     "note": {"type": "string"},
                     "reason": {"type": "string", "description": "阶段退回或累计完成投资低于上月时必填"},
                     "actual_start": {"type": "string", "format": "date"},
                     "actual_end": {"type": "string", "format": "date"}}}),
                 "responses": {"201": _DETAIL, **{c: _ERR[c] for c in ("400", "403", "404")}}},
        "get": {"summary": "进度上报记录（按月份；被替换的一期带 superseded_by）", "parameters": [_path_id()],
                "responses": {"200": {"description": "items: 上报记录"}, "404": _ERR["404"]}}},
    "/api/v1/projects/{id}/history": {"get": {
        "summary": "项目历史：谁、何时、改了什么（前 → 后）", "parameters": [_path_id()],
        "responses": {"200": {"description": "items: action, actor, at, changes[{field, label, before, after}]"},
                      "404": _ERR["404"]}}},
    "/api/v1/projects/preview": {"post": {
        "summary": "预览几何所属镇街与份额（不保存）",
        "requestBody": _body({"type": "object", "properties": {"geometry": {"type": "object"},
                                                               "wkt": {"type": "string"},
                                                               "crs": {"type": "string"}}}),
        "responses": {"200": {"description": "geometry（WGS84）、inside、towns[{code, name, share}]、"
                                             "warnings[{kind: partly_outside, message}]（区外长度/面积）"},
                      **{c: _ERR[c] for c in ("400", "403")}}}},
    "/api/v1/imports": {"post": {
        "summary": "导入 CSV/XLSX（dry_run=1 只校验不写入）",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary"}, "crs": {"type": "string"},
                "sheet": {"type": "string"}, "dry_run": {"type": "boolean"}, "strict": {"type": "boolean"},
                "clear_blanks": {"type": "boolean", "description": "已有项目的空白单元格清空库中的值"},
                "restore": {"type": "boolean", "description": "恢复并更新已删除的项目"}}}}}},
        "responses": {"200": {"description": "导入报告（未写入：预览或严格模式拒绝）；changes 为每个已有项目将改动的字段"},
                      "201": {"description": "导入报告（已写入）"},
                      **{c: _ERR[c] for c in ("400", "403", "409", "422")}}}},
})
