"""The web import (DESIGN §4): upload → preview report (a dry run, per row, downloadable as XLSX)
→ confirm → result; and the empty template as a workbook with notes and drop-down lists.

Between preview and confirmation the upload waits in a private directory under a random token
bound to the user who sent it; nothing reaches the registry before confirmation. The preview lists
the rows it is about to write and every field they change or clear; ticking 清空空白单元格 or
恢复已删除的项目 previews again with that option, and the confirmation writes with the options and
the project versions the preview showed (a project edited since is an ``edit_conflict`` row).
"""
from __future__ import annotations

import io
import json
import os
import re
import secrets
import time
from pathlib import Path

from flask import Blueprint, redirect, render_template, request, send_file, url_for

from registry import permissions
from registry.district_fit import importable_districts
from registry.errors import ImportRejected, InvalidInput, NotFound
from registry.import_report import ImportReport, Problem, shown
from registry.importing import import_projects
from registry.template_workbook import write_template_xlsx
from registry.vocab import CRS_NAMES, DOMAINS, crs_code
from web import auth, database, uploads

bp = Blueprint("imports", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEEP_SECONDS = 24 * 3600
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


@bp.app_template_filter("change_value")
def change_value(value) -> str:
    """A change-list value for the page: lists joined, 是/否, empty as （空）."""
    text = shown(value)
    return "（空）" if text in (None, "") else text


def _upload_dir() -> Path:
    path = uploads.check_private_dir(uploads.upload_dir())
    cutoff = time.time() - KEEP_SECONDS
    for old in path.iterdir():  # forgotten previews do not pile up
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    return path


def _require_import():
    scope = auth.current_scope()
    auth.require(permissions.can_import(scope))
    return scope


def _stored(token: str, actor: str) -> tuple[bytes, dict]:
    """The waiting upload and its metadata, only for the user who sent it."""
    if not _TOKEN.match(token):
        raise NotFound("导入预览不存在或已过期，请重新上传")
    directory = _upload_dir()
    meta_path, data_path = directory / f"{token}.json", directory / f"{token}.bin"
    if not meta_path.exists() or not data_path.exists():
        raise NotFound("导入预览不存在或已过期，请重新上传")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta["actor"] != actor:
        raise NotFound("导入预览不存在或已过期，请重新上传")
    return data_path.read_bytes(), meta


def _render_upload(error: str | None = None, status: int = 200):
    scope = auth.current_scope()
    districts = importable_districts(database.session(), scope.district_codes)
    return render_template("import_upload.html", error=error, crs_names=CRS_NAMES, districts=districts,
                           chosen=request.form.get("district")), status


def _options(form) -> dict:
    """The re-import options of a form: 清空空白单元格 and 恢复已删除的项目."""
    return {"clear_blanks": form.get("clear_blanks") in ("1", "on"), "restore": form.get("restore") in ("1", "on")}


def _dry_run(data: bytes, meta: dict, scope) -> ImportReport:
    return import_projects(database.session(), io.BytesIO(data), filename=meta["filename"],
                           default_crs=meta["crs"], sheet=meta["sheet"], dry_run=True, actor=scope.actor,
                           district_code=meta.get("district"), allowed_districts=scope.district_codes,
                           **meta["options"])


def _save_preview(token: str, meta: dict, report: ImportReport):
    meta.update(report=report.to_dict(), versions=report.versions)
    directory = _upload_dir()
    draft = directory / f".{token}.{secrets.token_hex(4)}.json"  # a re-preview replaces the file
    uploads.write_private(draft, json.dumps(meta, ensure_ascii=False).encode("utf-8"))
    os.replace(draft, directory / f"{token}.json")
    return render_template("import_preview.html", report=report, token=token, meta=meta)


@bp.get("/imports")
def upload_form():
    _require_import()
    return _render_upload()


@bp.post("/imports/preview")
def preview():
    scope = _require_import()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_upload("请选择要导入的 CSV 或 XLSX 文件", 400)
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    if not data or len(data) > MAX_UPLOAD_BYTES:
        return _render_upload("文件是空的" if not data else "文件过大（上限 50 MB），请分批导入", 400)
    crs = crs_code(request.form.get("crs") or "WGS84")
    if crs is None:
        return _render_upload("请选择有效的坐标系", 400)
    sheet = request.form.get("sheet") or None
    # the district picker (several districts loaded): blank = the only one there is
    meta = {"actor": scope.actor, "filename": upload.filename, "crs": crs, "sheet": sheet,
            "district": request.form.get("district") or None, "options": _options(request.form)}
    try:
        report = _dry_run(data, meta, scope)
    except (ImportRejected, InvalidInput) as exc:
        return _render_upload(exc.message, 422)
    token = secrets.token_urlsafe(24)
    uploads.write_private(_upload_dir() / f"{token}.bin", data)
    return _save_preview(token, meta, report)


@bp.post("/imports/<token>/options")
def preview_again(token: str):
    """Preview the waiting upload again with other options (nothing is written)."""
    scope = _require_import()
    data, meta = _stored(token, scope.actor)
    meta["options"] = _options(request.form)
    return _save_preview(token, meta, _dry_run(data, meta, scope))


@bp.get("/imports/<token>/report.xlsx")
def report_xlsx(token: str):
    scope = _require_import()
    _data, meta = _stored(token, scope.actor)
    saved = meta.get("result") or meta["report"]
    report = ImportReport(**{k: saved[k] for k in ("imported", "updated", "unchanged", "rejected",
                                                   "dry_run", "written", "batch_id")},
                          problems=[Problem(**p) for p in saved["problems"]],
                          changes=saved.get("changes", []))
    out = io.BytesIO()
    report.write_xlsx(out)
    out.seek(0)
    name = os.path.splitext(meta["filename"])[0] + "-导入报告.xlsx"
    return send_file(out, mimetype=XLSX, as_attachment=True, download_name=name)


@bp.post("/imports/<token>/confirm")
def confirm(token: str):
    scope = _require_import()
    data, meta = _stored(token, scope.actor)
    # one import per district at a time: a busy district is refused (409), the upload kept
    report = import_projects(database.session(), io.BytesIO(data), filename=meta["filename"],
                             default_crs=meta["crs"], sheet=meta["sheet"], actor=scope.actor,
                             district_code=meta.get("district"), allowed_districts=scope.district_codes,
                             expected_versions=meta.get("versions") or {}, **meta.get("options", {}))
    directory = _upload_dir()
    (directory / f"{token}.bin").unlink(missing_ok=True)
    meta["result"] = report.to_dict()
    (directory / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return redirect(url_for("imports.result", token=token))


@bp.get("/imports/<token>/result")
def result(token: str):
    scope = _require_import()
    if not _TOKEN.match(token):
        raise NotFound("导入记录不存在")
    meta_path = _upload_dir() / f"{token}.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else None
    if meta is None or meta["actor"] != scope.actor or "result" not in meta:
        raise NotFound("导入记录不存在或已过期")
    return render_template("import_result.html", result=meta["result"], meta=meta, token=token)


@bp.get("/imports/template.xlsx")
def template_xlsx():
    """The empty import template (any signed-in user may fetch it)."""
    labels = [zh for zh, _, _ in DOMAINS.values()]
    out = io.BytesIO()
    write_template_xlsx(out, domain_labels=labels)
    out.seek(0)
    return send_file(out, mimetype=XLSX, as_attachment=True, download_name="设备更新项目导入模板.xlsx")
