"""Importing the departments' spreadsheets into 测试区 (the grid district of conftest)."""
from __future__ import annotations

import datetime as dt
import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from conftest import FIXTURES, insert_grid_district
from registry import importing
from registry.errors import ImportRejected, InvalidInput
from registry.importing import import_projects
from registry.models import AuditEntry, ImportBatch, Project, ProjectTown

IMPORTS = FIXTURES / "imports"
ALL_KINDS = IMPORTS / "all_kinds.csv"
# spreadsheet row → the problem kinds all_kinds.csv must produce there (header = row 1, row 30 blank)
EXPECTED_ERRORS = {
    5: "missing_code", 6: "bad_code", 7: "duplicate_code", 8: "missing_name", 9: "missing_geometry",
    10: "bad_wkt", 11: "swapped_coords", 12: "outside_jurisdiction", 13: "bad_number",
    14: "negative_investment", 15: "equip_gt_total", 16: "completed_gt_total", 17: "unknown_domain",
    18: "unknown_stage", 19: "completed_without_end", 20: "end_before_start", 21: "end_before_start",
    22: "bad_date", 26: "unknown_crs", 29: "bad_coordinates",
}
EXPECTED_WARNINGS = {23: "bad_credit_code", 24: "town_mismatch", 25: "unknown_town", 27: "missing_actual_start",
                     31: "bad_credit_code"}
KEPT_ROWS = {2, 3, 4, 23, 24, 25, 27, 28, 31}


def kinds_by_row(report, severity):
    found = defaultdict(set)
    for problem in report.problems:
        if problem.severity == severity:
            found[problem.row].add(problem.kind)
    return found


def project(db: Session, code: str) -> Project:
    return db.scalars(select(Project).where(Project.code == code)).one()


def registry_state(db: Session) -> list[tuple]:
    return db.execute(select(Project.code, Project.version, Project.updated_at, Project.primary_town_code)
                      .order_by(Project.code)).all()


def csv_bytes(*rows: str) -> bytes:
    header = "项目代码,项目名称,领域,建设单位,经度,纬度,几何WKT,总投资（万元）,项目阶段\n"
    return (header + "\n".join(rows) + "\n").encode()


def test_every_error_kind_is_reported_at_its_row(db, grid_district):
    report = import_projects(db, ALL_KINDS)
    errors = kinds_by_row(report, "error")
    assert {row: kinds for row, kinds in errors.items()} == {row: {kind} for row, kind in EXPECTED_ERRORS.items()}
    assert report.rejected == len(EXPECTED_ERRORS)
    assert all(p.message and p.column for p in report.errors)


def test_warnings_are_reported_and_their_rows_kept(db, grid_district):
    report = import_projects(db, ALL_KINDS)
    warnings = kinds_by_row(report, "warning")
    for row, kind in EXPECTED_WARNINGS.items():
        assert kind in warnings[row]
    assert report.imported == len(KEPT_ROWS)
    assert db.scalar(select(func.count()).select_from(Project)) == len(KEPT_ROWS)
    assert project(db, "2024-370499-42-01-000240").primary_town_code == "370499002"  # geometry wins
    assert project(db, "2024-370499-42-01-000230").credit_code == "91370403628194824A"


def test_rows_carry_towns_shares_and_geodesic_measures(db, grid_district):
    import_projects(db, ALL_KINDS)
    line = project(db, "2024-370499-44-03-000020")
    shares = dict(db.execute(select(ProjectTown.town_code, ProjectTown.share)
                             .where(ProjectTown.project_id == line.id)).all())
    assert shares == pytest.approx({"370499001": 0.5, "370499002": 0.5}, abs=1e-6)
    assert line.length_km == pytest.approx(9.12, abs=0.02) and line.area_km2 is None
    polygon = project(db, "2025-370499-01-02-000030")
    assert polygon.primary_town_code == "370499003" and polygon.area_km2 == pytest.approx(4.0, rel=0.03)
    point = project(db, "2024-370499-42-01-000010")
    assert point.primary_town_code == "370499001" and point.length_km is None and point.area_km2 is None
    assert point.funding == ["ultra_long_bonds"] and point.is_key and point.source_crs == "WGS84"


