"""Progress reports and a project's history (DESIGN §1, §2, §5).

A progress report belongs to a reporting month (``period``, ``YYYY-MM``, 月度调度) and carries the
cumulative completed investment (累计完成投资), stage, physical progress in percent and a note;
it is filed by the bureau or by the officials of a town the project lies in. The latest month's
report updates the project through the life-cycle rules, so lists, figures and maps show it.
Reports are kept: a second report for the same month supersedes the first (DESIGN §9), which
stays, marked, for the timeline and the audit trail.

``history`` reads a project's audit trail: create, update, delete, restore, progress and import
(each import writes one entry per project it adds or changes).
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Numeric, String, Text, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry import audit, fields, lifecycle, periods, permissions
from registry.errors import Forbidden, InvalidInput, NotFound
from registry.models import AuditEntry, Base, Money, Project, Timestamp
from registry.projects import apply_values, locked_project
from registry.scope import Scope, project_clause
from registry.template import header_label
from registry.validation import parse_date, parse_decimal
from registry.vocab import stage_code


class ProgressReport(Base):
    """One monthly progress figure of a project (migrations 0003_progress_reports, 0008).

    ``completed_investment`` is cumulative (累计完成投资). One current report per project and
    ``period``; a later one for the same month supersedes it (kept, ``superseded_at`` set).
    """
    __tablename__ = "progress_reports"
    __table_args__ = (Index("uq_progress_reports_current_period", "project_id", "period", unique=True,
                            postgresql_where=text("superseded_at IS NULL")),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"))
    period: Mapped[str] = mapped_column(String(7))
    reported_on: Mapped[dt.date] = mapped_column(Date)
    completed_investment: Mapped[Decimal | None] = mapped_column(Money)
    stage: Mapped[str | None] = mapped_column(String(16))
    percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    superseded_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey("progress_reports.id"))


REPORT_KEYS = ("period", "reported_on", "completed_investment", "stage", "percent", "note", "reason",
               "actual_start", "actual_end")
REPORT_LABELS = {"period": "上报月份", "reported_on": "上报日期", "completed_investment": "累计完成投资（万元）",
                 "stage": "项目阶段", "percent": "形象进度（%）", "note": "进展说明", "reason": "退回或调减原因",
                 "actual_start": "实际开工", "actual_end": "实际竣工"}
ACTION_LABELS = {"create": "登记", "update": "修改", "delete": "删除", "restore": "恢复",
                 "progress": "进度上报", "import": "导入", "rematch": "镇街边界调整"}
# What the history shows besides the declared fields (registry.fields.LABELS).


class _Problems:
    """Every problem of one submission, so a form or an API client sees them all at once."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.unknown: list[str] = []

    def add(self, key: str, message: str, rule: str | None = None) -> None:
        label = REPORT_LABELS.get(key)
        item = {"field": key, "message": f"{label}：{message}" if label else message}
        if rule:
            item["rule"] = rule
        self.items.append(item)

    def raise_any(self) -> None:
        if not self.items:
            return
        by_field: dict[str, list[str]] = {}
        for problem in self.items:
            by_field.setdefault(problem["field"], []).append(problem["message"])
        details: dict = {"field": self.items[0]["field"], "problems": self.items, "by_field": by_field}
        if self.unknown:
            details["fields"] = self.unknown
        raise InvalidInput("；".join(p["message"] for p in self.items), details)


