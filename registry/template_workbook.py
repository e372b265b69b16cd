"""The import template as a workbook for departments (DESIGN §4): the template's headers with a
note (cell comment) on each, and drop-down lists for 领域, 项目阶段 and 坐标系."""
from __future__ import annotations

from typing import BinaryIO

from registry.template import COLUMNS
from registry.vocab import CRS_NAMES, STAGES

ROWS_WITH_LISTS = 2000  # drop-downs cover this many data rows
NOTES = {
    "code": "投资项目统一代码，24 位，如 2024-370403-42-01-00234X；库中唯一，重复导入按代码更新",
    "domain": "从下拉列表选择", "stage": "从下拉列表选择；在建须填实际开工，竣工投产须填实际开工与实际竣工",
    "credit_code": "18 位统一社会信用代码；校验位不符只提示，不拒绝",
    "town": "镇街名称或 9 位代码；与位置不符时以位置为准",
    "lng": "经度（点位）；与纬度成对填写，或改填几何WKT", "lat": "纬度（点位）",
    "wkt": "线、面项目填 WKT，如 LINESTRING(117.1 35.0, 117.2 35.0)",
    "crs": "从下拉列表选择；空白 = WGS84。高德/腾讯为 GCJ02，百度为 BD09",
    "total_investment": "万元，≥ 0", "equipment_investment": "万元，不大于总投资",
    "completed_investment": "万元，不大于总投资", "funding": "可多选，用；或、分隔",
    "planned_start": "YYYY-MM 或 YYYY-MM-DD", "planned_end": "YYYY-MM 或 YYYY-MM-DD，不早于计划开工",
    "actual_start": "YYYY-MM-DD", "actual_end": "YYYY-MM-DD，不早于实际开工",
    "responsible_units": "可多个，用；或、分隔", "is_key": "是 / 否", "quantity": "如 53（台）",
}


def write_template_xlsx(out: str | BinaryIO, *, domain_labels: list[str]) -> None:
    """Write the empty template: bold headers (required ones marked *), notes, drop-downs.

    ``domain_labels`` are the Chinese names of the active domains (admins may add domains).
    """
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "项目"
    lists = workbook.create_sheet("选项")
    choices = {"domain": domain_labels, "stage": [zh for zh, _ in STAGES.values()], "crs": list(CRS_NAMES)}
    for position, (key, values) in enumerate(choices.items(), start=1):
        letter = get_column_letter(position)
        lists.cell(row=1, column=position, value={"domain": "领域", "stage": "项目阶段", "crs": "坐标系"}[key])
        for row, value in enumerate(values, start=2):
            lists.cell(row=row, column=position, value=value)
        choices[key] = f"'选项'!${letter}$2:${letter}${len(values) + 1}"
    for position, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=position, value=column.header)
        cell.font = Font(bold=True, color="C00000" if column.required else "000000")
        cell.fill = PatternFill("solid", fgColor="FFF2CC" if column.required else "F2F2F2")
        note = ("必填。" if column.required else "选填。") + NOTES.get(column.key, "")
        cell.comment = Comment(note, "设备更新项目库", width=260, height=90)
        letter = get_column_letter(position)
        sheet.column_dimensions[letter].width = max(10, min(28, len(column.header) * 2 + 4))
        if column.key in choices:
            validation = DataValidation(type="list", formula1=choices[column.key], allow_blank=True,
                                        showErrorMessage=True, errorTitle=column.header,
                                        error=f"请从下拉列表中选择{column.header}")
            validation.add(f"{letter}2:{letter}{ROWS_WITH_LISTS + 1}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"
    workbook.save(out)
