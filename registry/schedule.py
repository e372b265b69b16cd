"""The monthly 调度表 workbook (XLSX) a county sends upward (月度调度, DESIGN §9).

Sheet 1 目标进度: the plan targets as of the month's end (``registry.target_output.targets_sheet``,
the same sheet as ``eqreg targets report --format xlsx``).
Sheet 2 项目调度: one row per project in construction, or completed in the month's year, with the
month's and cumulative completed investment from the progress reports, and a total row.
Sheet 3 本月未上报: the projects due and not reported for the month (``registry.unreported``).

Scoped like every export: a town official's workbook holds their towns' projects. Money in 万元;
the month's figures are those of ``registry.figures.month_cumulative`` (the API's
``group_by=month``), so the totals agree with it. Text cells are never formulas.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import IO

from sqlalchemy import Float, and_, cast, extract, or_, select
from sqlalchemy.orm import Session, aliased

from registry import audit, periods, target_report, unreported
from registry.cells import append_xlsx_row
from registry.figures import scope_weight, month_cumulative
from registry.filters import ProjectFilters
from registry.models import Project, Town
from registry.progress import ProgressReport
from registry.target_output import targets_sheet
from registry.scope import Scope, project_clause
from registry.vocab import DOMAINS, STAGES, label

PROJECT_HEADERS = ("序号", "项目代码", "项目名称", "领域", "所属镇街", "建设单位", "总投资（万元）",
                   "本月完成投资（万元）", "累计完成投资（万元）", "形象进度（%）", "项目阶段",
                   "存在问题/进展说明")
MONEY_COLUMNS = (7, 8, 9)  # 1-based, in PROJECT_HEADERS
MISSING_HEADERS = ("序号", "所属镇街", "项目代码", "项目名称", "领域", "项目阶段", "建设单位",
                   "最近上报月份")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class ScheduleReport:
    """What the workbook is for: whose scope, which month."""
    session: Session
    scope: Scope
    period: str
    filters: ProjectFilters = field(default_factory=ProjectFilters)

    @property
    def as_of(self) -> dt.date:
        """The month's last day, or today while the month runs."""
        return min(periods.last_day(self.period), dt.date.today())

    @property
    def year(self) -> int:
        return int(self.period[:4])


def write_schedule(session: Session, out: str | IO[bytes], *, scope: Scope, period: str,
                   filters: ProjectFilters | None = None, as_of: dt.date | None = None,
                   district: str | None = None) -> dict:
    """Write the month's 调度表 to ``out`` (a path or a binary stream).

    Returns ``{"period", "projects", "not_reported", "increase", "completed_investment",
    "total_investment"}`` (the totals of sheet 2) for the caller's audit entry.
    """
    from openpyxl import Workbook

    report = ScheduleReport(session, scope, period, filters or ProjectFilters())
    workbook = Workbook()
    workbook.remove(workbook.active)
    targets_sheet(workbook, target_report.report(session, scope, as_of=as_of or report.as_of,
                                                 district=district))
    summary = _projects_sheet(workbook.create_sheet("项目调度"), report)
    groups = unreported.not_reported(session, scope, period, report.filters)
    _missing_sheet(workbook.create_sheet("本月未上报"), groups)
    workbook.save(out)
    return {"period": period, **summary, "not_reported": unreported.count(groups)}


def export_schedule(session: Session, out: str | IO[bytes], *, scope: Scope, period: str, actor: str,
                    filters: ProjectFilters | None = None, as_of: dt.date | None = None,
                    district: str | None = None) -> dict:
    """``write_schedule`` and an audit entry (like every export); commits the audit entry."""
    summary = write_schedule(session, out, scope=scope, period=period, filters=filters, as_of=as_of,
                             district=district)
    audit.record(session, actor=actor, action="export", entity="schedule",
                 details={"format": "xlsx", **summary,
                          "filters": {k: v for k, v in vars(filters or ProjectFilters()).items() if v}})
    session.commit()
    return summary