def _parse(report: Mapping[str, Any], today: dt.date) -> tuple[dict, _Problems]:
    """Typed values of a progress report (JSON or form fields) and the problems found."""
    problems = _Problems()
    unknown = sorted(set(report) - set(REPORT_KEYS))
    if unknown:
        problems.unknown = unknown
        problems.add("_form", "无法识别的字段：" + "、".join(unknown))
    text = {k: str(v).strip() for k, v in report.items() if v is not None and str(v).strip()}
    out: dict[str, Any] = {"note": text.get("note"), "reason": text.get("reason")}
    for key in ("reported_on", "actual_start", "actual_end"):
        parsed = parse_date(text[key]) if key in text else None
        if key in text and parsed is None:
            problems.add(key, f"“{text[key]}”不是有效日期（应为 YYYY-MM-DD）")
        out[key] = parsed[0] if parsed else None
        if out[key] is not None and out[key] > today:
            problems.add(key, "不能晚于今天")
    out["reported_on"] = out["reported_on"] or today
    out["period"] = None
    try:
        out["period"] = periods.parse(text.get("period"), default=periods.of_date(out["reported_on"]))
    except InvalidInput:
        problems.add("period", f"“{text['period']}”格式不对（应为 YYYY-MM，如 {periods.current(today)}）")
    if out["period"] and out["period"] > periods.of_date(today):
        problems.add("period", "不能晚于本月")
    elif out["period"] and "reported_on" in text and out["reported_on"] < periods.first_day(out["period"]):
        problems.add("reported_on", f"早于上报月份 {periods.label(out['period'])}")
    for key, limit in (("completed_investment", None), ("percent", Decimal(100))):
        value = parse_decimal(text[key]) if key in text else None
        if key in text and value is None:
            problems.add(key, f"“{text[key]}”不是数字")
        elif value is not None and (value < 0 or (limit is not None and value > limit)):
            problems.add(key, "应在 0–100 之间" if limit else "不能为负数")
            value = None
        out[key] = None if value is None else value.quantize(
            Decimal("0.1") if limit else Decimal("0.01"), ROUND_HALF_UP)
    out["stage"] = None
    if "stage" in text:
        out["stage"] = stage_code(text["stage"])
        if out["stage"] is None:
            problems.add("stage", f"未知的项目阶段“{text['stage']}”")
    if not problems.items and all(out[k] is None for k in ("completed_investment", "stage", "percent", "note")):
        problems.add("completed_investment", "进度上报至少应填写累计完成投资、项目阶段、形象进度或进展说明之一")
    return out, problems


def file_progress(session: Session, project_id: int, *, scope: Scope, report: Mapping[str, Any],
                  actor: str) -> dict:
    """File the month's progress report; the latest month's report updates the project.
    Audited, committed.

    Bureau and admin may report on any project, town officials on their towns' projects. A second
    report for the same project and month supersedes the first (kept, marked, named in the audit
    entry). A backward stage move takes its reason from ``reason`` (else the note); a cumulative
    figure below the previous month's needs ``reason``. Every problem is raised at once.
    Returns ``{"id", "project_id", "period", "version", "applied", "changed", "superseded"}``.
    """
    project = locked_project(session, project_id, scope)  # NotFound when out of scope
    if not permissions.can_report_progress(scope):
        raise Forbidden("没有上报此项目进度的权限")
    values, problems = _parse(report, dt.date.today())
    current = {r.period: r for r in session.scalars(
        select(ProgressReport).where(ProgressReport.project_id == project_id,
                                     ProgressReport.superseded_at.is_(None)))}
    _check_against_project(project, values, current, problems)
    problems.raise_any()

    period = values["period"]
    replaced = current.pop(period, None)
    if replaced is not None:  # the index allows one current report a month: mark first
        replaced.superseded_at = func.now()
        session.flush()
    row = ProgressReport(project_id=project_id, district_code=project.district_code, created_by=actor,
                         **{k: values[k] for k in ("period", "reported_on", "completed_investment", "stage",
                                                   "percent", "note")})
    session.add(row)
    session.flush()
    details: dict = {"report": report_dict(row)}
    if replaced is not None:
        replaced.superseded_by = row.id
        session.flush()
        session.refresh(replaced)
        details["superseded"] = report_dict(replaced)
    applied = all(other < period for other in current)
    changed: list[str] = []
    if applied:
        changed = apply_values(session, project, _project_values(project, values), actor=actor,
                               action="progress", reason=_stage_reason(values), details=details,
                               reported_completed=_highest_reported(current, values))["changed"]
    if not changed:
        details["applied"] = False if not applied else "unchanged"
        audit.record(session, actor=actor, action="progress", entity="project", entity_id=project_id,
                     district_code=project.district_code, details=details)
    session.commit()
    return {"id": row.id, "project_id": project_id, "period": period, "version": project.version,
            "applied": applied, "changed": changed,
            "superseded": None if replaced is None else replaced.id}


def _project_values(project: Project, values: dict) -> dict:
    typed = {f: getattr(project, f) for f in ("stage", "completed_investment", "actual_start",
                                              "actual_end", "total_investment")}
    typed.update({k: values[k] for k in ("stage", "completed_investment", "actual_start", "actual_end")
                  if values[k] is not None})
    return typed


