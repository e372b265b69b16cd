"""Read the rows of an import spreadsheet: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) or XLSX.

Rows come out as ``(row_number, {key: text})`` with spreadsheet numbering (header = row 1) and the
template's English keys (see ``registry.template``); every value is text or ``None`` so that
``registry.validation`` sees CSV and XLSX alike.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from typing import Iterator

from registry.errors import ImportRejected
from registry.import_report import Problem
from registry.template import BY_KEY, map_headers, missing_columns

Row = tuple[int, dict[str, str | None]]
# One CSV field may hold a long WKT: 8 MiB is far beyond validation.MAX_VERTICES vertices
# (about 40 characters each), which stops a geometry with a clear row error first.
CSV_FIELD_LIMIT = 8 * 1024 * 1024


@dataclass
class Table:
    """A spreadsheet opened for reading: mapped header, header problems and a row iterator."""
    keys: list[str | None]
    rows: Iterator[Row]
    problems: list[Problem] = field(default_factory=list)
    total: int | None = None  # rows after the header, when cheaply known (for the progress bar)
    encoding: str | None = None


def read_table(data: bytes, *, filename: str = "", sheet: str | None = None) -> Table:
    """Open ``data`` (the whole file) as CSV or XLSX, chosen by content, not by name.

    Raises ``ImportRejected`` (Chinese message) for files that cannot be read, a missing sheet,
    an empty file or a header without 项目代码. Other required columns are required of rows for
    new codes only (DESIGN §9): a re-import may carry just the code and what it changes.
    """
    if data[:4] == b"PK\x03\x04":
        table = _read_xlsx(data, sheet)
    elif data[:4] == b"\xd0\xcf\x11\xe0":
        raise ImportRejected("不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV 后再导入")
    else:
        if filename.lower().endswith((".xlsx", ".xlsm")):
            raise ImportRejected(f"文件“{filename}”不是有效的 XLSX 文件")
        table = _read_csv(data)
    missing = [label for label in missing_columns(table.keys) if label == BY_KEY["code"].header]
    if missing:
        raise ImportRejected("表头缺少必填列：" + "、".join(missing) + "（表头须在第 1 行）",
                             details={"missing_columns": missing})
    return table


def _encoding(data: bytes) -> str:
    """The file's encoding; the decoded text is dropped at once (rows are decoded as they stream)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    # GB18030 is a superset of GBK and GB2312; try UTF-8 first since any bytes decode as GB18030
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise ImportRejected("无法识别 CSV 文件的编码（支持 UTF-8、GBK/GB18030）")


def _read_csv(data: bytes) -> Table:
    encoding = _encoding(data)
    # PostgreSQL text cannot hold NUL (bytes of UTF-16 are full of zeros: look at its text)
    if "\x00" in data.decode(encoding) if encoding == "utf-16" else b"\x00" in data:
        raise ImportRejected("文件含有空字符（NUL），不是可导入的文本 CSV（UTF-16 文件请带 BOM 保存，或另存为 UTF-8）")
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    # a text stream over the bytes, not one str of the whole file (plus io.StringIO's copy of it,
    # 4 bytes a character): ~150 MB less at 100 000 rows
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
    first_line = stream.readline()
    stream.seek(0)
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(stream, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise ImportRejected("文件是空的")
    keys, problems = map_headers(header)
    return Table(keys, _csv_rows(reader, keys), problems, total=data.count(b"\n"), encoding=encoding)


def _csv_rows(reader, keys: list[str | None]) -> Iterator[Row]:
    wanted = [(position, key) for position, key in enumerate(keys) if key]
    number = 1
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(cells):
                continue
            width = len(cells)
            yield number, {key: cells[position] if position < width else None for position, key in wanted}
    except csv.Error as exc:  # a field beyond CSV_FIELD_LIMIT, a broken quote
        raise ImportRejected(f"第 {number + 1} 行附近无法读取：{exc}（单个单元格最多 {CSV_FIELD_LIMIT} 个字符）") from exc


def _cell_text(value: object) -> str | None:
    """XLSX cell → text as people typed it: dates as ISO dates, 12.0 as 12, booleans as 是/否."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes, sheet: str | None) -> Table:
    from openpyxl import load_workbook

    try:
        # Read-only workbooks inflate sheets lazily: check every member's CRC now, so a damaged
        # file is refused here and not half-way through the rows.
        damaged = zipfile.ZipFile(io.BytesIO(data)).testzip()
        if damaged is not None:
            raise ImportRejected(f"XLSX 文件已损坏（{damaged} 校验失败），请重新保存后再导入")
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except ImportRejected:
        raise
    except Exception as exc:  # zipfile and openpyxl raise many kinds for damaged files
        raise ImportRejected(f"无法读取 XLSX 文件：{exc}") from exc
    if sheet is not None and sheet not in workbook.sheetnames:
        names = "、".join(workbook.sheetnames)
        workbook.close()
        raise ImportRejected(f"找不到工作表“{sheet}”（文件中有：{names}）")
    worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
    rows = worksheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        workbook.close()
        raise ImportRejected("工作表是空的")
    keys, problems = map_headers(list(header))
    total = worksheet.max_row - 1 if worksheet.max_row else None
    return Table(keys, _xlsx_rows(workbook, rows, keys), problems, total=total)


def _xlsx_rows(workbook, rows, keys: list[str | None]) -> Iterator[Row]:
    wanted = [(position, key) for position, key in enumerate(keys) if key]
    number = 1
    try:
        for number, cells in enumerate(rows, start=2):
            if not any(cell is not None and cell != "" for cell in cells):
                continue
            width = len(cells)
            yield number, {key: _cell_text(cells[position]) if position < width else None
                           for position, key in wanted}
    except Exception as exc:  # the sheet is parsed as rows are read: a damaged one fails here
        raise ImportRejected(f"XLSX 文件第 {number + 1} 行附近无法读取（{exc}），请在 Excel 中重新保存后再导入") from exc
    finally:
        workbook.close()