def test_cells_are_cleaned_and_parsed(db, grid_district):
    import_projects(db, ALL_KINDS)
    row28 = project(db, "2024-370499-42-01-000280")
    assert row28.name == "=SUM(A1)"
    assert row28.total_investment == Decimal("1234.50") and row28.quantity == Decimal("1234.500")
    assert row28.funding == ["ultra_long_bonds", "bank_loan"] and row28.responsible_units == ["乙镇", "丙镇"]
    assert row28.planned_start == row28.planned_end == dt.date(2024, 3, 15)
    assert row28.actual_end == dt.date(2024, 6, 30) and row28.is_key
    assert row28.declared_town == "370499002000" and row28.primary_town_code == "370499002"


def test_gbk_and_bom_csv_are_decoded(db, grid_district):
    gbk = import_projects(db, IMPORTS / "gbk.csv")
    bom = import_projects(db, IMPORTS / "bom.csv")
    assert (gbk.imported, gbk.rejected, bom.imported, bom.rejected) == (2, 0, 2, 0)
    assert project(db, "2024-370499-42-01-000510").name == "乙镇锅炉改造（国标编码）"
    assert project(db, "2024-370499-42-01-000610").owner == "甲街道物业"


def test_english_headers_and_per_row_and_default_crs(db, grid_district):
    report = import_projects(db, IMPORTS / "crs_english.csv", default_crs="GCJ02")
    assert report.imported == 3 and not report.errors
    expected = {"000410": (117.15, 35.05, "GCJ02"), "000420": (117.25, 35.05, "BD09"),
                "000430": (117.05, 35.02, "GCJ02")}
    for suffix, (lng, lat, crs) in expected.items():
        code = f"2024-370499-42-01-{suffix}"
        x, y, source = db.execute(text("SELECT ST_X(geom), ST_Y(geom), source_crs FROM projects WHERE code = :c"),
                                  {"c": code}).one()
        assert (x, y) == pytest.approx((lng, lat), abs=1e-7) and source == crs