def _stage_reason(values: dict) -> str | None:
    return values["reason"] or values["note"]


def _highest_reported(current: dict, values: dict) -> Decimal | None:
    figures = [r.completed_investment for r in current.values() if r.completed_investment is not None]
    if values["completed_investment"] is not None:
        figures.append(values["completed_investment"])
    return max(figures, default=None)


def previous_figure(current: Mapping[str, "ProgressReport"], period: str) -> "ProgressReport | None":
    """The latest current report before ``period`` that carries a cumulative figure."""
    earlier = [r for p, r in current.items() if p < period and r.completed_investment is not None]
    return max(earlier, key=lambda r: r.period, default=None)


def _check_cumulative(project: Project, completed: Decimal, period: str, current: dict, problems: _Problems) -> None:
    """A cumulative figure only grows: lower than an earlier month's report, or higher than a later
    month's, needs a reason. (A second report for the same month is a correction: it may lower.)"""
    previous = previous_figure(current, period)
    if previous is not None and completed < previous.completed_investment:
        problems.add("reason", f"累计完成投资 {completed} 万元低于 {periods.label(previous.period)} 上报的 "
                               f"{previous.completed_investment} 万元，须填写调减原因", "cumulative_decrease")
    later = [r for p, r in current.items() if p > period and r.completed_investment is not None]
    following = min(later, key=lambda r: r.period, default=None)
    if following is not None and completed > following.completed_investment:
        problems.add("reason", f"累计完成投资 {completed} 万元高于 {periods.label(following.period)} 上报的 "
                               f"{following.completed_investment} 万元（累计数只增不减），须填写原因",
                     "cumulative_decrease")


def _check_against_project(project: Project, values: dict, current: dict, problems: _Problems) -> None:
    """The checks that need the stored project and its reports (added to ``problems``)."""
    completed = values["completed_investment"]
    if completed is not None and completed > project.total_investment:
        problems.add("completed_investment", f"{completed} 万元大于总投资 {project.total_investment} 万元")
    if completed is not None and values["period"] and not values["reason"]:
        _check_cumulative(project, completed, values["period"], current, problems)
    if problems.items or not values["period"] or any(p > values["period"] for p in current):
        return  # the stage rules apply only to a report that will update the project
    try:
        lifecycle.apply_stage_rules(
            {f: getattr(project, f) for f in ("stage", "stage_before_suspension", "actual_start",
                                              "actual_end", "completed_investment")},
            _project_values(project, values), reason=_stage_reason(values),
            reported_completed=_highest_reported(
                {p: r for p, r in current.items() if p != values["period"]}, values))
    except InvalidInput as exc:
        field = (exc.details or {}).get("field") or "stage"
        problems.items.append({"field": field, "message": exc.message,
                               "rule": (exc.details or {}).get("rule")})


def report_dict(row: ProgressReport) -> dict:
    return {"id": row.id, "period": row.period, "reported_on": row.reported_on.isoformat(),
            "completed_investment": None if row.completed_investment is None else float(row.completed_investment),
            "stage": row.stage, "stage_label": lifecycle.label(row.stage) if row.stage else None,
            "percent": None if row.percent is None else float(row.percent), "note": row.note,
            "created_by": row.created_by,
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "superseded_at": row.superseded_at.isoformat() if row.superseded_at else None,
            "superseded_by": row.superseded_by}


def _visible(session: Session, project_id: int, scope: Scope) -> Project:
    """A project in scope; deleted ones only for those who may restore them."""
    project = session.scalars(select(Project).where(Project.id == project_id, project_clause(scope))).first()
    if (project is None or scope.role not in permissions.SIGNED_IN
            or (project.deleted_at is not None and not permissions.can_edit_project(scope))):
        raise NotFound(f"项目 {project_id} 不存在或无权查看", {"id": project_id})
    return project


def list_reports(session: Session, project_id: int, *, scope: Scope) -> list[dict]:
    """A project's progress reports, oldest month first, superseded ones before their successor."""
    _visible(session, project_id, scope)
    rows = session.scalars(select(ProgressReport).where(ProgressReport.project_id == project_id)
                           .order_by(ProgressReport.period, ProgressReport.id))
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
    return fields.LABELS.get(field) or fields.EXTRA_LABELS.get(field) or header_label(field)
