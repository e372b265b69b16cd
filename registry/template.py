"""The import template (DESIGN §4): column headers, English keys, what is required, how to parse.

The columns are the declared fields' (``registry.fields``: a field's ``template`` cell, headed by
its label), the location's columns where the geometry is declared.

Spreadsheets arrive with Chinese headers (with or without the （万元） unit, full- or half-width
brackets, stray spaces) or with the English keys; ``map_headers`` turns any of them into keys.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from registry import fields
from registry.import_report import Problem


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # the Chinese header of the official template
    required: bool = False
    # how registry.validation parses the cell: text, money, number, date, list, flag or special
    parser: str = "text"
    aliases: tuple[str, ...] = ()


# Where the declaration has the geometry, the template has these: a point as 经度/纬度, any
# geometry as 几何WKT (in 坐标系, the next column: ``source_crs``).
LOCATION_COLUMNS: tuple[Column, ...] = (
    Column("lng", "经度", False, "special", ("longitude", "lon", "x")),
    Column("lat", "纬度", False, "special", ("latitude", "y")),
    Column("wkt", "几何WKT", False, "special", ("WKT", "几何", "geometry")),
)


def columns_of(declaration: fields.Declaration) -> tuple[Column, ...]:
    """The template's columns in the declaration's order (``registry.fields``)."""
    out: list[Column] = []
    for field in declaration.fields:
        if field.is_geometry:
            out.extend(LOCATION_COLUMNS)
        elif field.template is not None:
            cell = field.template
            out.append(Column(cell.key or field.name, field.label, cell.required, cell.parser, cell.aliases))
    return tuple(out)


COLUMNS: tuple[Column, ...] = columns_of(fields.PROJECT)

# Columns an import reads but a project does not store: why a row moves the stage backward
# (registry.lifecycle; audited with the import's entry). Not part of exports or forms.
IMPORT_ONLY_COLUMNS: tuple[Column, ...] = (
    Column("stage_reason", "变更原因", False, "text", ("阶段变更原因", "退回原因", "stage_reason")),
)

BY_KEY: dict[str, Column] = {column.key: column for column in COLUMNS}
_IMPORT_ONLY: dict[str, Column] = {column.key: column for column in IMPORT_ONLY_COLUMNS}
REQUIRED_KEYS = tuple(column.key for column in COLUMNS if column.required)
_BRACKETED = re.compile(r"[（(\[【].*?[）)\]】]")


def header_label(key: str) -> str:
    """The Chinese header for a key (the key itself for unknown keys)."""
    column = BY_KEY.get(key) or _IMPORT_ONLY.get(key)
    return column.header if column else key


def normalize_header(text: object) -> str:
    """Fold a header cell for lookup: no BOM, spaces or case; brackets made half-width."""
    folded = str(text or "").replace("\ufeff", "").strip().lower()
    folded = re.sub(r"\s+", "", folded)
    return folded.replace("（", "(").replace("）", ")")


def _lookup_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for column in (*COLUMNS, *IMPORT_ONLY_COLUMNS):
        for name in (column.key, column.header, *column.aliases):
            table[normalize_header(name)] = column.key
            # the unit in brackets is optional: 总投资 = 总投资（万元） = 总投资(万元)
            table[normalize_header(_BRACKETED.sub("", name))] = column.key
    return table


_LOOKUP = _lookup_table()
# Columns the CSV/XLSX export adds after the template's own (registry.exporting): re-importing an
# exported file ignores them without a warning.
FUNDING_CODES_HEADER = "资金来源代码"
EXPORT_ONLY_HEADERS = frozenset({FUNDING_CODES_HEADER})
# The header row of a CSV/XLSX export: the template's columns, then the funding codes.
EXPORT_HEADERS = [column.header for column in COLUMNS] + [FUNDING_CODES_HEADER]


def map_headers(headers: list[object]) -> tuple[list[str | None], list[Problem]]:
    """Keys for a header row (``None`` for ignored columns) and the header problems (row 1).

    Unknown and repeated columns are warnings; a missing required column raises nothing here:
    ``missing_columns`` says which ones are absent so the caller can refuse the file.
    """
    keys: list[str | None] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for position, header in enumerate(headers, start=1):
        folded = normalize_header(header)
        key = _LOOKUP.get(folded) or _LOOKUP.get(normalize_header(_BRACKETED.sub("", folded)))
        if not folded:
            keys.append(None)
            continue
        if key is None and str(header).strip() in EXPORT_ONLY_HEADERS:
            keys.append(None)  # written by the export beside the template columns; not input
            continue
        if key is None:
            problems.append(Problem(1, str(header), "unknown_column", "warning",
                                    f"第 {position} 列“{header}”不是模板中的列，已忽略"))
        elif key in seen:
            problems.append(Problem(1, str(header), "duplicate_column", "warning",
                                    f"第 {position} 列“{header}”与前面的列重复，已忽略"))
            key = None
        else:
            seen.add(key)
        keys.append(key)
    return keys, problems


def missing_columns(keys: list[str | None]) -> list[str]:
    """Chinese headers of the required columns absent from a mapped header row."""
    present = set(keys)
    missing = [BY_KEY[key].header for key in REQUIRED_KEYS if key not in present]
    if "wkt" not in present and not {"lng", "lat"} <= present:
        missing.append("经度、纬度 或 几何WKT")
    return missing
