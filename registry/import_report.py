"""The import report (DESIGN §4): counts and one entry per problem, as JSON or as an XLSX sheet."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

from registry import fields
from registry.vocab import PROBLEM_KINDS

SEVERITY_LABELS = {"error": "错误", "warning": "警告"}
ACTION_LABELS = {"update": "更新", "restore": "恢复并更新"}
def kind_label(kind: str, language: str = "zh") -> str:
    """The label of a problem kind for people (the kind itself when it has none)."""
    labels = PROBLEM_KINDS.get(kind)
    if labels is None:
        return kind
    return labels[1] if language == "en" else labels[0]


def field_label(field: str) -> str:
    """The Chinese label of a project field (a database column name, as in the history)."""
    return fields.label(field)


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of one spreadsheet row (header = row 1; row 0 = the file as a whole).

    ``severity`` is ``error`` (the row is rejected) or ``warning`` (the row is kept).
    ``column`` is the template's Chinese header; ``kind`` is a stable English identifier.
    """
    row: int
    column: str | None
    kind: str
    severity: str
    message: str

    def to_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "kind": self.kind,
                "severity": self.severity, "message": self.message}


@dataclass
class ImportReport:
    """Outcome of one import; ``written`` is false for a dry run or a refused strict import."""
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    batch_id: int | None = None
    # per existing project a row changes: {"row", "code", "name", "action", "fields": [{"field",
    # "label", "before", "after"}]} (DESIGN §4: every field a re-import changes or clears)
    changes: list[dict] = field(default_factory=list)
    new_rows: list[dict] = field(default_factory=list)  # the first new rows: {"row", "code", "name"}
    # code → the version each row was validated against (None = new): what a confirmation expects
    versions: dict[str, int | None] = field(default_factory=dict)

    @property
    def clears(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "will_clear"]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def sort(self) -> None:
        """Order problems by row, errors before warnings, keeping each row's discovery order."""
        self.problems.sort(key=lambda p: (p.row, p.severity != "error"))

    def to_dict(self) -> dict:
        return {"imported": self.imported, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": self.rejected, "dry_run": self.dry_run, "written": self.written,
                "batch_id": self.batch_id, "problems": [p.to_dict() for p in self.problems],
                "changes": self.changes, "new_rows": self.new_rows}

    def summary(self) -> str:
        """One line in Chinese for people."""
        verb = "将" if not self.written else "已"
        clears = f"（其中清空已有值 {len(self.clears)} 处）" if self.clears else ""
        return (f"{verb}新增 {self.imported} 个、更新 {self.updated} 个、未变 {self.unchanged} 个项目；"
                f"拒绝 {self.rejected} 行；错误 {len(self.errors)} 条、警告 {len(self.warnings)} 条{clears}")

    def write_xlsx(self, target: str | BinaryIO) -> None:
        """Write the report as a workbook for people: a summary sheet and a problem list."""
        from openpyxl import Workbook
        from openpyxl.styles import Font

        from registry.cells import append_xlsx_row

        workbook = Workbook()
        summary = workbook.active
        summary.title = "汇总"
        for label, value in (("新增", self.imported), ("更新", self.updated), ("未变", self.unchanged),
                             ("拒绝行数", self.rejected), ("错误", len(self.errors)),
                             ("警告", len(self.warnings)), ("已写入", "是" if self.written else "否")):
            summary.append([label, value])
        sheet = workbook.create_sheet("问题清单")
        sheet.append(["行号", "列", "类型", "级别", "说明"])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for p in self.problems:
            # Columns and messages quote what the uploaded file said: never a formula (registry.cells).
            append_xlsx_row(sheet, [p.row, p.column, kind_label(p.kind), SEVERITY_LABELS.get(p.severity, p.severity),
                                    p.message])
        for letter, width in zip("ABCDE", (8, 18, 22, 8, 70)):
            sheet.column_dimensions[letter].width = width
        sheet.freeze_panes = "A2"
        changes = workbook.create_sheet("变更清单")
        changes.append(["行号", "项目代码", "项目名称", "操作", "字段", "原值", "新值"])
        for cell in changes[1]:
            cell.font = Font(bold=True)
        for entry in self.changes:
            for change in entry["fields"]:
                changes.append([entry["row"], entry["code"], entry["name"],
                                ACTION_LABELS.get(entry["action"], entry["action"]), change["label"],
                                shown(change["before"]), shown(change["after"])])
        changes.freeze_panes = "A2"
        workbook.save(target)


def shown(value) -> str | None:
    """A change-list value as text for people (lists joined, booleans as 是/否)."""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return None if value is None else str(value)
