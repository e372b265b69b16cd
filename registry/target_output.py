"""Plan-target reports for people: the targets sheet of a workbook (reused as sheet 1 of the
monthly 调度表) and a plain-text table for the terminal. JSON is ``Report.as_json``."""
from __future__ import annotations


from registry.cells import append_xlsx_row
from registry.target_report import Report, TargetResult
from registry.vocab import TARGET_LEVELS, TARGET_METRICS, TARGET_WINDOWS, label

SHEET_TITLE = "目标进度"
HEADERS = ("序号", "辖区", "目标编号", "目标", "指标", "单位", "目标值", "当前值", "完成进度", "时序进度要求",
           "状态", "截止日期", "统计口径", "分年度", "无日期项目", "单位不符项目", "无法计量项目",
           "层级", "区县目标合计", "区县完成合计", "区县合计说明")
WIDTHS = (6, 14, 22, 48, 14, 8, 10, 12, 10, 12, 10, 12, 8, 28, 10, 12, 12, 6, 12, 12, 30)


def targets_sheet(workbook, report: Report, *, index: int = 0):
    """Add the targets sheet to ``workbook`` (openpyxl, write-only or not) at ``index``: one row
    per target with value, threshold, progress, status. Text never becomes a formula. Returns it."""
    sheet = workbook.create_sheet(SHEET_TITLE, index)
    write_only = getattr(workbook, "write_only", False)
    if not write_only:
        sheet.freeze_panes = "A2"
        from openpyxl.utils import get_column_letter
        for i, width in enumerate(WIDTHS, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.append(list(HEADERS))
    for n, target in enumerate(report.targets, start=1):
        append_xlsx_row(sheet, _row(n, target))
    if not write_only:
        from openpyxl.styles import Font
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in sheet.iter_rows(min_row=2, min_col=9, max_col=10):
            for cell in row:
                cell.number_format = "0.0%"  # 完成进度, 时序进度要求
    return sheet


def _row(n: int, t: TargetResult) -> list:
    years = "；".join(f"{y}年 {v}" for y, v in (t.years or {}).items())
    return [n, t.jurisdiction_name, t.id, t.text, label(TARGET_METRICS, t.metric), t.unit or "",
            t.threshold, t.value, t.progress, _share(t.expected_progress), t.status_label, t.deadline.isoformat(),
            label(TARGET_WINDOWS, t.window), years, len(t.undated), len(t.unit_mismatch), len(t.unmeasured),
            *_level_cells(t)]


def _share(value: float | None) -> float | None:
    """A share shown as a percent with one decimal (66.7%): rounded to 0.001 in the cell too."""
    return None if value is None else round(value, 3)


def _level_cells(t: TargetResult) -> list:
    """层级 and the 区县合计 of a city's or province's target; blank for a district's or a zone's."""
    if t.level is None:
        return ["", None, None, ""]
    ds = t.district_sum
    return [label(TARGET_LEVELS, t.level), ds.threshold, ds.value, _sum_note(ds)]


def _sum_note(ds) -> str:
    """Why the 区县合计 is blank, or how many districts it covers."""
    if not ds.parts:
        return "各区县均无同口径目标"
    note = f"{len(ds.parts)}/{ds.of_districts} 个区县有同口径目标"
    if ds.reason:
        return f"{ds.reason_label}（{note}）"
    return note + (f"，{ds.without_value} 个尚无数值" if ds.without_value else "")


def as_text(report: Report) -> str:
    """One line per target: status, value / threshold unit, progress, deadline, id and text."""
    lines = [f"统计日期：{report.as_of.isoformat()}"]
    for t in report.targets:
        value = "—" if t.value is None else _number(t.value)
        progress = "—" if t.progress is None else f"{t.progress:.1%}"
        if t.expected_progress is not None:
            progress += f"，时序进度要求 {t.expected_progress:.1%}"
        unit = t.unit or ""
        years = "  " + "，".join(f"{y}年 {_number(v)}" for y, v in t.years.items()) if t.years else ""
        lines.append(f"[{t.status_label}] {t.jurisdiction_name} {t.id}：{value} / {_number(t.threshold)} {unit}"
                     f"（{progress}，截止 {t.deadline.isoformat()}）{t.text}{years}")
        problems = [f"{label} {len(items)} 个" for label, items in
                    (("无日期", t.undated), ("单位不符", t.unit_mismatch), ("无法计量", t.unmeasured)) if items]
        if problems:
            lines.append("    数据问题：" + "，".join(problems))
        if t.level is not None:
            ds = t.district_sum
            total = ("—" if ds.threshold is None else
                     f"{'—' if ds.value is None else _number(ds.value)} / {_number(ds.threshold)} {unit}")
            lines.append(f"    区县合计：{total}（{_sum_note(ds)}）")
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return f"{value:,.4f}".rstrip("0").rstrip(".")