def workbook_bytes(first_sheet_title: str = "项目") -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = first_sheet_title
    sheet.append(["项目代码", "项目名称", "领域", "建设单位", "经度", "纬度", "总投资（万元）", "项目阶段",
                  "实际开工", "重点项目"])
    sheet.append(["2024-370499-42-01-000710", "乙镇农机更新", "农业", "合作社", 117.15, 35.05, 80, "在建",
                  dt.datetime(2024, 5, 6), "是"])
    sheet.append(["2024-370499-42-01-000720", "丙镇冷链", "农业", "合作社", 117.25, 35.05, "三十", "谋划储备",
                  None, None])
    other = workbook.create_sheet("说明")
    other.append(["本表为说明"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_with_typed_cells(db, grid_district):
    report = import_projects(db, io.BytesIO(workbook_bytes()), filename="projects.xlsx")
    assert report.imported == 1 and kinds_by_row(report, "error") == {3: {"bad_number"}}
    row = project(db, "2024-370499-42-01-000710")
    assert row.actual_start == dt.date(2024, 5, 6) and row.total_investment == Decimal("80.00") and row.is_key


def test_xlsx_named_sheet_and_a_missing_one(db, grid_district):
    db.commit()  # the refused imports roll the session back: keep the district
    data = workbook_bytes()
    with pytest.raises(ImportRejected, match="找不到工作表"):
        import_projects(db, io.BytesIO(data), filename="p.xlsx", sheet="项目库")
    with pytest.raises(ImportRejected, match="表头缺少必填列"):
        import_projects(db, io.BytesIO(data), filename="p.xlsx", sheet="说明")
    assert import_projects(db, io.BytesIO(data), filename="p.xlsx", sheet="项目").imported == 1


def test_dry_run_reports_everything_and_writes_nothing(db, grid_district):
    report = import_projects(db, ALL_KINDS, dry_run=True)
    assert report.imported == len(KEPT_ROWS) and report.rejected == len(EXPECTED_ERRORS)
    assert "town_mismatch" in kinds_by_row(report, "warning")[24]
    assert not report.written and report.batch_id is None
    assert db.scalar(select(func.count()).select_from(Project)) == 0
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_strict_writes_nothing_when_any_row_has_an_error(db, grid_district):
    report = import_projects(db, ALL_KINDS, strict=True)
    assert not report.written and report.rejected == len(EXPECTED_ERRORS) and report.imported == 0
    assert db.scalar(select(func.count()).select_from(Project)) == 0


def test_strict_writes_a_clean_file(db, grid_district):
    report = import_projects(db, IMPORTS / "bom.csv", strict=True)
    assert report.written and report.imported == 2


def test_a_failure_in_the_middle_leaves_the_registry_unchanged(db, grid_district, monkeypatch):
    import_projects(db, IMPORTS / "bom.csv")
    before = registry_state(db)

    def broken_matching(session, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importing, "match_staged", broken_matching)
    with pytest.raises(RuntimeError):
        import_projects(db, ALL_KINDS)
    assert registry_state(db) == before
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 1


def test_importing_the_same_file_twice_changes_nothing(db, grid_district):
    first = import_projects(db, ALL_KINDS)
    before = registry_state(db)
    second = import_projects(db, ALL_KINDS)
    assert (second.imported, second.updated, second.unchanged) == (0, 0, first.imported)
    assert registry_state(db) == before
    assert {p.kind for p in second.warnings} == {p.kind for p in first.warnings}


def test_reimport_updates_changed_rows_by_code(db, grid_district):
    import_projects(db, csv_bytes_file("2024-370499-42-01-000810,旧名称,工业,甲公司,117.05,35.05,,100,谋划储备",
                                       "2024-370499-42-01-000820,不变,工业,甲公司,117.15,35.05,,100,谋划储备"))
    report = import_projects(db, csv_bytes_file(
        "2024-370499-42-01-000810,新名称,工业,甲公司,117.25,35.05,,120,谋划储备",
        "2024-370499-42-01-000820,不变,工业,甲公司,117.15,35.05,,100,谋划储备"))
    assert (report.imported, report.updated, report.unchanged) == (0, 1, 1)
    changed, same = project(db, "2024-370499-42-01-000810"), project(db, "2024-370499-42-01-000820")
    assert (changed.name, changed.version, changed.primary_town_code) == ("新名称", 2, "370499003")
    assert same.version == 1 and changed.import_batch_id == report.batch_id != same.import_batch_id
    shares = {(code, share) for code, share in db.execute(
        select(Project.code, ProjectTown.town_code).join(ProjectTown, ProjectTown.project_id == Project.id))}
    # the changed row's old town share is replaced, the unchanged row keeps its own
    assert shares == {("2024-370499-42-01-000810", "370499003"), ("2024-370499-42-01-000820", "370499002")}


def csv_bytes_file(*rows: str) -> io.BytesIO:
    return io.BytesIO(csv_bytes(*rows))


def test_swapped_coordinates_found_by_flipping_in_sql(db, grid_district):
    # a district west of 90°E, where swapped lng/lat are both in range: only the flip test sees it
    db.execute(text("""INSERT INTO districts (code, name, geom) VALUES
                       ('659999', '西部测试区', ST_Multi(ST_MakeEnvelope(80.0, 40.0, 80.1, 40.1, 4326)))"""))
    db.execute(text("""INSERT INTO towns (district_code, code, name, geom, area_km2) VALUES
                       ('659999', '659999001', '西镇', ST_Multi(ST_MakeEnvelope(80.0, 40.0, 80.1, 40.1, 4326)), 1)"""))
    report = import_projects(db, csv_bytes_file("2024-659999-42-01-000910,填反,工业,公司,40.05,80.05,,10,谋划储备",
                                                "2024-659999-42-01-000920,区外,工业,公司,81.05,40.05,,10,谋划储备",
                                                "2024-659999-42-01-000930,正常,工业,公司,80.05,40.05,,10,谋划储备"),
                             filename="west.csv", district_code="659999")
    assert kinds_by_row(report, "error") == {2: {"swapped_coords"}, 3: {"outside_jurisdiction"}}
    assert "经纬度可能填反了" in report.errors[0].message
    assert report.imported == 1 and project(db, "2024-659999-42-01-000930").primary_town_code == "659999001"


def test_batch_and_audit_entry_record_the_import(db, grid_district):
    report = import_projects(db, ALL_KINDS, actor="registrar")
    batch = db.get(ImportBatch, report.batch_id)
    assert (batch.filename, batch.imported, batch.rejected, batch.created_by) == \
        ("all_kinds.csv", len(KEPT_ROWS), len(EXPECTED_ERRORS), "registrar")
    assert len(batch.sha256) == 64 and batch.report["problems"]
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "import",
                                                AuditEntry.entity == "import_batch")).one()
    assert entry.actor == "registrar" and entry.entity_id == str(batch.id)
    assert entry.details["filename"] == "all_kinds.csv" and entry.details["sha256"] == batch.sha256
    assert entry.details["imported"] == len(KEPT_ROWS) and entry.details["rejected"] == len(EXPECTED_ERRORS)


