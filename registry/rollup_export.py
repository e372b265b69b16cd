"""The roll-up's figures as a spreadsheet (CSV or XLSX): one row per district, then per city (on a
province's roll-up), then the total, with the columns of the page's tables. Audited like every
export."""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import IO

from sqlalchemy.orm import Session

from registry import audit
from registry.cells import append_xlsx_row, csv_row
from registry.errors import InvalidInput
from registry.filters import ProjectFilters
from registry.rollup import Jurisdiction, rollup
from registry.scope import Scope

FORMATS = ("csv", "xlsx")
HEADERS = ["层级", "代码", "名称", "所属市", "项目数", "计划总投资（万元）", "已完成投资（万元）", "完成率",
           "面积（km²）", "投资密度（万元/km²）"]


def figure_rows(figures: dict) -> list[list]:
    """The rows of ``registry.rollup.rollup``'s answer, districts first, the total last."""
    def line(kind: str, row: dict, city: str | None) -> list:
        return [kind, row["code"], row["name"], city, row["project_count"], row["total_investment"],
                row["completed_investment"], row["completion_rate"], row["area_km2"], row["density"]]
    rows = [line("区县", d, d["city_code"]) for d in figures["districts"]]
    rows += [line("市", c, c["code"]) for c in figures["cities"]]
    rows.append(line("合计", figures["totals"], None))
    return rows


def export_figures(session: Session, fmt: str, out: IO[bytes], *, scope: Scope, jurisdiction: Jurisdiction,
                   filters: ProjectFilters | None = None) -> None:
    """Write the roll-up of ``jurisdiction`` to ``out`` as ``fmt`` (csv: UTF-8 with BOM, for Excel),
    record the export in the audit log and commit it."""
    if fmt not in FORMATS:
        raise InvalidInput(f"不支持的导出格式：{fmt or '（未选择）'}（可用 {'、'.join(FORMATS)}）", {"format": fmt})
    figures = rollup(session, scope, jurisdiction, filters)
    rows = figure_rows(figures)
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(HEADERS)
        writer.writerows(csv_row(r) for r in rows)
        out.write(("\ufeff" + text.getvalue()).encode("utf-8"))
    else:
        from openpyxl import Workbook
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(f"{figures['name']}汇总"[:31])
        append_xlsx_row(sheet, HEADERS)
        for r in rows:
            append_xlsx_row(sheet, r)
        workbook.save(out)
    audit.record(session, actor=scope.actor, action="export", entity="rollup",
                 details={"format": fmt, "level": jurisdiction.level, "code": jurisdiction.code,
                          "districts": len(figures["districts"]),
                          "filters": {k: v for k, v in vars(filters or ProjectFilters()).items()
                                      if v and k != "year_of"}})
    session.commit()


def filename(jurisdiction: Jurisdiction, fmt: str, *, today: dt.date | None = None) -> str:
    """``山东省-37_汇总_2026-12-01.csv``."""
    return f"{jurisdiction.name}-{jurisdiction.code}_汇总_{(today or dt.date.today()).isoformat()}.{fmt}"


def ascii_filename(jurisdiction: Jurisdiction, fmt: str, *, today: dt.date | None = None) -> str:
    """The ASCII stand-in of ``filename``: ``rollup_province-37_2026-12-01.csv``."""
    return f"rollup_{jurisdiction.level}-{jurisdiction.code}_{(today or dt.date.today()).isoformat()}.{fmt}"
