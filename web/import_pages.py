"""The web import (DESIGN §4): upload → preview report (a dry run, per row, downloadable as XLSX)
→ confirm → result; and the empty template as a workbook with notes and drop-down lists.

Between preview and confirmation the upload waits in a private directory under a random token
bound to the user who sent it; nothing reaches the registry before confirmation.
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
from sqlalchemy import select

from registry import permissions
from registry.errors import ImportRejected, InvalidInput, NotFound
from registry.import_report import ImportReport, Problem
from registry.importing import import_projects
from registry.models import Domain
from registry.template_workbook import write_template_xlsx
from registry.vocab import CRS_NAMES, crs_code
from web import auth, database, uploads

bp = Blueprint("imports", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEEP_SECONDS = 24 * 3600
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


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
    return render_template("import_upload.html", error=error, crs_names=CRS_NAMES), status


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
    try:
        report = import_projects(database.session(), io.BytesIO(data), filename=upload.filename,
                                 default_crs=crs, sheet=sheet, dry_run=True, actor=scope.actor)
    except (ImportRejected, InvalidInput) as exc:
        return _render_upload(exc.message, 422)
    token = secrets.token_urlsafe(24)
    directory = _upload_dir()
    uploads.write_private(directory / f"{token}.bin", data)
    meta = {"actor": scope.actor, "filename": upload.filename, "crs": crs, "sheet": sheet,
            "report": report.to_dict()}
    uploads.write_private(directory / f"{token}.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))
    return render_template("import_preview.html", report=report, token=token, meta=meta)


@bp.get("/imports/<token>/report.xlsx")
def report_xlsx(token: str):
    scope = _require_import()
    _data, meta = _stored(token, scope.actor)
    saved = meta.get("result") or meta["report"]
    report = ImportReport(**{k: saved[k] for k in ("imported", "updated", "unchanged", "rejected",
                                                   "dry_run", "written", "batch_id")},
                          problems=[Problem(**p) for p in saved["problems"]])
    out = io.BytesIO()
    report.write_xlsx(out)
    out.seek(0)
    name = os.path.splitext(meta["filename"])[0] + "-导入报告.xlsx"
    return send_file(out, mimetype=XLSX, as_attachment=True, download_name=name)


@bp.post("/imports/<token>/confirm")
def confirm(token: str):
    scope = _require_import()
    data, meta = _stored(token, scope.actor)
    report = import_projects(database.session(), io.BytesIO(data), filename=meta["filename"],
                             default_crs=meta["crs"], sheet=meta["sheet"], actor=scope.actor)
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
    labels = list(database.session().scalars(select(Domain.label_zh).where(Domain.active)
                                             .order_by(Domain.sort_order)))
    out = io.BytesIO()
    write_template_xlsx(out, domain_labels=labels)
    out.seek(0)
    return send_file(out, mimetype=XLSX, as_attachment=True, download_name="设备更新项目导入模板.xlsx")