def project_entries(db: Session) -> list[AuditEntry]:
    return db.scalars(select(AuditEntry).where(AuditEntry.action == "import", AuditEntry.entity == "project")
                      .order_by(AuditEntry.id)).all()


def test_each_new_project_gets_an_audit_entry_with_its_values(db, grid_district):
    report = import_projects(db, csv_bytes_file("2024-370499-42-01-000710,一号,工业,甲公司,117.05,35.05,,100,谋划储备",
                                                "2024-370499-42-01-000720,二号,工业,乙公司,117.15,35.05,,80.5,谋划储备"),
                             filename="new.csv", actor="registrar")
    entries = project_entries(db)
    first, second = project(db, "2024-370499-42-01-000710"), project(db, "2024-370499-42-01-000720")
    assert [e.entity_id for e in entries] == [str(first.id), str(second.id)]
    assert all(e.before is None and e.actor == "registrar" and e.district_code == "370499" for e in entries)
    assert [e.details for e in entries] == [{"batch_id": report.batch_id, "filename": "new.csv", "row": row}
                                            for row in (2, 3)]
    after = entries[1].after
    assert (after["code"], after["name"], after["owner"], after["total_investment"]) == \
        ("2024-370499-42-01-000720", "二号", "乙公司", 80.5)
    assert after["primary_town_code"] == "370499002" and after["geometry"].startswith("POINT")


def test_reimport_audits_the_changed_field_only_and_unchanged_rows_not_at_all(db, grid_district):
    from registry.progress import history
    from registry.scope import Scope
    rows = ["2024-370499-42-01-000730,旧名称,工业,甲公司,117.05,35.05,,100,谋划储备",
            "2024-370499-42-01-000740,不变,工业,甲公司,117.15,35.05,,100,谋划储备"]
    import_projects(db, csv_bytes_file(*rows))
    assert len(project_entries(db)) == 2
    rows[0] = rows[0].replace("旧名称", "新名称")
    report = import_projects(db, csv_bytes_file(*rows), filename="second.csv", actor="editor")
    changed = project(db, "2024-370499-42-01-000730")
    [entry] = project_entries(db)[2:]
    assert (entry.entity_id, entry.actor, entry.before, entry.after) == \
        (str(changed.id), "editor", {"name": "旧名称"}, {"name": "新名称"})
    assert entry.details == {"batch_id": report.batch_id, "filename": "second.csv", "row": 2}
    import_projects(db, csv_bytes_file(*rows))
    assert len(project_entries(db)) == 3
    # the project's history shows both imports like edits, newest first
    entries = history(db, changed.id, scope=Scope(actor="boss", role="bureau"))
    assert [(e["action"], e["action_label"], e["actor"]) for e in entries] == \
        [("import", "导入", "editor"), ("import", "导入", "cli")]
    assert entries[0]["changes"] == [{"field": "name", "label": "项目名称", "before": "旧名称", "after": "新名称"}]
    assert entries[0]["details"]["filename"] == "second.csv"
    assert {"field": "name", "label": "项目名称", "before": None, "after": "旧名称"} in entries[1]["changes"]


