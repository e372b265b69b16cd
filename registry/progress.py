"""Progress reports and a project's history (DESIGN §1, §2, §5).

A progress report is a dated figure — completed investment, stage, physical progress in percent,
a note — filed by the bureau or by the officials of a town the project lies in. The latest report
(by its date) updates the project through the life-cycle rules, so lists, figures and maps show
it. Reports are kept (append-only) for the project page's timeline and chart.

``history`` reads a project's audit trail: create, update, delete, restore, progress and import
(each import writes one entry per project it adds or changes).
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

from sqlalchemy import BigInteger, Date, ForeignKey, Numeric, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry import audit, lifecycle, permissions
from registry.errors import Forbidden, InvalidInput, NotFound
from registry.models import AuditEntry, Base, Money, Project, Timestamp
from registry.projects import apply_values, locked_project
from registry.scope import Scope, project_clause
from registry.template import header_label
from registry.validation import parse_date, parse_decimal
from registry.vocab import stage_code


class ProgressReport(Base):
    """One dated progress figure of a project (migration 0003_progress_reports)."""
    __tablename__ = "progress_reports"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"))
    reported_on: Mapped[dt.date] = mapped_column(Date)
    completed_investment: Mapped[Decimal | None] = mapped_column(Money)
    stage: Mapped[str | None] = mapped_column(String(16))
    percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())


REPORT_KEYS = ("reported_on", "completed_investment", "stage", "percent", "note", "reason",
               "actual_start", "actual_end")
REPORT_LABELS = {"reported_on": "上报日期", "completed_investment": "已完成投资（万元）",
                 "stage": "项目阶段", "percent": "形象进度（%）", "note": "进展说明", "reason": "退回原因",
                 "actual_start": "实际开工", "actual_end": "实际竣工"}
ACTION_LABELS = {"create": "登记", "update": "修改", "delete": "删除", "restore": "恢复",
                 "progress": "进度上报", "import": "导入", "rematch": "镇街边界调整"}
FIELD_LABELS = {"domain_code": "领域", "declared_town": "所属镇街", "source_crs": "坐标系",
                "stage_before_suspension": "暂缓前阶段", "primary_town_code": "主要镇街",
                "deleted_at": "删除时间", "geometry": "位置（几何）", "towns": "所属镇街（份额）"}


def _bad(key: str, message: str) -> None:
    raise InvalidInput(f"{REPORT_LABELS[key]}：{message}", {"field": key})


def parse_report(report: Mapping[str, Any], *, today: dt.date | None = None) -> dict:
    """Typed values of a progress report (JSON or form fields); bad values raise InvalidInput."""
    unknown = sorted(set(report) - set(REPORT_KEYS))
    if unknown:
        raise InvalidInput("无法识别的字段：" + "、".join(unknown), {"fields": unknown})
    text = {k: str(v).strip() for k, v in report.items() if v is not None and str(v).strip()}
    today = today or dt.date.today()
    out: dict[str, Any] = {"note": text.get("note"), "reason": text.get("reason")}
    for key in ("reported_on", "actual_start", "actual_end"):
        parsed = parse_date(text[key]) if key in text else None
        if key in text and parsed is None:
            _bad(key, f"“{text[key]}”不是有效日期（应为 YYYY-MM-DD）")
        out[key] = parsed[0] if parsed else None
        if out[key] is not None and out[key] > today:
            _bad(key, "不能晚于今天")
    out["reported_on"] = out["reported_on"] or today
    for key, limit in (("completed_investment", None), ("percent", Decimal(100))):
        value = parse_decimal(text[key]) if key in text else None
        if key in text and value is None:
            _bad(key, f"“{text[key]}”不是数字")
        if value is not None and (value < 0 or (limit is not None and value > limit)):
            _bad(key, "应在 0–100 之间" if limit else "不能为负数")
        out[key] = None if value is None else value.quantize(
            Decimal("0.1") if limit else Decimal("0.01"), ROUND_HALF_UP)
    out["stage"] = None
    if "stage" in text:
        out["stage"] = stage_code(text["stage"])
        if out["stage"] is None:
            _bad("stage", f"未知的项目阶段“{text['stage']}”")
    if all(out[k] is None for k in ("completed_investment", "stage", "percent", "note")):
        raise InvalidInput("进度上报至少应填写已完成投资、项目阶段、形象进度或进展说明之一",
                           {"field": "completed_investment"})
    return out


def file_progress(session: Session, project_id: int, *, scope: Scope, report: Mapping[str, Any],
                  actor: str) -> dict:
    """File a progress report; the latest one (by date) updates the project. Audited, committed.

    Bureau and admin may report on any project, town officials on their towns' projects. A
    backward stage move takes its reason from ``reason`` (else the note).
    Returns ``{"id", "project_id", "version", "applied", "changed"}``.
    """
    project = locked_project(session, project_id, scope)  # NotFound when out of scope
    if not permissions.can_report_progress(scope):
        raise Forbidden("没有上报此项目进度的权限")
    values = parse_report(report)
    if values["completed_investment"] is not None and values["completed_investment"] > project.total_investment:
        _bad("completed_investment",
             f"{values['completed_investment']} 万元大于总投资 {project.total_investment} 万元")
    latest = session.scalar(select(func.max(ProgressReport.reported_on))
                            .where(ProgressReport.project_id == project_id))
    row = ProgressReport(project_id=project_id, district_code=project.district_code, created_by=actor,
                         **{k: values[k] for k in ("reported_on", "completed_investment", "stage",
                                                   "percent", "note")})
    session.add(row)
    session.flush()
    details = {"report": report_dict(row)}
    applied = latest is None or values["reported_on"] >= latest
    changed: list[str] = []
    if applied:
        typed = {f: getattr(project, f) for f in ("stage", "completed_investment", "actual_start",
                                                  "actual_end", "total_investment")}
        typed.update({k: values[k] for k in ("stage", "completed_investment", "actual_start", "actual_end")
                      if values[k] is not None})
        reported = session.scalar(select(func.max(ProgressReport.completed_investment))
                                  .where(ProgressReport.project_id == project_id))
        changed = apply_values(session, project, typed, actor=actor, action="progress",
                               reason=values["reason"] or values["note"], details=details,
                               reported_completed=reported)["changed"]
    if not changed:
        details["applied"] = False if not applied else "unchanged"
        audit.record(session, actor=actor, action="progress", entity="project", entity_id=project_id,
                     district_code=project.district_code, details=details)
    session.commit()
    return {"id": row.id, "project_id": project_id, "version": project.version, "applied": applied,
            "changed": changed}


def report_dict(row: ProgressReport) -> dict:
    return {"id": row.id, "reported_on": row.reported_on.isoformat(),
            "completed_investment": None if row.completed_investment is None else float(row.completed_investment),
            "stage": row.stage, "stage_label": lifecycle.label(row.stage) if row.stage else None,
            "percent": None if row.percent is None else float(row.percent), "note": row.note,
            "created_by": row.created_by,
            "created_at": row.created_at.isoformat() if row.created_at else None}


def _visible(session: Session, project_id: int, scope: Scope) -> Project:
    """A project in scope; deleted ones only for those who may restore them."""
    project = session.scalars(select(Project).where(Project.id == project_id, project_clause(scope))).first()
    if (project is None or scope.role not in permissions.SIGNED_IN
            or (project.deleted_at is not None and not permissions.can_edit_project(scope))):
        raise NotFound(f"项目 {project_id} 不存在或无权查看", {"id": project_id})
    return project


def list_reports(session: Session, project_id: int, *, scope: Scope) -> list[dict]:
    """A project's progress reports, oldest first (timeline and chart)."""
    _visible(session, project_id, scope)
    rows = session.scalars(select(ProgressReport).where(ProgressReport.project_id == project_id)
                           .order_by(ProgressReport.reported_on, ProgressReport.id))
    return [report_dict(row) for row in rows]


def history(session: Session, project_id: int, *, scope: Scope) -> list[dict]:
    """Who did what to a project and when, newest first, each with its field changes."""
    _visible(session, project_id, scope)
    entries = [_entry(e.at, e.actor, e.action, e.before, e.after, e.details, e.id) for e in session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "project", AuditEntry.entity_id == str(project_id),
                                 AuditEntry.action.in_(ACTION_LABELS)))]
    # one transaction stamps its entries with one time: the audit id breaks the tie
    entries.sort(key=lambda e: (e["at"], e.pop("_order")), reverse=True)
    for entry in entries:
        entry["at"] = entry["at"].isoformat()
    return entries


def _entry(at, actor, action, before, after, details, order: int) -> dict:
    before, after = before or {}, after or {}
    changes = [{"field": f, "label": field_label(f), "before": before.get(f), "after": after.get(f)}
               for f in dict.fromkeys([*before, *after])]
    return {"at": at, "actor": actor, "action": action,
            "action_label": ACTION_LABELS.get(action, action), "changes": changes,
            "details": details or {}, "_order": order}


def field_label(field: str) -> str:
    """The Chinese label of a project field in the history."""
    return FIELD_LABELS.get(field) or header_label(field)