def schedule_rows(report: ScheduleReport) -> list[dict]:
    """Sheet 2's projects, by town then code, with the month's figures (万元). A town official's
    workbook counts each project's money by its share in their towns, like every per-town figure
    (DESIGN §3), so its totals equal ``GET /stats?group_by=month`` for them too."""
    period = report.period
    month = month_cumulative([periods.shift(period, -1), period])
    current = month.c.period == period
    town = aliased(Town)
    latest = ProgressReport
    percent = (select(latest.percent).where(latest.project_id == Project.id, latest.superseded_at.is_(None),
                                            latest.period <= period, latest.percent.is_not(None))
               .order_by(latest.period.desc()).limit(1).correlate(Project).scalar_subquery())
    this_month = aliased(ProgressReport)
    weight = scope_weight(report.scope).label("weight")
    query = (select(Project.code, Project.name, Project.domain_code, town.name.label("town_name"), weight,
                    Project.owner, cast(Project.total_investment, Float).label("total"),
                    month.c.cum, month.c.before, this_month.id.label("report_id"), this_month.note,
                    percent.label("percent"), Project.stage)
             .outerjoin(month, and_(month.c.project_id == Project.id, current))
             .outerjoin(this_month, and_(this_month.project_id == Project.id, this_month.period == period,
                                         this_month.superseded_at.is_(None)))
             .outerjoin(town, and_(town.code == Project.primary_town_code, town.valid_to.is_(None)))
             .where(project_clause(report.scope), *report.filters.clauses(),
                    or_(Project.stage == "construction",
                        and_(Project.stage == "completed", extract("year", Project.actual_end) == report.year)))
             .order_by(Project.primary_town_code.nulls_last(), Project.code))
    rows = []
    for r in report.session.execute(query):
        reported, w = r.report_id is not None, float(r.weight or 0)
        cum = None if r.cum is None else r.cum * w
        rows.append({"code": r.code, "name": r.name, "domain": label(DOMAINS, r.domain_code),
                     "town": r.town_name, "owner": r.owner, "total_investment": r.total * w,
                     "increase": (cum - (r.before or 0) * w) if reported and cum is not None else None,
                     "completed_investment": cum,
                     "percent": None if r.percent is None else float(r.percent),
                     "stage": label(STAGES, r.stage), "note": r.note if reported else None})
    return rows


def _projects_sheet(sheet, report: ScheduleReport) -> dict:
    from openpyxl.styles import Font

    _header(sheet, PROJECT_HEADERS)
    rows = schedule_rows(report)
    for number, row in enumerate(rows, 1):
        append_xlsx_row(sheet, [number, *(row[k] for k in ("code", "name", "domain", "town", "owner")),
                                row["total_investment"], _money(row["increase"]), _money(row["completed_investment"]),
                                row["percent"], row["stage"], row["note"]])
    totals = {key: round(sum(r[key] or 0 for r in rows), 2)
              for key in ("total_investment", "increase", "completed_investment")}
    sheet.append(["合计", None, f"{len(rows)} 个项目", None, None, None, totals["total_investment"],
                  totals["increase"], totals["completed_investment"], None, None, None])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for column in MONEY_COLUMNS:
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            cell.number_format = "#,##0.00"
    _widths(sheet, (6, 26, 30, 12, 12, 24, 14, 16, 16, 12, 10, 40))
    return {"projects": len(rows), **totals}


def _missing_sheet(sheet, groups: list[dict]) -> None:
    _header(sheet, MISSING_HEADERS)
    number = 0
    for group in groups:
        for p in group["projects"]:
            number += 1
            append_xlsx_row(sheet, [number, group["town_name"], p["code"], p["name"], p["domain_label"],
                                    p["stage_label"], p["owner"], p["last_period"] or "从未上报"])
    if not number:
        sheet.append([None, "本月应报项目均已上报"])
    _widths(sheet, (6, 14, 26, 30, 12, 10, 24, 14))


def _header(sheet, headers) -> None:
    """A bold, shaded, wrapped header row, frozen so it stays in view."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    sheet.append(list(headers))
    thin = Side(style="thin", color="999999")
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
    sheet.freeze_panes = "A2"


def _widths(sheet, widths) -> None:
    from openpyxl.utils import get_column_letter
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width


def _money(value):
    return None if value is None else round(float(value), 2)