def test_a_file_without_the_code_column_is_refused(db, grid_district):
    with pytest.raises(ImportRejected, match="项目代码"):
        import_projects(db, io.BytesIO("项目名称,领域,建设单位,经度,纬度,总投资,项目阶段\n".encode()), filename="x.csv")


def test_new_codes_in_a_file_without_required_columns_are_row_errors(db, grid_district):
    report = import_projects(db, io.BytesIO("项目代码,项目名称,领域,建设单位,经度,纬度,总投资\n"
                                            "2024-370499-42-01-000990,新项目,工业,公司,117.05,35.05,10\n".encode()),
                             filename="x.csv")
    assert report.rejected == 1 and kinds_by_row(report, "error") == {2: {"missing_value"}}
    assert report.errors[0].column == "项目阶段"


def test_importing_before_boundaries_are_loaded_says_so(db):
    with pytest.raises(InvalidInput, match="请先加载行政区划边界"):
        import_projects(db, IMPORTS / "bom.csv")


def test_report_as_dict_and_as_workbook(db, grid_district, tmp_path):
    report = import_projects(db, ALL_KINDS)
    data = report.to_dict()
    assert {"imported", "updated", "rejected", "problems"} <= set(data)
    assert set(data["problems"][0]) == {"row", "column", "kind", "severity", "message"}
    report.write_xlsx(tmp_path / "r.xlsx")
    sheet = load_workbook(tmp_path / "r.xlsx")["问题清单"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == len(report.problems) and (11, "纬度", "经纬度填反", "错误") == rows[
        [r[0] for r in rows].index(11)][:4]


@pytest.fixture
def committed_grid(committed, engine):
    with Session(engine) as session:
        insert_grid_district(session)
        session.commit()
    return committed


def run_cli(*args: str):
    from web.cli import main
    return CliRunner().invoke(main, ["projects", "import", *args], catch_exceptions=False)


def test_cli_exits_0_for_a_clean_file_and_1_with_rejected_rows(committed_grid, engine, tmp_path):
    clean = run_cli(str(IMPORTS / "bom.csv"))
    assert clean.exit_code == 0, clean.output
    assert "已新增 2 个" in clean.output
    report_path = tmp_path / "r.json"
    mixed = run_cli(str(ALL_KINDS), "--report", str(report_path))
    assert mixed.exit_code == 1
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["rejected"] == len(EXPECTED_ERRORS) and report["imported"] == len(KEPT_ROWS)
    assert {(p["row"], p["kind"]) for p in report["problems"]} >= set(EXPECTED_ERRORS.items())
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Project)) == 2 + len(KEPT_ROWS)


def test_cli_dry_run_strict_and_xlsx_report(committed_grid, engine, tmp_path):
    dry = run_cli(str(ALL_KINDS), "--dry-run", "--report", str(tmp_path / "r.xlsx"))
    strict = run_cli(str(ALL_KINDS), "--strict")
    assert (dry.exit_code, strict.exit_code) == (1, 1)
    assert "未写入" in dry.output and "未写入" in strict.output
    assert load_workbook(tmp_path / "r.xlsx")["汇总"]["B4"].value == len(EXPECTED_ERRORS)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Project)) == 0


def test_cli_rejects_an_unknown_crs_as_a_usage_error(committed_grid):
    assert run_cli(str(IMPORTS / "bom.csv"), "--crs", "火星").exit_code == 2


def test_cli_reports_an_unreadable_file_in_chinese(committed_grid, tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    result = CliRunner().invoke(__import__("web.cli", fromlist=["main"]).main,
                                ["projects", "import", str(path)])
    assert result.exit_code == 1 and "不支持旧版 .xls" in result.output
